"""Object storage (s3:// and any fsspec URL): the primitives the pipeline's mirror is built on.

`curate run --out s3://...` works in a local mirror of the URL (curation.mirror); this module has
what it rests on, each tested against a local S3-compatible server (moto) in tests/test_objstore.py.
Credentials and the endpoint come from the environment as for every AWS client
(AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL), so a config holds plain URLs and
every process of every executor resolves them the same way.

- Atomic outputs. On a local disk a file appears by rename; an object store has no rename, but an
  object appears only when its upload completes. `AtomicUpload` streams (multipart) and completes
  on a clean exit, aborts on an error: a killed task leaves no object, exactly as the local
  `.tmp` + `os.replace` leaves no file (for a writer that streams straight to a URL).
- DuckDB reads the objects through the same fsspec filesystem (`register_filesystem`): no httpfs
  extension to download.
- Inputs that must be local (git repositories, archives opened by path) are staged into a cache,
  once per object version (ETag), by `stage_in`.
"""

from __future__ import annotations

import os
from pathlib import Path

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

from curation.io import ROW_GROUP_ROWS, parquet_options


def is_remote(url: str | Path) -> bool:
    return "://" in str(url) and not str(url).startswith("file://")


def url_fs(url: str | Path) -> tuple[fsspec.AbstractFileSystem, str]:
    """(filesystem, path inside it) for a URL or a local path."""
    return fsspec.core.url_to_fs(str(url))


class AtomicUpload:
    """A binary file at `url` that exists only once the `with` block ends without an error."""

    def __init__(self, url: str | Path, *, block_size: int | None = None):
        """block_size: bytes per uploaded part (S3: at least 5 MiB; fsspec's default otherwise)."""
        self.url = str(url)
        self.block_size = block_size
        self.fs, self.path = url_fs(url)
        self._file = None
        self._tmp = None

    def __enter__(self):
        if is_remote(self.url):
            # an object becomes visible when the (multipart) upload completes, never before
            options = {"block_size": self.block_size} if self.block_size else {}
            self._file = self.fs.open(self.path, "wb", **options)
        else:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            self._tmp = self.path + ".tmp"
            self._file = open(self._tmp, "wb")
        return self._file

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self._file.close()
            if self._tmp:
                os.replace(self._tmp, self.path)
        else:
            if self._tmp:
                self._file.close()
                Path(self._tmp).unlink(missing_ok=True)
            else:
                self._file.discard()  # aborts the multipart upload: no object, no parts left
                self._file.closed = True  # nothing left to flush when the file object is collected
        return False


def write_table_atomic(table: pa.Table, url: str | Path) -> None:
    """curation.io.write_table_atomic for any URL, with the same writer settings (same bytes)."""
    with AtomicUpload(url) as fh:
        pq.write_table(table, fh, row_group_size=ROW_GROUP_ROWS, **parquet_options(table.schema))


def duckdb_connect(url: str | Path):
    """A DuckDB connection that reads `url`'s filesystem (s3://... globs in read_parquet)."""
    import duckdb

    con = duckdb.connect()
    fs, _ = url_fs(url)
    if is_remote(url):
        con.register_filesystem(fs)
    return con


def stage_in(url: str, cache: str | Path) -> Path:
    """A local copy of a remote file or folder (prefix), for readers that need a path.

    Each object is downloaded once per version: its ETag is kept beside the copy, under
    `cache/.versions/`, so a changed object is fetched again and an unchanged one never is; a copy
    appears by rename, so a killed download leaves nothing that looks finished.
    """
    fs, root = url_fs(url)
    root = root.rstrip("/")
    protocol = fs.protocol[0] if isinstance(fs.protocol, tuple) else fs.protocol
    target = Path(cache) / protocol / root
    versions = Path(cache) / ".versions" / protocol / root
    folder = fs.isdir(root)
    objects = fs.find(root, detail=True) if folder else {root: fs.info(root)}
    for key, info in sorted(objects.items()):
        rel = os.path.relpath(key, root) if folder else ""
        local, stamp = (target / rel, versions / rel) if rel else (target, versions)
        stamp = stamp.with_name(stamp.name + ".etag")
        version = str(info.get("ETag") or info.get("etag") or info.get("size")).strip('"')
        if local.exists() and stamp.exists() and stamp.read_text() == version:
            continue
        local.parent.mkdir(parents=True, exist_ok=True)
        stamp.parent.mkdir(parents=True, exist_ok=True)
        tmp = local.with_name(local.name + ".part")
        fs.get_file(key, str(tmp))
        os.replace(tmp, local)
        stamp.write_text(version)
    return target
