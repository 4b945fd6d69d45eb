"""Tar and zip archives as repositories: members are streamed into memory, never extracted.

Paths are made repo-relative by stripping one common top-level folder (npm's `package/`, an
sdist's `name-1.0/`). Names that could escape a directory on extraction (absolute, `..`, a drive
letter, backslash tricks) are dropped as "unsafe_path"; links and device files are never read.
A damaged archive yields what was read before the damage, then one "corrupt_archive" record.
"""

from __future__ import annotations

import lzma
import re
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Iterator

from curation.ingest.files import RepoBudget, RepoFile, unsafe_placeholder

# Errors that mean "the bytes are damaged", as raised by tarfile, zipfile and their codecs.
_DAMAGE = (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError, zlib.error, lzma.LZMAError)


def member_path(name: str) -> str | None:
    """The normalized POSIX path of an archive member, or None if it is unsafe to use."""
    # Split on both separators: "..\\x" is a traversal on Windows, where these archives get unpacked too.
    if name.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", name):
        return None
    if ".." in re.split(r"[\\/]", name):
        return None
    parts = [p for p in name.split("/") if p not in ("", ".")]
    path = "/".join(parts)
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:  # tarfile keeps undecodable bytes as surrogates
        return None
    return path or None


def _strip_root_and_sort(records: list[RepoFile]) -> list[RepoFile]:
    """Strip one top-level folder shared by every member, sort by path, drop earlier duplicates."""
    safe = [r for r in records if r.drop != "unsafe_path"]
    tops = {r.path.split("/", 1)[0] for r in safe}
    if len(tops) == 1 and all("/" in r.path for r in safe):
        cut = len(tops.pop()) + 1
        for r in safe:
            r.path = r.path[cut:]
    # A stable sort keeps archive order among equal paths; extraction would keep the last one.
    ordered = sorted(records, key=lambda r: r.path)
    for earlier, later in zip(ordered, ordered[1:]):
        if earlier.path == later.path and earlier.drop != "unsafe_path":
            earlier.data, earlier.drop, earlier.detail = None, "duplicate_path", "a later member has the same path"
    return ordered


def _unsafe(name: str, size: int) -> RepoFile:
    return RepoFile(unsafe_placeholder(name), None, size, "unsafe_path", f"member name {name!r}")


# ---- tar ------------------------------------------------------------------------------------

def _tar_member(tar: tarfile.TarFile, member: tarfile.TarInfo, budget: RepoBudget) -> RepoFile | None:
    if member.isdir():
        return None  # directories carry no content
    path = member_path(member.name)
    if path is None:
        return _unsafe(member.name, member.size)
    if member.issym() or member.islnk():
        return RepoFile(path, None, member.size, "link", f"-> {member.linkname}")
    if not member.isreg():
        kinds = {tarfile.CHRTYPE: "character device", tarfile.BLKTYPE: "block device", tarfile.FIFOTYPE: "fifo"}
        return RepoFile(path, None, member.size, "special_file", kinds.get(member.type, f"tar type {member.type!r}"))
    refusal = budget.refuse(member.size)
    if refusal:
        return RepoFile(path, None, member.size, *refusal)
    data = tar.extractfile(member).read(member.size)  # tarfile never reads past member.size
    if len(data) != member.size:
        raise tarfile.ReadError(f"member {member.name!r} is truncated")
    budget.used += len(data)
    return RepoFile(path, data, member.size)


def tar_files(src) -> Iterator[RepoFile]:
    """All members of a tar (.tar, .tar.gz, .tgz, .tar.bz2, .tar.xz), read in one forward pass."""
    budget, records, failure = RepoBudget(src.limits), [], None
    try:
        fh = open(src.location, "rb")
    except OSError as err:
        yield RepoFile("", None, 0, "unreadable", str(err))
        return
    try:
        # "r|*": a stream, so a compressed tar is decompressed once, front to back, never seeked.
        with fh, tarfile.open(fileobj=fh, mode="r|*") as tar:
            for count, member in enumerate(tar, 1):
                if count > src.limits.max_archive_members:
                    failure = ("repo_too_large", f"more than {src.limits.max_archive_members} members")
                    break
                record = _tar_member(tar, member, budget)
                if record is not None:
                    records.append(record)
    except _DAMAGE as err:
        failure = ("corrupt_archive", f"{type(err).__name__}: {err}")
    yield from _strip_root_and_sort(records)
    if failure:
        yield RepoFile("", None, 0, *failure)


# ---- zip ------------------------------------------------------------------------------------

def _zip_refusal(info: zipfile.ZipInfo, max_ratio: float) -> tuple[str, str] | None:
    # Unix zips keep st_mode in the high bits; many writers set permissions only (no type bits).
    file_type = stat.S_IFMT(info.external_attr >> 16) if info.create_system == 3 else 0
    if file_type == stat.S_IFLNK:
        return "link", "symlink member"
    if file_type not in (0, stat.S_IFREG):
        return "special_file", f"file type {oct(file_type)}"
    if info.compress_type != zipfile.ZIP_STORED and info.file_size:
        ratio = info.file_size / max(info.compress_size, 1)
        if ratio > max_ratio:
            return "too_large", f"compression ratio {ratio:.0f} > {max_ratio:g} (zip bomb guard)"
    return None


def zip_files(src) -> Iterator[RepoFile]:
    """All members of a zip, sorted by path, read one at a time with a hard byte cap."""
    limits = src.limits
    try:
        archive = zipfile.ZipFile(src.location)
    except (FileNotFoundError, PermissionError) as err:
        yield RepoFile("", None, 0, "unreadable", str(err))
        return
    except _DAMAGE as err:
        yield RepoFile("", None, 0, "corrupt_archive", f"{type(err).__name__}: {err}")
        return
    with archive:
        infos = [i for i in archive.infolist() if not i.is_dir()]
        if len(infos) > limits.max_archive_members:
            yield RepoFile("", None, 0, "repo_too_large", f"{len(infos)} members > {limits.max_archive_members}")
            return
        # Decide every member from the central directory first, so paths can be stripped and sorted.
        planned, members = [], {}
        for info in infos:
            path = member_path(info.filename)
            record = _unsafe(info.filename, info.file_size) if path is None else RepoFile(path, None, info.file_size)
            if path is not None and (refusal := _zip_refusal(info, limits.max_compression_ratio)):
                record.drop, record.detail = refusal
            members[id(record)] = info
            planned.append(record)
        budget = RepoBudget(limits)
        for record in _strip_root_and_sort(planned):
            if record.drop is None:
                record.drop, record.detail = budget.refuse(record.size) or (None, "")
            if record.drop is None:
                try:
                    with archive.open(members[id(record)]) as fh:
                        data = fh.read(limits.max_file_bytes + 1)  # the header may lie about the size
                except (RuntimeError, NotImplementedError) as err:  # encrypted, unknown compression
                    record.drop, record.detail = "unreadable", str(err)
                except _DAMAGE as err:
                    yield RepoFile("", None, 0, "corrupt_archive", f"{record.path}: {type(err).__name__}: {err}")
                    return
                else:
                    if len(data) > limits.max_file_bytes:
                        record.drop, record.detail = "too_large", f"more than {limits.max_file_bytes} bytes"
                    else:
                        record.data = data
                        budget.used += len(data)
            yield record
