"""The decontaminate step: every document against the benchmark index, dropped or cut per config.

One step, one job: remove benchmark content. The match is decided by the pure `find_matches`;
this class only applies the configured action, so drop and cut share the index, the report and
`removed/decontaminate/`. With `action: cut` a document keeps its text outside the matched spans
(widened by the margin, to whole lines); it is still dropped, with the same reason, when what is
left is shorter than `min_keep_chars`, or when it arrives already tokenized (a repository
document from the assembler: its ids cannot be cut with its text), or when it is a SWE task of
a benchmark repository (there is no span to cut).

Reasons are `benchmark:<name>` (the first match's benchmark); `detail` lists the matches: item
id, field, kind, n-grams found / kept, char span. Every passing document gets the columns
`decontam_matches` (items matched, 0 for almost all) and `decontam_cut_chars`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from datatrove.data import Document

from curation.config.decontam import DecontaminateConfig
from curation.decontam.benchmarks import load_benchmarks
from curation.decontam.cache import cached_index, index_key
from curation.decontam.index import BenchmarkIndex
from curation.decontam.match import MatchSettings, apply_cuts, cut_spans, find_matches
from curation.decontam.report import TaskReport, write_report
from curation.decontam.swebench import SweGuard
from curation.decontam.tokens import tokenize
from curation.schema import resolve_path
from curation.steps import DropStep

STEP = "decontaminate"
INDEX_FILE = "decontam_index.npz"
REPORT_DIR = "decontaminate"  # under work/: one report file per task
DETAIL_MATCHES = 5


def build_index(cfg: DecontaminateConfig, *, benchmarks_dir: Path | None, base: Path | None = None) -> BenchmarkIndex:
    items, notes = load_benchmarks(cfg, benchmarks_dir, base)
    return BenchmarkIndex.build(items, notes=notes, **_build_params(cfg))


def _build_params(cfg: DecontaminateConfig) -> dict:
    return dict(n=cfg.n, short_n=min(cfg.short_n, cfg.n), fields=cfg.fields, max_item_frequency=cfg.max_item_frequency,
                swe_benchmarks=sorted({b.name for b in cfg.extra if b.swe}))


def prepare_index(cfg: DecontaminateConfig, work_dir: str | Path, *, config_path: str | Path | None = None) -> Path:
    """The driver's part: the index under work/ (atomically), from the cache when the same benchmarks,
    settings and code built it before (`curation.decontam.cache`)."""
    base = Path(config_path).resolve().parent if config_path else Path.cwd()
    bench_dir = None
    if cfg.benchmarks_dir:
        bench_dir = resolve_path(cfg.benchmarks_dir, config_path) if config_path else Path(cfg.benchmarks_dir)
    path = Path(work_dir) / INDEX_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    items, notes = load_benchmarks(cfg, bench_dir, base)
    params = _build_params(cfg)
    cached_index(path, index_key(items, notes, params), lambda: BenchmarkIndex.build(items, notes=notes, **params))
    return path


class Decontaminate(DropStep):
    step = STEP
    prepare_ahead = True  # the index comes from the benchmarks alone: built while ingest runs
    columns = {"decontam_matches": "int64", "decontam_cut_chars": "int64", "decontam_items": "list<string>"}

    def __init__(self, *, removed_folder: str, index_path: str, report_folder: str, action: str = "drop",
                 margin_chars: int = 100, min_keep_chars: int = 200, kinds: list[str] | None = None,
                 settings: dict | None = None, swe_git_dirs: dict[str, str] | None = None,
                 swe_unknown_order: str = "drop", config: DecontaminateConfig | None = None,
                 config_path: str | None = None, report_path: str | None = None):
        """config/config_path: to build the index in `prepare()` (driver side) when it is missing;
        report_path: where `finish()` merges the per-task reports (OUT/decontamination.json)."""
        if action not in ("drop", "cut"):
            raise ValueError(f"decontaminate.action: {action!r}: expected drop or cut")
        super().__init__(removed_folder=removed_folder)
        self.config, self.config_path, self.report_path = config, config_path, report_path
        self.index_path = index_path
        self.report_folder = report_folder
        self.action = action
        self.margin_chars = margin_chars
        self.min_keep_chars = min_keep_chars
        self.kinds = set(kinds) if kinds else None
        self.settings = MatchSettings(**(settings or {}))
        self.swe_git_dirs = dict(swe_git_dirs or {})
        self.swe_unknown_order = swe_unknown_order
        self._index: BenchmarkIndex | None = None
        self._guard: SweGuard | None = None
        self.report = TaskReport()

    @classmethod
    def from_config(cls, ctx) -> Decontaminate | None:
        cfg = ctx.config.decontaminate
        if not cfg.enabled:
            return None
        return cls(removed_folder=str(ctx.layout.removed), index_path=str(Path(ctx.layout.work) / INDEX_FILE),
                   report_folder=str(Path(ctx.layout.work) / REPORT_DIR), action=cfg.action,
                   margin_chars=cfg.margin_chars, min_keep_chars=cfg.min_keep_chars, kinds=cfg.kinds,
                   settings=settings_of(cfg), swe_git_dirs=cfg.swe_git_dirs,
                   swe_unknown_order=cfg.swe_unknown_order, config=cfg, config_path=str(ctx.pipeline.path),
                   report_path=str(ctx.layout.out / "decontamination.json"))

    def doc_columns(self) -> dict[str, str]:
        return dict(self.columns)

    def prepare(self) -> None:
        """The benchmark index, built once by the driver (a resumed run keeps the one it used)."""
        if self.config is not None and not Path(self.index_path).exists():
            prepare_index(self.config, Path(self.index_path).parent, config_path=self.config_path)

    def finish(self, tasks: int) -> None:
        """OUT/decontamination.json from every task's report, once the run is complete."""
        if self.report_path:
            write_report(self.report_folder, self.report_path, tasks=tasks,
                         index_summary=BenchmarkIndex.load(self.index_path).summary())

    def __getstate__(self):
        # executors pickle the step for every task: ship the index path, never the loaded index
        return {**self.__dict__, "_index": None, "_guard": None}

    @property
    def index(self) -> BenchmarkIndex:
        if self._index is None:
            self._index = BenchmarkIndex.load(self.index_path)
            self._guard = SweGuard(self._index.swe, git_dirs=self.swe_git_dirs, unknown_order=self.swe_unknown_order)
        return self._index

    def run(self, data, rank: int = 0, world_size: int = 1):
        self.report = TaskReport()
        yield from super().run(data, rank, world_size)
        self.report.write(self.report_folder, rank)  # only when the whole input went through

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        meta = doc.metadata
        meta["decontam_matches"], meta["decontam_cut_chars"], meta["decontam_items"] = 0, 0, []
        if self.kinds is not None and meta.get("kind") not in self.kinds:
            return True
        index = self.index
        self.report.documents_checked += 1
        swe = self._guard.check(meta)
        if swe is not None:
            self.stat_update("swe_repository")
            return self._drop(doc, [(swe.benchmark, swe.item_id)], swe.detail, len(doc.text), None)
        found_tokens: list = []
        matches = find_matches(index, doc.text, self.settings, tokens_out=found_tokens)
        if not matches:
            return True
        tokens = found_tokens[0]
        items = list(dict.fromkeys((m.benchmark, m.item_id) for m in matches))
        detail = "; ".join(m.describe() for m in matches[:DETAIL_MATCHES])
        if len(matches) > DETAIL_MATCHES:
            detail += f"; +{len(matches) - DETAIL_MATCHES} more"
        if self.action == "drop":
            return self._drop(doc, items, detail, len(doc.text), len(tokens))
        if "token_ids" in meta:
            return self._drop(doc, items, detail + "; already tokenized, cannot cut", len(doc.text), len(tokens))
        spans = cut_spans(doc.text, matches, self.margin_chars)
        kept = apply_cuts(doc.text, spans)
        if len(kept.strip()) < self.min_keep_chars:
            return self._drop(doc, items, detail + f"; a cut would leave {len(kept.strip())} chars",
                              len(doc.text), len(tokens))
        removed_chars = len(doc.text) - len(kept)
        removed_tokens = _tokens_in(doc.text, spans, tokens)
        doc.text = kept
        meta["decontam_matches"] = len(items)
        meta["decontam_cut_chars"] = removed_chars
        meta["decontam_items"] = [f"{b}:{i}" for b, i in items]
        self.stat_update("cut")
        self.report.add(doc_id=doc.id, items=items, action="cut", chars=removed_chars, tokens=removed_tokens)
        return True

    def _drop(self, doc: Document, items, detail: str, chars: int, tokens: int | None):
        doc.metadata["filter_detail"] = detail
        doc.metadata["decontam_matches"] = len(items)
        doc.metadata["decontam_items"] = [f"{b}:{i}" for b, i in items]
        if tokens is None:
            tokens = len(tokenize(doc.text))
        self.report.add(doc_id=doc.id, items=items, action="dropped", chars=chars, tokens=tokens)
        return False, f"benchmark:{items[0][0]}"


def settings_of(cfg: DecontaminateConfig) -> dict:
    return {"min_overlap": cfg.min_overlap, "min_ngrams": cfg.min_ngrams,
            "min_normalized_overlap": cfg.min_normalized_overlap, "min_normalized_ngrams": cfg.min_normalized_ngrams}


def _tokens_in(text: str, spans: list[tuple[int, int]], tokens) -> int:
    """Code tokens whose first byte lies in one of the char spans."""
    bounds = [len(text[:c].encode("utf-8", "surrogatepass")) for span in spans for c in span]
    edges = np.searchsorted(tokens.starts, np.array(bounds, dtype=np.int64))
    return int((edges[1::2] - edges[0::2]).sum())
