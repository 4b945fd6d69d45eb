"""The benchmark index, built once per content: a cache keyed by everything the index is made of.

Every run of every stage builds the same index from the same benchmarks (2-3 s of CPU for the
shared set, while ingest runs; more with SWE-bench instances). The key is the sha256 of what
`BenchmarkIndex.build` reads: the loaded benchmark items (all their fields), the loader's notes,
the build parameters, and the source of the code that turns them into the index file
(`CODE_FILES`). A changed benchmark file, setting or line of that code gives a new key, so a
cached file is always the file a build would write now.

    $CURATION_CACHE/decontam/<key>.npz     (default ~/.cache/curation; CURATION_CACHE="" turns it off)

A cached file that cannot be loaded is rebuilt and replaced; a cache folder that cannot be written
is skipped with a warning. The run's own copy is still `work/decontam_index.npz`, so a resumed run
keeps the index it started with whatever happens to the cache.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import sys
import zipfile
from pathlib import Path

from curation.decontam.index import BenchmarkIndex
from curation.langid import default_cache_dir

PACKAGE = Path(__file__).resolve().parents[1]
# The modules whose code decides the bytes of the index file, given the items.
CODE_FILES = ("decontam/index.py", "decontam/tokens.py", "dedup/shingles.py", "dedup/kernel.py")


def cache_folder() -> Path | None:
    """`$CURATION_CACHE/decontam`, ~/.cache/curation/decontam by default; None when turned off."""
    if os.environ.get("CURATION_CACHE") == "":
        return None
    return default_cache_dir() / "decontam"


def index_key(items: list, notes: list[str], params: dict) -> str:
    h = hashlib.sha256()
    for name in CODE_FILES:
        h.update(name.encode() + b"\0" + (PACKAGE / name).read_bytes() + b"\0")
    h.update(json.dumps({"params": params, "notes": notes}, sort_keys=True, default=str).encode())
    for item in items:
        h.update(json.dumps(dataclasses.asdict(item), sort_keys=True, default=str).encode() + b"\n")
    return h.hexdigest()


def cached_index(path: Path, key: str, build) -> str:
    """Writes the index to `path` (temp + rename): the cached file of `key` if there is a good one,
    else `build()`'s, then caches it. -> "hit", "built" or "built (not cached: <why>)"."""
    folder = cache_folder()
    cached = folder / f"{key}.npz" if folder else None
    if cached is not None and cached.exists():
        try:
            BenchmarkIndex.load(cached)  # a truncated or foreign file fails here
            _copy(cached, path)
            return "hit"
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, json.JSONDecodeError) as err:
            print(f"decontaminate: {cached}: unreadable cached index ({err}); rebuilding it", file=sys.stderr)
    build().save(path)
    if cached is None:
        return "built (not cached: CURATION_CACHE is empty)"
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        _copy(path, cached)
    except OSError as err:
        print(f"decontaminate: {cached.parent}: cannot cache the index ({err}); every run builds it",
              file=sys.stderr)
        return f"built (not cached: {err})"
    return "built"


def _copy(src: Path, dst: Path) -> None:
    tmp = dst.with_name(f"{dst.name}.{os.getpid()}.tmp")
    try:
        shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)
