"""Small steps that move documents between Parquet folders (one file per task)."""

from __future__ import annotations

from pathlib import Path

from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from curation.documents import DocToRow, row_to_doc
from curation.io import ParquetSink, doc_schema, task_file


def arrow_type(name: str):
    import pyarrow as pa

    types = {"float64": pa.float64(), "string": pa.string(), "int64": pa.int64(), "bool": pa.bool_(),
             "map<string,float64>": pa.map_(pa.string(), pa.float64()), "list<string>": pa.list_(pa.string())}
    return types[name]


class DocSink(PipelineStep):
    """Writes every document that passes to `folder/{rank:05d}.parquet` and forwards it."""

    name = "write"
    type = "💽 - WRITER"

    def __init__(self, folder: str, extra_columns: dict[str, str] | None = None):
        """extra_columns: metadata key -> Arrow type name ("float64", "string", "map<string,float64>", ...)."""
        super().__init__()
        self.folder = folder
        self.extra_columns = dict(extra_columns or {})

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        schema = doc_schema({k: arrow_type(t) for k, t in self.extra_columns.items()})
        sink = ParquetSink(self.folder, schema, to_row=DocToRow(list(self.extra_columns)))
        sink.open(rank)
        with sink:
            for doc in data:
                sink.write(doc, rank)
                self.stat_update("written")
                yield doc


class DocSource(PipelineStep):
    """Reads back the documents a previous run wrote for the same task."""

    name = "read"
    type = "📖 - READER"

    def __init__(self, folder: str):
        super().__init__()
        self.folder = folder

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        import pyarrow.parquet as pq

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
