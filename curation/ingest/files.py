"""The records every repository reader shares: a file read (or dropped, with a reason), the
limits it was read under, and the error a source raises when it cannot be opened at all."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote


class SourceError(Exception):
    """A path cannot be a source at all; the message names the path and the problem."""


@dataclass(frozen=True)
class Limits:
    max_file_bytes: int = 10 * 2**20
    max_repo_bytes: int = 2 * 2**30
    max_archive_members: int = 1_000_000
    max_compression_ratio: float = 200.0  # deflate tops out near 1000:1 on zeros; real code is < 20


@dataclass
class RepoFile:
    path: str  # POSIX, relative to the repo root; never absolute, never a ".." component
    data: bytes | None  # None when dropped
    size: int  # declared or stat size in bytes
    drop: str | None = None
    detail: str = ""


class RepoBudget:
    """Bytes read so far in one repo. Once the repo cap is hit, every later file is dropped."""

    def __init__(self, limits: Limits):
        self.limits, self.used, self.exhausted = limits, 0, False

    def refuse(self, size: int) -> tuple[str, str] | None:
        """(drop, detail) if a file of `size` bytes must not be read, else None."""
        if size > self.limits.max_file_bytes:
            return "too_large", f"{size} > {self.limits.max_file_bytes}"
        if self.exhausted or self.used + size > self.limits.max_repo_bytes:
            self.exhausted = True
            return "repo_too_large", f"repo cap {self.limits.max_repo_bytes} bytes reached after {self.used}"
        return None


def unsafe_placeholder(raw: str | bytes) -> str:
    """A printable, one-component stand-in for a name we refuse (keeps it in the drop record)."""
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogateescape")
    return quote(raw, safe="").replace(".", "%2E")


def is_utf8(path: str) -> bool:
    try:
        path.encode("utf-8")  # names from the OS / git carry non-UTF-8 bytes as surrogates
        return True
    except UnicodeEncodeError:
        return False
