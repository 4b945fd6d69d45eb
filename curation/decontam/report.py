"""`OUT/decontamination.json`: what every task removed, per benchmark.

Each task of the decontaminate step keeps a `TaskReport` and writes it to
`work/decontaminate/{rank:05d}.json` (temp + rename) when it finishes; the driver merges the
files into one report with `write_report`, so no task writes a shared file.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

EXAMPLES = 20  # document ids kept per benchmark


@dataclass
class BenchmarkTally:
    items: dict[str, int] = field(default_factory=dict)  # item id -> documents that matched it
    documents: int = 0
    dropped: int = 0
    cut: int = 0
    chars_removed: int = 0
    code_tokens_removed: int = 0
    examples: list[str] = field(default_factory=list)


@dataclass
class TaskReport:
    benchmarks: dict[str, BenchmarkTally] = field(default_factory=dict)
    documents_checked: int = 0

    def add(self, *, doc_id: str, items: list[tuple[str, str]], action: str, chars: int, tokens: int) -> None:
        """One affected document: its matched (benchmark, item id) pairs and what was removed. The
        removal counts go to every benchmark it matched (so they may add up to more than the total)."""
        for bench in dict.fromkeys(b for b, _ in items):
            tally = self.benchmarks.setdefault(bench, BenchmarkTally())
            tally.documents += 1
            setattr(tally, action, getattr(tally, action) + 1)
            tally.chars_removed += chars
            tally.code_tokens_removed += tokens
            if len(tally.examples) < EXAMPLES:
                tally.examples.append(doc_id)
        for bench, item in dict.fromkeys(items):
            tally = self.benchmarks[bench]
            tally.items[item] = tally.items.get(item, 0) + 1

    def to_json(self) -> dict:
        return {"documents_checked": self.documents_checked,
                "benchmarks": {b: vars(t) for b, t in sorted(self.benchmarks.items())}}

    def write(self, folder: str | Path, rank: int) -> Path:
        return write_json_atomic(Path(folder) / f"{rank:05d}.json", self.to_json())


def write_json_atomic(path: Path, data: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)
    return path


def merge_reports(paths: list[Path]) -> dict:
    merged: dict[str, dict] = {}
    checked = 0
    for path in sorted(paths):
        data = json.loads(Path(path).read_text())
        checked += data["documents_checked"]
        for bench, t in data["benchmarks"].items():
            m = merged.setdefault(bench, {"items": {}, "documents": 0, "dropped": 0, "cut": 0, "chars_removed": 0,
                                          "code_tokens_removed": 0, "examples": []})
            for item, count in t["items"].items():
                m["items"][item] = m["items"].get(item, 0) + count
            for key in ("documents", "dropped", "cut", "chars_removed", "code_tokens_removed"):
                m[key] += t[key]
            m["examples"] = (m["examples"] + t["examples"])[:EXAMPLES]
    for m in merged.values():
        m["items_matched"] = len(m["items"])
    return {"documents_checked": checked, "benchmarks": dict(sorted(merged.items()))}


def write_report(task_folder: str | Path, out_path: str | Path, *, tasks: int | None = None,
                 index_summary: dict | None = None) -> dict:
    """Merges the tasks' files into `out_path` (e.g. OUT/decontamination.json). With `tasks`, a
    missing task file is an error naming the task (its step did not finish)."""
    folder = Path(task_folder)
    paths = sorted(folder.glob("[0-9]*.json"))
    if tasks is not None:
        missing = [r for r in range(tasks) if not (folder / f"{r:05d}.json").exists()]
        if missing:
            raise RuntimeError(f"{folder}: no decontamination report for task(s) {missing}")
    report = merge_reports(paths)
    if index_summary is not None:
        report["index"] = index_summary
    write_json_atomic(Path(out_path), report)
    return report
