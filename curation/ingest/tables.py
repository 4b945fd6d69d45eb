"""Stack-style tables as a source: one row per file, in a .parquet or .jsonl(.gz) file.

Rows are split over tasks by a stable hash of the repository, so every file of a repository lands
in one task. For Parquet only the repo column is read for every row; content is read only for the
row groups that hold rows of this task.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterator
from pathlib import Path

from curation.ingest.files import SourceError

TABLE_KEYS = ("content", "path", "repo", "rev", "license")


def shard_of(key: str, world_size: int) -> int:
    """Stable task index for a repo: crc32, not hash(), which changes between processes."""
    return zlib.crc32(key.encode("utf-8", "surrogatepass")) % world_size


def iter_table_rows(path: str | Path, *, columns: dict[str, str], rank: int = 0,
                    world_size: int = 1) -> Iterator[dict]:
    """Rows of a Stack-style .parquet or .jsonl(.gz) file that belong to task `rank`.

    Rows are split by repo (by path when no repo column is mapped) so every file of a repository
    lands in one task. Yields {content, path, repo, rev, license}; a row that cannot be used
    yields {"error", "line"} instead (line = 1-based line or row number) and reading goes on.
    """
    unknown = set(columns) - set(TABLE_KEYS)
    if unknown or not {"content", "path"} <= set(columns):
        raise ValueError(f"columns must map content and path, and only {TABLE_KEYS}; got {sorted(columns)}")
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is not in [0, {world_size})")
    path = Path(path)
    if not path.is_file():
        raise SourceError(f"{path}: no such file")
    name = path.name.lower()
    if name.endswith(".parquet"):
        return _parquet_rows(path, columns, rank, world_size)
    if name.endswith((".jsonl", ".jsonl.gz")):
        return _jsonl_rows(path, columns, rank, world_size)
    raise SourceError(f"{path}: not a .parquet, .jsonl or .jsonl.gz file")


def _table_row(values: dict, line: int) -> dict:
    row = {key: values.get(key) for key in TABLE_KEYS}
    for key in ("content", "path"):
        if row[key] is None:
            return {"error": f"{key} is missing or null", "line": line, "path": row["path"], "repo": row["repo"]}
    return row


def _parquet_rows(path: Path, columns: dict[str, str], rank: int, world_size: int) -> Iterator[dict]:
    import pyarrow.parquet as pq

    table_file = pq.ParquetFile(path)
    present = set(table_file.schema_arrow.names)
    for key, column in columns.items():
        if column not in present:
            raise SourceError(f"{path}: no column {column!r} (for {key}); it has {sorted(present)}")
    key_column = columns.get("repo", columns["path"])
    first_row = 0
    for group in range(table_file.num_row_groups):
        # Only the repo column is read for every row; content only for row groups we keep.
        keys = table_file.read_row_group(group, columns=[key_column]).column(0).to_pylist()
        picked = [i for i, k in enumerate(keys) if shard_of("" if k is None else str(k), world_size) == rank]
        if picked:
            table = table_file.read_row_group(group, columns=list(dict.fromkeys(columns.values())))
            table = table.take(picked)
            values = {key: table.column(column).to_pylist() for key, column in columns.items()}
            for j, i in enumerate(picked):
                yield _table_row({key: values[key][j] for key in values}, first_row + i + 1)
        first_row += len(keys)


def _jsonl_rows(path: Path, columns: dict[str, str], rank: int, world_size: int) -> Iterator[dict]:
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    key_name = "repo" if "repo" in columns else "path"
    line_no = 0
    try:
        with opener(path, "rb") as fh:
            for line_no, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                    if not isinstance(record, dict):
                        raise ValueError(f"expected a JSON object, got {type(record).__name__}")
                except ValueError as err:
                    if line_no % world_size == rank:  # unattributable rows: spread by line, once each
                        yield {"error": f"malformed JSON: {err}", "line": line_no}
                    continue
                values = {key: record.get(column) for key, column in columns.items()}
                key = values.get(key_name)
                if shard_of("" if key is None else str(key), world_size) == rank:
                    yield _table_row(values, line_no)
    except (OSError, EOFError, zlib.error) as err:  # a truncated .gz: report once, where it stopped
        if rank == 0:
            yield {"error": f"unreadable after line {line_no}: {err}", "line": line_no + 1}
