"""The SWE reader step: `git_history` and `swe_dataset` inputs -> one Document per task.

Every commit of a configured range (and every dataset row) that does not become a task is
written to `removed/swe/` with its reason, so `tasks + removed = commits in the range`.
Work split: commit k of a repository's range (row k of a dataset) belongs to task k % world_size;
each task walks the log itself (one `git log` process, cheap next to the work per commit).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from curation.config.swe import KINDS, GitHistoryInput, SweDatasetInput
from curation.documents import removed_row
from curation.ingest.languages import language_kind
from curation.io import REMOVED_SCHEMA, ParquetSink
from curation.steps import Described
from curation.swe.context import Timings
from curation.swe.dataset import DatasetTasks, iter_rows
from curation.swe.git import is_git_repository
from curation.swe.history import HistoryMiner, Skip
from curation.swe.render import DOC_COLUMNS as COLUMNS
from curation.swe.render import (
    SWE_UNIT,
    SweMarkerPieces,
    TaskFields,
    render_text,
    resolve_markers,
)
from curation.tokenize.tokenizer import load_tokenizer

__all__ = ["COLUMNS", "KINDS", "SweReader", "history_repositories", "task_document"]

STEP = "swe"


def history_repositories(paths: list[str]) -> list[tuple[str, Path]]:
    """(name, path) of each git repository: a path is one, or a folder whose children are.

    The name is the folder name, as the `repos` input names the same repositories.
    """

    found: list[tuple[str, Path]] = []
    for raw in paths:
        path = Path(raw)
        if not path.is_dir():
            raise FileNotFoundError(f"{path}: not a folder (expected a git repository or a folder of them)")
        if is_git_repository(path):
            found.append((_repo_name(path), path))
            continue
        children = sorted(c for c in path.iterdir() if c.is_dir() and is_git_repository(c))
        if not children:
            raise FileNotFoundError(f"{path}: neither a git repository nor a folder holding one")
        found.extend((_repo_name(c), c) for c in children)
    names = [n for n, _ in found]
    if len(set(names)) != len(names):
        raise ValueError(f"two repositories with one name in {paths}: {sorted(n for n in names if names.count(n) > 1)}")
    return found


def _repo_name(path: Path) -> str:
    name = Path(os.path.abspath(path)).name  # as ingest names it: a symlink keeps its own name
    return name[:-4] if name.endswith(".git") and len(name) > 4 else name


class SweReader(Described, PipelineStep):
    name = "swe"
    type = "📖 - READER"

    def __init__(self, inputs: dict[str, dict], *, tokenizer_path: str, seq_len: int, removed_folder: str,
                 limit: int | None = None, markers: dict | None = None):
        """inputs: source name -> GitHistoryInput / SweDatasetInput fields (plain dicts, so the step
        pickles without the config classes; checked here, up front). markers: SweMarkerPieces
        fields, one setting for the pipeline: the tokenize step must be given the same."""
        super().__init__()

        self.markers = SweMarkerPieces.model_validate(markers or {}).model_dump()

        models = {"git_history": GitHistoryInput, "swe_dataset": SweDatasetInput}
        self.inputs = {name: models[cfg["kind"]].model_validate(cfg).model_dump() for name, cfg in inputs.items()}
        self.tokenizer_path = tokenizer_path
        self.seq_len = seq_len
        self.removed_folder = removed_folder
        self.limit = limit
        self.timings = None

    @classmethod
    def from_config(cls, ctx) -> SweReader | None:
        """The step for a pipeline's git_history / swe_dataset inputs; None when it has none."""
        cfg = ctx.config
        inputs = {name: inp.model_dump() for name, inp in cfg.inputs.items() if inp.kind in KINDS}
        if not inputs:
            return None
        return cls(inputs, tokenizer_path=ctx.tokenizer_path or cfg.tokenizer.name_or_path, seq_len=cfg.pack.seq_len,
                   removed_folder=str(ctx.layout.removed), limit=cfg.limit)

    def outputs(self) -> list[Path]:
        return [Path(self.removed_folder) / STEP]

    def doc_columns(self) -> dict[str, str]:
        return dict(COLUMNS)

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if data:
            yield from data
        tokenizer = load_tokenizer(self.tokenizer_path)
        self.timings = Timings()
        sink = ParquetSink(Path(self.removed_folder) / STEP, REMOVED_SCHEMA)
        sink.open(rank)  # an empty removed/swe file still marks the task done
        with sink:
            for source in sorted(self.inputs):
                raw = self.inputs[source]
                cfg = (GitHistoryInput if raw["kind"] == "git_history" else SweDatasetInput).model_validate(raw)
                pieces = SweMarkerPieces.model_validate(self.markers)
                markers = resolve_markers(tokenizer, pieces, "swe.markers")
                max_tokens = cfg.max_tokens(self.seq_len)
                outcomes = self._history(cfg, tokenizer, markers, max_tokens, rank, world_size) \
                    if cfg.kind == "git_history" else self._dataset(cfg, tokenizer, max_tokens, rank, world_size)
                budget = self.limit if self.limit else float("inf")
                for outcome in outcomes:
                    if budget <= 0:
                        break
                    budget -= 1
                    yield from self._emit(outcome, source, pieces, sink, rank)
        for what, seconds in self.timings.seconds.items():
            self.stat_update(f"seconds_{what}", value=round(seconds, 3))

    def _history(self, cfg, tokenizer, markers, max_tokens: int, rank: int, world_size: int):
        for name, path in history_repositories(cfg.paths):
            with HistoryMiner(path, name=name, config=cfg, tokenizer=tokenizer, markers=markers,
                              max_tokens=max_tokens, timings=self.timings) as miner:
                yield from miner.mine(rank, world_size)

    def _dataset(self, cfg, tokenizer, max_tokens: int, rank: int, world_size: int):
        with DatasetTasks(cfg, tokenizer, max_tokens, self.timings) as tasks:
            for k, (key, row, error) in enumerate(iter_rows(cfg.paths)):
                if k % world_size != rank:
                    continue
                if error:
                    yield Skip(f"swe_dataset:{key}", "", "", "malformed_row", error)
                else:
                    yield tasks.task(key, row)

    def _emit(self, outcome, source: str, pieces, sink: ParquetSink, rank: int):
        if isinstance(outcome, Skip):
            self.stat_update("skipped")
            self.stat_update(f"skipped_{outcome.reason}")
            sink.write(removed_row(id=outcome.id, step=STEP, reason=outcome.reason, detail=outcome.detail,
                                   meta={"source": source, "repo": outcome.repo}), rank)
            return
        self.stat_update("tasks")
        self.stat_update("tokens", value=outcome.n_tokens)
        yield task_document(outcome, source, pieces, rank)


def task_document(task, source: str, pieces, rank: int) -> Document:
    text = render_text(TaskFields(task.repo, task.statement, task.files, task.context, task.patch, task.test_patch),
                       pieces)
    meta: dict[str, Any] = {
        "source": source, "kind": "code", "repo": task.repo, "rev": task.base_commit, "path": None,
        "lang": task.lang, "lang_kind": language_kind(task.lang), "unit": SWE_UNIT, "task": rank,
        "size_bytes": len(text.encode("utf-8", "surrogatepass")),
        "license": task.extra.get("license"), "license_class": task.extra.get("license_class"),
        "base_commit": task.base_commit, "commit": task.commit, "statement": task.statement, "patch": task.patch,
        "test_patch": task.test_patch, "files": list(task.files), "context": list(task.context),
        "issues": list(task.issues), "context_source": task.context_source, "swe_tokens": task.n_tokens,
    }
    return Document(text=text, id=task.id, metadata=meta)
