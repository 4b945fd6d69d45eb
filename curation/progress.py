"""Progress while a stage runs: documents, MB, MB/s and an ETA, for local and cluster runs alike.

A `ProgressMeter` step sits right after a run's reader. Every few seconds each task writes what
it has read to `logs/<stage>/progress/<rank>.json` (atomically; a file, so it works wherever the
task runs: a local process, a Slurm node, a Ray worker). The totals come from what the run reads:
the row count of the task's input file, or, for ingest, the bytes the driver assigned to the task.
The driver's `ProgressPrinter` and `curate status` read the same files.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from curation.io import task_file, write_json_atomic
from curation.steps import Described

PROGRESS_DIR = "progress"
WRITE_EVERY_S = 2.0  # a task rewrites its progress file at most this often
PLAIN_EVERY_S = 30.0  # piped output: one line per stage this often, not a line per second


class ProgressMeter(Described, PipelineStep):
    """Counts the documents and bytes that pass; writes them with this task's totals."""

    name = "progress"
    type = "⏱️ - PROGRESS"

    def __init__(self, *, logging_dir: str | Path, input_folder: str | Path | None = None,
                 totals_file: str | Path | None = None):
        """input_folder: the run reads `input_folder/{rank}.parquet` (total = its rows);
        totals_file: JSON {rank: bytes} the driver wrote (total = bytes)."""
        super().__init__()
        self.folder = str(Path(logging_dir) / PROGRESS_DIR)
        self.input_folder = str(input_folder) if input_folder else None
        self.totals_file = str(totals_file) if totals_file else None

    def _totals(self, rank: int) -> dict:
        if self.input_folder and task_file(self.input_folder, rank).exists():
            return {"total_docs": pq.read_metadata(task_file(self.input_folder, rank)).num_rows}
        if self.totals_file and Path(self.totals_file).exists():
            return {"total_bytes": json.loads(Path(self.totals_file).read_text()).get(str(rank))}
        return {}

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        state = {"rank": rank, "docs": 0, "bytes": 0, "started": time.time(), "done": False, **self._totals(rank)}
        path, last = task_file(self.folder, rank).with_suffix(".json"), 0.0
        for doc in data:
            state["docs"] += 1
            state["bytes"] += doc.metadata.get("size_bytes") or len(doc.text)
            now = time.time()
            if now - last >= WRITE_EVERY_S:
                write_json_atomic(path, {**state, "updated": now}, indent=None)
                last = now
            yield doc
        write_json_atomic(path, {**state, "updated": time.time(), "done": True}, indent=None)


@dataclass
class StageProgress:
    tasks: int
    done: int  # tasks whose meter finished
    docs: int
    bytes: int
    total_docs: int | None  # None: not known for every task
    total_bytes: int | None
    elapsed: float

    @property
    def mb_per_s(self) -> float:
        return self.bytes / 2**20 / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def fraction(self) -> float | None:
        if self.total_docs:
            return min(1.0, self.docs / self.total_docs)
        if self.total_bytes:
            return min(1.0, self.bytes / self.total_bytes)
        return None

    @property
    def eta(self) -> float | None:
        f = self.fraction
        return self.elapsed * (1 - f) / f if f else None

    def line(self, stage: str) -> str:
        eta = self.eta
        total = f"/{self.total_docs:,}" if self.total_docs else ""
        share = f" {self.fraction:6.1%}" if self.fraction is not None else ""
        return (f"[{stage}] {self.docs:,}{total} docs{share}  {self.bytes / 2**20:,.1f} MB  "
                f"{self.mb_per_s:.1f} MB/s  tasks {self.done}/{self.tasks}  "
                f"ETA {format_seconds(eta) if eta is not None else '?'}")


def format_seconds(s: float) -> str:
    s = int(s)
    return f"{s // 3600}h{s // 60 % 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def read_progress(logging_dir: str | Path, tasks: int) -> StageProgress | None:
    """The progress files of one stage summed over its tasks; None when no task wrote one yet."""
    folder = Path(logging_dir) / PROGRESS_DIR
    states = []
    for rank in range(tasks):
        try:
            states.append(json.loads(task_file(folder, rank).with_suffix(".json").read_text()))
        except (OSError, ValueError):
            continue
    if not states:
        return None
    known = len(states) == tasks
    total_docs = sum(s.get("total_docs") or 0 for s in states) if known and all(
        s.get("total_docs") is not None for s in states) else None
    total_bytes = sum(s.get("total_bytes") or 0 for s in states) if known and all(
        s.get("total_bytes") is not None for s in states) else None
    elapsed = max(s["updated"] for s in states) - min(s["started"] for s in states)
    return StageProgress(tasks=tasks, done=sum(bool(s.get("done")) for s in states),
                         docs=sum(s["docs"] for s in states), bytes=sum(s["bytes"] for s in states),
                         total_docs=total_docs, total_bytes=total_bytes, elapsed=elapsed)


class ProgressPrinter:
    """Shows a stage's progress while it runs: one line updated in place on a terminal, a plain
    line every PLAIN_EVERY_S seconds when the output is piped."""

    def __init__(self, stage: str, logging_dir: str | Path, tasks: int, stream=None):
        self.stage, self.logging_dir, self.tasks = stage, logging_dir, tasks
        self.stream = stream or sys.stdout
        self.tty = getattr(self.stream, "isatty", lambda: False)()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name=f"progress-{stage}")

    def __enter__(self) -> ProgressPrinter:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()

    def _loop(self) -> None:
        interval = 1.0 if self.tty else PLAIN_EVERY_S
        while not self._stop.wait(interval):
            progress = read_progress(self.logging_dir, self.tasks)
            if progress is None:
                continue
            line = progress.line(self.stage)
            self.stream.write(f"\r\x1b[K{line}" if self.tty else line + "\n")
            self.stream.flush()
