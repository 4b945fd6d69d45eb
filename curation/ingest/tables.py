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
from datetime import datetime, timezone
from pathlib import Path

from curation.ingest.files import SourceError

TABLE_KEYS = ("content", "path", "repo", "rev", "license", "stars", "date")

# A role the config does not map is read from the first of these columns the file has: The Stack
# v2's names first, then The Stack v1's (`max_stars_*`, as in bigcode/the-stack-dedup), then the
# role's own name.
STACK_COLUMNS = {
    "repo": ("repo_name", "max_stars_repo_name", "repo"),
    "rev": ("revision_id", "max_stars_repo_head_hexsha", "rev"),
    "license": ("detected_licenses", "max_stars_repo_licenses", "license"),
    "stars": ("star_events_count", "max_stars_count", "stars"),
    "date": ("revision_date", "committer_date", "date"),
}


def resolve_columns(columns: dict[str, str], present) -> dict[str, str]:
    """The mapped roles plus, for each role left unmapped, the first STACK_COLUMNS name present."""
    resolved = dict(columns)
    for role, names in STACK_COLUMNS.items():
        if role not in resolved:
            found = next((n for n in names if n in present), None)
            if found is not None:
                resolved[role] = found
    return resolved


def to_license(value) -> str | None:
    """A license column as one SPDX expression: The Stack's lists mean every license applies."""
    if value is None or isinstance(value, str):
        return value or None
    names = sorted({str(v) for v in value if v})
    return " AND ".join(names) if names else None


def to_stars(value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) or value < 0:
        raise ValueError(f"stars: {value!r} is not a non-negative integer")
    return int(value)


def to_date(value) -> datetime:
    """A timestamp, or an ISO 8601 string; without a zone it is UTC (The Stack's are)."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"date: {value!r} is not an ISO 8601 date") from None
    if not isinstance(value, datetime):  # numbers are refused: seconds or milliseconds is a guess
        raise ValueError(f"date: {value!r} is not a timestamp or an ISO 8601 string")
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def shard_of(key: str, world_size: int) -> int:
    """Stable task index for a repo: crc32, not hash(), which changes between processes."""
    return zlib.crc32(key.encode("utf-8", "surrogatepass")) % world_size


def iter_table_rows(path: str | Path, *, columns: dict[str, str], rank: int = 0,
                    world_size: int = 1) -> Iterator[dict]:
    """Rows of a Stack-style .parquet or .jsonl(.gz) file that belong to task `rank`.

    Rows are split by repo (by path when no repo column is mapped) so every file of a repository
    lands in one task. Yields {content, path, repo, rev, license, stars, date} (license as one
    SPDX expression, stars an int, date a UTC datetime, each None when absent); a row that
    cannot be used yields {"error", "line"} instead (line = 1-based line or row number) and
    reading goes on. Roles not in `columns` come from The Stack's names (STACK_COLUMNS).
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
    try:
        row["license"] = to_license(row["license"])
        row["stars"] = None if row["stars"] is None else to_stars(row["stars"])
        row["date"] = None if row["date"] is None else to_date(row["date"])
    except (TypeError, ValueError) as err:
        return {"error": str(err), "line": line, "path": row["path"], "repo": row["repo"]}
    return row


def _parquet_rows(path: Path, columns: dict[str, str], rank: int, world_size: int) -> Iterator[dict]:
    import pyarrow.parquet as pq

    table_file = pq.ParquetFile(path)
    present = set(table_file.schema_arrow.names)
    for key, column in columns.items():
        if column not in present:
            raise SourceError(f"{path}: no column {column!r} (for {key}); it has {sorted(present)}")
    columns = resolve_columns(columns, present)
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
                values = {key: record.get(column) for key, column in resolve_columns(columns, record).items()}
                key = values.get(key_name)
                if shard_of("" if key is None else str(key), world_size) == rank:
                    yield _table_row(values, line_no)
    except (OSError, EOFError, zlib.error) as err:  # a truncated .gz: report once, where it stopped
        if rank == 0:
            yield {"error": f"unreadable after line {line_no}: {err}", "line": line_no + 1}
