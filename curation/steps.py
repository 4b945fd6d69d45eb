"""The contract every step of a recipe follows, and the small steps that move documents.

A step is a datatrove `PipelineStep` that also describes itself, so the recipe
(`curation.recipe`) can derive everything else from the list of steps:

    from_config(ctx)   the step built from its typed config section, or None when that section
                       turns it off; no side effects (the recipe is also built to list stages)
    prepare()          driver-side work just before its run starts (e.g. a task plan)
    prepare_ahead      True when prepare() reads only the config, never an earlier run's output:
                       the driver then starts it in the background while earlier runs execute
                       (prepare() must be idempotent: it is called again, cheaply, before its run)
    finish(tasks)      driver-side work once its run is done and checked (e.g. a merged report)
    outputs()          folders that must hold one `{rank:05d}.parquet` per task of its run
    files()            single files its run must leave
    check(rank)        a content check of task `rank`'s outputs: the problem, or None
    doc_columns()      docs/ columns it adds: name -> Arrow type name (`curation.io.arrow_type`)

A step that drops documents is a `DropStep`: it only implements `filter(doc)`; the base class
(datatrove's `BaseFilter`) counts `dropped_<reason>`, and writes each drop to `removed/<step>/`
with its reason, the detail the step left in `doc.metadata["filter_detail"]` and, for duplicates,
`kept_id` and `similarity`. A step that rewrites text is a `RewriteStep` (`rewrite(doc)`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pyarrow.parquet as pq
from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.filters.base_filter import BaseFilter, get_filter_result

from curation.documents import DocToRow, RemovedDocRow, row_to_doc
from curation.io import REMOVED_SCHEMA, ParquetSink, arrow_type, doc_schema, task_file
from curation.layout import Layout


@dataclass(frozen=True)
class StepContext:
    """What a step is built from: the resolved config, the output folder, the tokenizer."""

    pipeline: Any  # curation.load.Pipeline: resolved above the steps, which only read it
    layout: Layout
    tokenizer_path: str = ""
    tokenizer_name: str = ""

    @property
    def config(self):
        return self.pipeline.config


class Described:
    """The self-description every recipe step has (defaults: no outputs, no columns)."""

    prepare_ahead: ClassVar[bool] = False

    @classmethod
    def from_config(cls, ctx: StepContext):
        raise NotImplementedError(f"{cls.__name__} is not built from a config")

    def prepare(self) -> None:
        return None

    def finish(self, tasks: int) -> None:
        """Driver-side work once every task of its run is done and checked (e.g. a merged report)."""
        return None

    def outputs(self) -> list[Path]:
        return []

    def files(self) -> list[Path]:
        return []

    def check(self, rank: int) -> str | None:
        return None

    def doc_columns(self) -> dict[str, str]:
        return {}


class DropStep(Described, BaseFilter):
    """A step that keeps or drops documents; every drop lands in `removed/<step>/`.

    `removed_folder=None` builds it as a pure tagger (a step whose dropping is switched off in
    its config): it has no removed/ output, and a drop would be a bug, so it raises."""

    step: ClassVar[str]

    def __init__(self, *, removed_folder: str | Path | None, batch_size: int = 1):
        self.removed_folder = str(removed_folder) if removed_folder is not None else None
        writer = None if removed_folder is None else ParquetSink(
            Path(removed_folder) / self.step, REMOVED_SCHEMA, to_row=RemovedDocRow(self.step))
        super().__init__(exclusion_writer=writer, batch_size=batch_size)

    @property
    def name(self) -> str:  # datatrove's stats and logs name the step by it
        return self.step

    def outputs(self) -> list[Path]:
        return [] if self.removed_folder is None else [Path(self.removed_folder) / self.step]

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if self.exclusion_writer is None:
            for doc in data:
                keep, reason = get_filter_result(self.filter(doc))
                if not keep:
                    raise RuntimeError(f"step {self.step} dropped {doc.id} ({reason}) but was built without a "
                                       "removed/ folder")
                yield doc
            return
        self.exclusion_writer.open(rank)  # an empty removed/<step> file still marks the task done
        yield from super().run(data, rank, world_size)


class RewriteStep(Described, PipelineStep):
    """A step that rewrites documents in place (a formatter): it never drops one."""

    step: ClassVar[str]
    type = "✂️ - FORMAT"

    @property
    def name(self) -> str:
        return self.step

    def rewrite(self, doc: Document) -> None:
        raise NotImplementedError

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        for doc in data:
            with self.track_time():
                self.rewrite(doc)
            yield doc


class DocSink(Described, PipelineStep):
    """Writes every document that passes to `folder/{rank:05d}.parquet` and forwards it."""

    name = "write"
    type = "💽 - WRITER"

    def __init__(self, folder: str | Path, extra_columns: dict[str, str] | None = None):
        """extra_columns: metadata key -> Arrow type name ("float64", "string", "map<string,float64>", ...)."""
        super().__init__()
        self.folder = str(folder)
        self.extra_columns = dict(extra_columns or {})

    def outputs(self) -> list[Path]:
        return [Path(self.folder)]

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        schema = doc_schema({k: arrow_type(t) for k, t in self.extra_columns.items()})
        sink = ParquetSink(self.folder, schema, to_row=DocToRow(list(self.extra_columns)))
        sink.open(rank)
        with sink:
            for doc in data:
                sink.write(doc, rank)
                self.stat_update("written")
                yield doc


class DocSource(Described, PipelineStep):
    """Reads back the documents a previous run wrote for the same task."""

    name = "read"
    type = "📖 - READER"

    def __init__(self, folder: str | Path):
        super().__init__()
        self.folder = str(folder)

    def task_weight(self, rank: int) -> int:
        """How much work task `rank` has: the bytes of its input file (the executor starts the
        heaviest tasks first, so a large task does not start last and run alone)."""
        path = task_file(self.folder, rank)
        return path.stat().st_size if path.exists() else 0

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if data:
            yield from data
        path = task_file(self.folder, rank)
        if not path.exists():
            raise FileNotFoundError(f"{path}: output of the previous run for task {rank} is missing")
        for batch in pq.ParquetFile(path).iter_batches(batch_size=512):
            for row in batch.to_pylist():
                self.stat_update("read")
                yield row_to_doc(row)


def expect_task_files(folder: str | Path, tasks: int) -> list[Path]:
    """The files of a finished run, or an error naming the tasks whose file is missing."""
    files = [task_file(folder, r) for r in range(tasks)]
    missing = [r for r, f in enumerate(files) if not f.exists()]
    if missing:
        raise RuntimeError(f"{folder}: no output for task(s) {missing}: the run that writes it did not finish")
    return files


def merged_columns(steps: list[Any]) -> dict[str, str]:
    """The docs/ columns a list of steps adds, in step order; one column, one type."""
    columns: dict[str, str] = {}
    for step in steps:
        for name, dtype in step.doc_columns().items():
            if columns.setdefault(name, dtype) != dtype:
                raise ValueError(f"docs/ column {name!r} declared as {columns[name]} and {dtype}")
    return columns
