"""Which rows of the ingest output each tokenize task reads: contiguous ranges, balanced by the
bytes that survive exact dedup.

Ingest task r writes `work/filtered/{r}.parquet`. Reading that file as tokenize task r ties the
tokenize stage to where the survivors of dedup happen to be: when the kept copies of repeated
repositories sit in a few ingest files (measured: 4 copies of every repository, the originals all
in ingest task 0, so one tokenize task did 95% of the work), the stage runs as one task. The
driver instead plans, once the dedup plan exists, a split of the ingest files, in file and row
order, into `tasks` contiguous ranges of about equal kept bytes, cut only where a repository's
rows end (repository assembly and the repository-level steps need a repository whole; text,
SWE-task and trajectory documents stand alone). A range spans few files, so a task decodes at
most one Parquet row group it does not need at each end of its range.

The split is a matter of balance only: every tokenize step still applies every filter to every
row it reads, and a document's FIM and its ids depend on the document alone, so the shards do
not depend on the split (`docs/` and `tokens/` hold the same rows, partitioned differently).
The weights ignore near-dedup removals (they only shift the balance a little).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from datatrove.data import DocumentsPipeline

from curation.documents import row_to_doc
from curation.io import task_file, write_json_atomic
from curation.steps import DocSource, expect_task_files

PLAN_VERSION = 1


class Unit(NamedTuple):
    """Rows [start, end) of ingest file `file` that stay in one task, and their bytes."""

    file: int
    start: int
    end: int
    size: int  # bytes read
    kept: int  # bytes that survive exact dedup (a kept row weighs at least 1)


def _units(files: list[Path], exact_plan: list[Path]) -> list[Unit]:
    """The runs of rows that must stay together, in file and row order: the rows of one
    repository's files, or one document of any other kind. One DuckDB query over the ingest files' `id`, `kind`, `repo`, `size_bytes` columns joined with the
    exact-dedup plan (out of core: the driver holds only the units)."""
    con = duckdb.connect()
    con.register("ranks", pa.table({"filename": [str(f) for f in files], "file": list(range(len(files)))}))
    removals = ("SELECT DISTINCT id, task FROM read_parquet($plan)" if exact_plan
                else "SELECT NULL::VARCHAR AS id, NULL::BIGINT AS task WHERE false")
    rows = con.execute(f"""
        WITH d AS (
            SELECT r.file, d.file_row_number AS row, d.id, d.kind, d.repo, coalesce(d.size_bytes, 0) AS size
            FROM read_parquet($files, filename = true, file_row_number = true) d JOIN ranks r USING (filename)),
        x AS ({removals}),
        m AS (
            SELECT d.file, d.row, d.size, x.id IS NOT NULL AS dup,
                   CASE WHEN d.kind = 'code' AND d.repo IS NOT NULL AND lag(d.kind) OVER w = 'code'
                             AND lag(d.repo) OVER w = d.repo THEN 0 ELSE 1 END AS starts
            FROM d LEFT JOIN x ON d.id = x.id AND x.task = d.file
            WINDOW w AS (PARTITION BY d.file ORDER BY d.row)),
        u AS (SELECT *, sum(starts) OVER (PARTITION BY file ORDER BY row ROWS UNBOUNDED PRECEDING) AS unit FROM m)
        SELECT file, min(row), max(row) + 1, sum(size), sum(CASE WHEN dup THEN 0 ELSE greatest(size, 1) END)
        FROM u GROUP BY file, unit ORDER BY file, min(row)""",
        {"files": [str(f) for f in files], **({"plan": [str(p) for p in exact_plan]} if exact_plan else {})}).fetchall()
    con.close()
    return [Unit(*map(int, row)) for row in rows]


def plan_split(files: list[Path], tasks: int, exact_plan: list[Path] | None = None) -> dict:
    """The plan: for each task, its [file, first row, end row] ranges, its kept and read bytes.
    `exact_plan`: the exact-dedup plan files (id, task = the ingest task of a removed document)."""
    units = _units(files, exact_plan or [])
    total = sum(u.kept for u in units)
    slices: list[list[list[int]]] = [[] for _ in range(tasks)]
    kept, read = [0] * tasks, [0] * tasks
    task, done = 0, 0
    for unit in units:
        # Move on when this unit's middle is past the task's share of the cumulative kept bytes:
        # each cut lands at the unit boundary nearest to k * total / tasks.
        while task < tasks - 1 and done + unit.kept / 2 > (task + 1) * total / tasks:
            task += 1
        ranges = slices[task]  # [file, start, end] lists: the plan is JSON
        if ranges and ranges[-1][0] == unit.file and ranges[-1][2] == unit.start:
            ranges[-1][2] = unit.end
        else:
            ranges.append([unit.file, unit.start, unit.end])
        kept[task] += unit.kept
        read[task] += unit.size
        done += unit.kept
    return {"version": PLAN_VERSION, "files": len(files), "tasks": tasks, "slices": slices,
            "kept_bytes": kept, "read_bytes": read}


def input_tasks(plan_file: str | Path | None, rank: int) -> list[int]:
    """The ingest tasks whose rows tokenize task `rank` reads (their removals are the ones it
    needs: exact and near dedup record each removal with the ingest task of the document); [rank]
    without a plan (a run whose tokenize task r reads ingest task r's file)."""
    if not plan_file or not Path(plan_file).exists():
        return [rank]
    plan = json.loads(Path(plan_file).read_text())
    return sorted({f for f, _, _ in plan["slices"][rank]})


def identity_plan(files: list[Path], tasks: int) -> dict:
    """Task r reads file r whole: what a run started before this plan existed did."""
    rows = [pq.read_metadata(p).num_rows for p in files]
    sizes = [p.stat().st_size for p in files]
    return {"version": PLAN_VERSION, "files": len(files), "tasks": tasks,
            "slices": [[[r, 0, rows[r]]] if r < len(files) else [] for r in range(tasks)],
            "kept_bytes": sizes + [0] * (tasks - len(files)), "read_bytes": sizes + [0] * (tasks - len(files))}


class SplitDocSource(DocSource):
    """Reads the rows the split plan gives this task, from the files of the ingest run."""

    name = "read"

    def __init__(self, folder: str | Path, *, files: int, tasks: int, plan_file: str | Path, totals_file: str | Path,
                 exact_folder: str | Path | None = None, exact_tasks: int = 0,
                 completions: str | Path | None = None):
        """files: ingest tasks (one file each); tasks: tokenize tasks; exact_folder / exact_tasks:
        the exact-dedup plan (None: no exact dedup, weights are the bytes read); completions: the tokenize run's
        completion markers (a run resumed from before the plan existed keeps file r -> task r)."""
        super().__init__(folder)
        self.n_files, self.tasks = files, tasks
        self.plan_file, self.totals_file = str(plan_file), str(totals_file)
        self.exact_folder = str(exact_folder) if exact_folder else None
        self.exact_tasks = exact_tasks
        self.completions = str(completions) if completions else None
        self._plan: dict | None = None

    def prepare(self) -> None:
        """The driver writes the plan once (a resumed run keeps the one its finished tasks used)."""
        plan_file = Path(self.plan_file)
        if plan_file.exists():
            return
        files = expect_task_files(self.folder, self.n_files)
        started = self.completions and Path(self.completions).exists() and any(Path(self.completions).iterdir())
        if started:
            plan = identity_plan(files, self.tasks)
        else:
            exact = expect_task_files(self.exact_folder, self.exact_tasks) if self.exact_folder else None
            plan = plan_split(files, self.tasks, exact)
        write_json_atomic(Path(self.totals_file), {str(r): b for r, b in enumerate(plan["read_bytes"])})
        write_json_atomic(plan_file, plan)

    def __getstate__(self):
        return {**self.__dict__, "_plan": None}

    @property
    def plan(self) -> dict:
        if self._plan is None:
            path = Path(self.plan_file)
            if not path.exists():
                raise FileNotFoundError(f"{path}: the tokenize split plan is missing (the driver writes it "
                                        "before the tokenize run starts)")
            self._plan = json.loads(path.read_text())
        return self._plan

    def task_weight(self, rank: int) -> int:
        try:
            return int(self.plan["kept_bytes"][rank])
        except (FileNotFoundError, IndexError, KeyError, ValueError):
            return 0

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if data:
            yield from data
        for f, start, end in self.plan["slices"][rank]:
            path = task_file(self.folder, f)
            if not path.exists():
                raise FileNotFoundError(f"{path}: output of the previous run for task {f} is missing")
            yield from self._rows(pq.ParquetFile(path), start, end)

    def _rows(self, parquet: pq.ParquetFile, start: int, end: int):
        """Rows [start, end) of a file, decoding only the row groups they lie in."""
        first = 0
        for group in range(parquet.metadata.num_row_groups):
            count = parquet.metadata.row_group(group).num_rows
            lo, hi = max(start, first), min(end, first + count)
            if lo < hi:
                table = parquet.read_row_group(group).slice(lo - first, hi - lo)
                for batch in table.to_batches(max_chunksize=512):
                    for row in batch.to_pylist():
                        self.stat_update("read")
                        yield row_to_doc(row)
            first += count
            if first >= end:
                break
