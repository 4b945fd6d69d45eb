"""Every path of one output folder (DESIGN.md, "Output folder"), from one root."""

from __future__ import annotations

from pathlib import Path


class Layout:
    def __init__(self, out: str | Path):
        self.out = o = Path(out).resolve()
        self.docs, self.removed, self.dedup, self.tokens = o / "docs", o / "removed", o / "dedup", o / "tokens"
        self.shards, self.stats, self.logs, self.work = o / "shards", o / "stats", o / "logs", o / "work"
        self.filtered = self.work / "filtered"
        # the tokenize split (curation.split) and the bytes each tokenize task reads (its progress)
        self.split_plan, self.split_totals = self.work / "tokenize_split.json", self.work / "tokenize_totals.json"
        self.near = self.dedup / "near"
        self.exact = self.dedup / "exact"
        self.run_file = o / "run.json"
        self.plan_file = o / "plan.json"

    def removed_step(self, step: str) -> Path:
        return self.removed / step
