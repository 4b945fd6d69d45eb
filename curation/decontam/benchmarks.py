"""Benchmark loaders: every source becomes a list of `BenchmarkItem`.

- the shared benchmarks folder (its README.md lists the files and their columns): HumanEval,
  HumanEval-X (one benchmark per language, `humaneval-x-cpp` ...), MBPP, CRUXEval;
- a local JSONL / JSONL.gz / Parquet file (or folder of them) with a field mapping;
- a hub dataset id, downloaded with huggingface_hub when online. Offline this raises
  `BenchmarkUnavailable` naming the dataset and the way out (a local copy as `path:`).

An item's `fields` are the texts that are matched: `prompt`, `solution`, `code` (prompt and
solution as one text: the whole function as it would sit in a file) and `test`.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curation.config.decontam import DecontaminateConfig, ExtraBenchmark, FieldMap

HUMANEVAL_X_LANGUAGES = ("cpp", "go", "java", "js", "python", "rust")


class BenchmarkUnavailable(RuntimeError):
    """A configured benchmark cannot be loaded; the message names it and says what to do."""


@dataclass(frozen=True)
class BenchmarkItem:
    benchmark: str
    item_id: str
    fields: dict[str, str]
    repo: str | None = None  # SWE-bench instances
    base_commit: str | None = None
    date: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


def _read_jsonl(path: Path) -> Iterator[dict]:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as err:
                    raise BenchmarkUnavailable(f"{path}:{line_no}: not JSON: {err}") from None


def _read_rows(path: Path) -> Iterator[dict]:
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix in (".jsonl", ".parquet") or p.name.endswith(".jsonl.gz"))
        if not files:
            raise BenchmarkUnavailable(f"{path}: no .jsonl, .jsonl.gz or .parquet files")
        for f in files:
            yield from _read_rows(f)
    elif path.suffix == ".parquet":
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(path).iter_batches(batch_size=1024):
            yield from batch.to_pylist()
    elif path.suffix == ".jsonl" or path.name.endswith(".jsonl.gz"):
        yield from _read_jsonl(path)
    else:
        raise BenchmarkUnavailable(f"{path}: expected .jsonl, .jsonl.gz or .parquet")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return "\n".join(_text(v) for v in value)
    return str(value)


def _as_date(value: Any) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def items_from_rows(name: str, rows: Iterator[dict], fields: FieldMap, *, since: dt.date | None = None,
                    code: bool = False, source: str = "") -> list[BenchmarkItem]:
    """Rows of a benchmark file -> items, by the field mapping; `since` keeps items dated on or
    after; `code`: the prompt is code that the solution completes (HumanEval), so prompt +
    solution is also matched as one text."""
    items = []
    for k, row in enumerate(rows):
        missing = [c for c in (fields.id, fields.prompt, fields.solution, fields.test, fields.repo,
                               fields.base_commit, fields.date) if c is not None and c not in row]
        if missing:
            raise BenchmarkUnavailable(f"{source or name}: row {k} has no column(s) {missing} "
                                       f"(columns: {sorted(row)}); fix the benchmark's fields mapping")
        date = _as_date(row[fields.date]) if fields.date else None
        if since is not None and (date is None or date < since):
            continue
        texts = {f: _text(row[getattr(fields, f)]) for f in ("prompt", "solution", "test") if getattr(fields, f)}
        if code and texts.get("prompt") and texts.get("solution"):
            texts["code"] = texts["prompt"] + texts["solution"]
        items.append(BenchmarkItem(
            benchmark=name, item_id=str(row[fields.id]), fields={k: v for k, v in texts.items() if v.strip()},
            repo=row.get(fields.repo) if fields.repo else None,
            base_commit=row.get(fields.base_commit) if fields.base_commit else None,
            date=date.isoformat() if date else None))
    return items


# The shared folder, as its README.md describes it.
def load_humaneval(root: Path) -> list[BenchmarkItem]:
    path = root / "humaneval" / "HumanEval.jsonl.gz"
    return items_from_rows("humaneval", _read_jsonl(path), FieldMap(
        id="task_id", prompt="prompt", solution="canonical_solution", test="test"), code=True, source=str(path))


def load_humaneval_x(root: Path) -> list[BenchmarkItem]:
    items = []
    for lang in HUMANEVAL_X_LANGUAGES:
        path = root / "humaneval-x" / f"humaneval_{lang}.jsonl.gz"
        rows = list(_read_jsonl(path))
        lang_items = items_from_rows(f"humaneval-x-{lang}", iter(rows), FieldMap(
            id="task_id", prompt="prompt", solution="canonical_solution", test="test"), code=True, source=str(path))
        # The declaration (signature without the docstring) + solution is the bare function, as a
        # file that copied the solution but not its comment would hold it.
        for item, row in zip(lang_items, rows):
            if row.get("declaration"):
                item.fields["declaration_code"] = row["declaration"] + row["canonical_solution"]
        items += lang_items
    return items


def load_mbpp(root: Path) -> list[BenchmarkItem]:
    path = root / "mbpp" / "mbpp.jsonl"
    return items_from_rows("mbpp", _read_jsonl(path), FieldMap(
        id="task_id", prompt="text", solution="code", test="test_list"), source=str(path))


def load_cruxeval(root: Path) -> list[BenchmarkItem]:
    path = root / "cruxeval" / "cruxeval.jsonl"
    return items_from_rows("cruxeval", _read_jsonl(path), FieldMap(id="id", solution="code"), source=str(path))


BUILTIN_LOADERS = {"humaneval": load_humaneval, "humaneval-x": load_humaneval_x, "mbpp": load_mbpp,
                   "cruxeval": load_cruxeval}


def load_local(spec: ExtraBenchmark, base: Path | None = None) -> list[BenchmarkItem]:
    path = Path(spec.path).expanduser()
    if not path.is_absolute() and base is not None:
        path = base / path
    if not path.exists():
        raise BenchmarkUnavailable(f"benchmark {spec.name!r}: {path}: no such file")
    return items_from_rows(spec.name, _read_rows(path), spec.fields, since=spec.since, code=spec.prompt_is_code,
                           source=str(path))


def load_hub(spec: ExtraBenchmark) -> list[BenchmarkItem]:
    """Downloads the dataset's data files with huggingface_hub (cached) and reads them locally."""
    try:
        from huggingface_hub import snapshot_download

        folder = snapshot_download(repo_id=spec.hub, repo_type="dataset", revision=spec.revision,
                                   allow_patterns=spec.files)
    except Exception as err:  # offline, unknown id, gated dataset: all end here, named
        raise BenchmarkUnavailable(
            f"benchmark {spec.name!r}: cannot download hub dataset {spec.hub!r} ({type(err).__name__}: "
            f"{str(err).splitlines()[0] if str(err) else ''}). Offline, download it elsewhere and list it "
            f"with `path:` instead of `hub:`.") from None
    return items_from_rows(spec.name, _read_rows(Path(folder)), spec.fields, since=spec.since,
                           code=spec.prompt_is_code, source=spec.hub)


def load_benchmarks(cfg: DecontaminateConfig, benchmarks_dir: Path | None,
                    base: Path | None = None) -> tuple[list[BenchmarkItem], list[str]]:
    """Every configured item, and notes on what was skipped (a missing shared folder)."""
    items, notes = [], []
    if cfg.builtin:
        if benchmarks_dir is not None and benchmarks_dir.is_dir():
            for name in cfg.builtin:
                items += BUILTIN_LOADERS[name](benchmarks_dir)
        elif cfg.require_builtin:
            raise BenchmarkUnavailable(f"decontaminate.benchmarks_dir: {benchmarks_dir}: no such folder")
        else:
            notes.append(f"shared benchmarks folder {benchmarks_dir} absent: {', '.join(cfg.builtin)} not checked")
    for spec in cfg.extra:
        items += load_local(spec, base) if spec.path else load_hub(spec)
    return items, notes
