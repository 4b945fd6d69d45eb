"""Enumerate the files of repositories safely: plain dirs, git revisions, archives, installed dists.

A `RepoSource` yields `RepoFile`s sorted by path. Nothing is followed, extracted or read blindly:
symlinks are reported instead of followed, sizes are checked before a byte is read, and a file
that cannot be read becomes a drop with a reason code, never an exception, so the reader can put
it in removed/ with its reason.

Drop codes: "symlink", "too_large", "unsafe_path", "link", "special_file", "submodule",
"corrupt_archive", "unreadable", "repo_too_large", and "duplicate_path" (an archive that holds
the same path twice: the last member wins, as when extracting, the earlier ones are dropped).

An empty git repository (no commits) is not an error: its source has rev "" and
note "empty repository (no commits)", and yields no files. The reader records the note.
Tar/zip reading lives in archives.py; Stack-style tables (parquet/jsonl rows) in tables.py.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import stat
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import NamedTuple

from curation.ingest import archives
from curation.ingest.files import (
    Limits,
    RepoBudget,
    RepoFile,
    SourceError,
    is_utf8,
    unsafe_placeholder,
)
from curation.ingest.walk import scan_tree, tree_size

LAYOUTS = ("auto", "repo", "collection")
# Longest first, so "x.tar.gz" loses ".tar.gz" and not just ".gz".
ARCHIVE_SUFFIXES = {".tar.gz": "tar", ".tar.bz2": "tar", ".tar.xz": "tar", ".tgz": "tar",
                    ".tar": "tar", ".zip": "zip"}
EMPTY_GIT_NOTE = "empty repository (no commits)"
# What a file costs an ingest task beyond its bytes, in bytes (RepoSource.cost_hint).
FILE_COST_BYTES = 6_000


@dataclass
class RepoSource:
    name: str
    rev: str  # 40-hex sha (git), "worktree" (dir), "sha256:<12 hex>" (archive), version (dist)
    kind: str  # "dir" | "git" | "tar" | "zip" | "dist"
    location: str
    limits: Limits = field(default_factory=Limits)
    note: str = ""  # why a source yields nothing, e.g. EMPTY_GIT_NOTE
    date: datetime | None = None  # git: the commit (committer) date of rev, UTC; the keep rule prefers newer
    _sizes: tuple[int, int] | None = field(default=None, init=False, repr=False, compare=False)

    def files(self) -> Iterator[RepoFile]:
        """Every file of the source, sorted by path; unreadable ones as drops. Never raises."""
        readers = {"dir": _dir_files, "git": _git_files, "dist": _dist_files,
                   "tar": archives.tar_files, "zip": archives.zip_files}
        return readers[self.kind](self)

    def size_hint(self) -> int:
        """Cheap estimate of the bytes files() will yield (the progress ETA, the installed budget).

        Files over max_file_bytes are left out: they are never read, so they cost a task nothing.
        Computed once: task assignment asks for it repeatedly.
        """
        return self._size()[0]

    def cost_hint(self) -> int:
        """Estimated work of reading this source, in bytes: its bytes plus FILE_COST_BYTES a file,
        for balancing tasks. Every file costs a task more than its bytes (it is opened, classified,
        filtered, redacted, hashed and written as a row): measured on the registry corpus, a task
        of 6,918 files took 1.45x as long as one of 3,081 files and the same bytes."""
        size, files = self._size()
        return size + FILE_COST_BYTES * files

    def _size(self) -> tuple[int, int]:
        if self._sizes is None:
            try:
                self._sizes = self._estimate_size()
            except (OSError, SourceError):
                self._sizes = (0, 0)  # files() will report why it cannot read this source
        return self._sizes

    def _estimate_size(self) -> tuple[int, int]:
        """(bytes, files)."""
        cap = self.limits.max_file_bytes
        if self.kind == "dir":
            return tree_size(self.location, cap)
        if self.kind == "git":
            sizes = [e.size for e in _git_tree(self) if e.drop is None and e.size <= cap] if self.rev else []
            return sum(sizes), len(sizes)
        if self.kind == "dist":
            sizes = [p.size or 0 for p in _dist_paths(self)[1]]
            return sum(sizes), len(sizes)
        return os.path.getsize(self.location), 0  # archives: compressed size is good enough; members unlisted


# ---- shared by every kind -------------------------------------------------------------------

def _drop(path: str, size: int, drop: str, detail: str = "") -> RepoFile:
    if not is_utf8(path):
        return RepoFile(unsafe_placeholder(path), None, size, "unsafe_path", "path is not valid UTF-8")
    return RepoFile(path, None, size, drop, detail)


def _read_regular(full: str, budget: RepoBudget) -> tuple[bytes | None, str | None, str]:
    """Read a file that lstat called regular, refusing anything it became since (a race)."""
    try:
        # O_NOFOLLOW: a symlink swapped in after the scan is refused; O_NONBLOCK: so is a FIFO.
        fd = os.open(full, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as err:
        if err.errno == errno.ELOOP:
            return None, "symlink", "became a symlink while reading"
        return None, "unreadable", str(err)
    try:
        with os.fdopen(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                return None, "special_file", "not a regular file when opened"
            # One byte over the cap tells us the file grew past it after stat.
            data = fh.read(budget.limits.max_file_bytes + 1)
    except OSError as err:
        return None, "unreadable", str(err)
    if len(data) > budget.limits.max_file_bytes:
        return None, "too_large", f"grew past {budget.limits.max_file_bytes} while reading"
    budget.used += len(data)
    return data, None, ""


def _file_from_disk(rel: str, full: str, st: os.stat_result, budget: RepoBudget) -> RepoFile:
    if not is_utf8(rel):
        return _drop(rel, st.st_size, "unsafe_path")
    if stat.S_ISLNK(st.st_mode):
        try:
            target = os.readlink(full)
        except OSError as err:
            target = str(err)
        return RepoFile(rel, None, st.st_size, "symlink", f"-> {target}")
    if not stat.S_ISREG(st.st_mode):
        return RepoFile(rel, None, st.st_size, "special_file", _file_type(st.st_mode))
    refusal = budget.refuse(st.st_size)
    if refusal:
        return RepoFile(rel, None, st.st_size, *refusal)
    data, drop, detail = _read_regular(full, budget)
    return RepoFile(rel, data, st.st_size, drop, detail)


def _file_type(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "fifo"), (stat.S_ISSOCK, "socket"),
                       (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device")):
        if test(mode):
            return name
    return f"file mode {oct(mode)}"


# ---- dir ------------------------------------------------------------------------------------

def _dir_files(src: RepoSource) -> Iterator[RepoFile]:
    budget = RepoBudget(src.limits)
    for entry in scan_tree(Path(src.location)):
        if entry.st is None:
            yield _drop(entry.path, 0, entry.drop, entry.detail)
        else:
            yield _file_from_disk(entry.path, entry.full, entry.st, budget)


# ---- git ------------------------------------------------------------------------------------

# The caller's GIT_* variables (GIT_DIR, GIT_OBJECT_DIRECTORY, ...) would change what we read.
_GIT_ENV = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")} | {"GIT_TERMINAL_PROMPT": "0"}


def _git_dir(path: Path) -> Path:
    return path / ".git" if (path / ".git").exists() else path  # work tree, else a bare repo


def _git_cmd(location: str, *args: str) -> list[str]:
    # An explicit --git-dir: a broken .git must fail here, not fall back to a parent repository.
    return ["git", "--git-dir", str(_git_dir(Path(location))), "-c", "core.quotepath=off", *args]


def _git(location: str, *args: str) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(_git_cmd(location, *args), capture_output=True, env=_GIT_ENV, check=False)
    except FileNotFoundError:
        raise SourceError(f"{location}: git is not installed (needed to read a git repository)") from None


def _resolve_git_rev(location: str, rev: str) -> tuple[str, str]:
    """(commit sha, note); a repository without commits gives ("", EMPTY_GIT_NOTE)."""
    probe = _git(location, "rev-parse", "--git-dir")
    if probe.returncode:
        raise SourceError(f"{location}: not a readable git repository: {probe.stderr.decode(errors='replace').strip()}")
    if rev.startswith("-"):
        raise SourceError(f"{location}: invalid revision {rev!r}")
    found = _git(location, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    if found.returncode == 0:
        return found.stdout.decode().strip(), ""
    if not _git(location, "rev-list", "-n1", "--all").stdout.strip():
        return "", EMPTY_GIT_NOTE
    raise SourceError(f"{location}: revision {rev!r} is not a commit in this repository")


def _commit_date(location: str, sha: str) -> datetime | None:
    """The committer date of a commit (when it entered the branch, unlike the author date)."""
    if not sha:
        return None
    shown = _git(location, "show", "-s", "--format=%ct", sha)
    if shown.returncode:
        raise SourceError(f"{location}: cannot read the date of commit {sha}: "
                          f"{shown.stderr.decode(errors='replace').strip()}")
    return datetime.fromtimestamp(int(shown.stdout.strip()), tz=timezone.utc)


class _TreeEntry(NamedTuple):
    path: str
    oid: str
    mode: str
    drop: str | None
    size: int


def _git_tree(src: RepoSource) -> list[_TreeEntry]:
    listing = _git(src.location, "ls-tree", "-r", "-z", "--long", "--full-tree", src.rev)
    if listing.returncode:
        raise OSError(listing.stderr.decode(errors="replace").strip())
    entries = []
    for record in listing.stdout.split(b"\0"):
        if not record:
            continue
        meta, _, raw_path = record.partition(b"\t")
        mode, _kind, oid, size = meta.decode().split()
        drop = {"100644": None, "100755": None, "120000": "symlink", "160000": "submodule"}.get(mode, "special_file")
        path = raw_path.decode("utf-8", "surrogateescape")
        entries.append(_TreeEntry(path, oid, mode, drop, 0 if size == "-" else int(size)))
    return sorted(entries)


class _BlobReader:
    """One `git cat-file --batch` process serving every blob of a repo, one request at a time."""

    def __init__(self, location: str):
        self.proc = subprocess.Popen(_git_cmd(location, "cat-file", "--batch"), stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=_GIT_ENV)

    def read(self, oid: str, max_bytes: int) -> bytes:
        self.proc.stdin.write(oid.encode() + b"\n")
        self.proc.stdin.flush()
        header = self.proc.stdout.readline().split()
        if len(header) != 3:  # "<oid> missing", or the process died
            raise OSError(f"git cat-file: object {oid} {b' '.join(header[1:]).decode() or 'unavailable'}")
        size = int(header[2])
        if size > max_bytes:  # ls-tree said otherwise; never trust a size we have not checked
            raise OSError(f"object {oid} is {size} bytes, more than ls-tree reported")
        data = self.proc.stdout.read(size)
        self.proc.stdout.read(1)  # the newline after each object
        if len(data) != size:
            raise OSError(f"git cat-file ended inside object {oid}")
        return data

    def close(self) -> None:
        try:
            self.proc.stdin.close()
        except OSError:
            pass  # the process already died; wait() below still reaps it
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()


def _git_files(src: RepoSource) -> Iterator[RepoFile]:
    if not src.rev:
        return  # empty repository, see src.note
    try:
        tree = _git_tree(src)
        blobs = _BlobReader(src.location)
    except (OSError, SourceError) as err:
        yield RepoFile("", None, 0, "unreadable", f"git {src.rev}: {err}")
        return
    budget = RepoBudget(src.limits)
    try:
        for entry in tree:
            if not is_utf8(entry.path):
                yield _drop(entry.path, entry.size, "unsafe_path")
            elif entry.drop == "submodule":
                yield RepoFile(entry.path, None, 0, "submodule", f"commit {entry.oid}")
            elif entry.drop:
                yield RepoFile(entry.path, None, entry.size, entry.drop, f"mode {entry.mode}")
            elif refusal := budget.refuse(entry.size):
                yield RepoFile(entry.path, None, entry.size, *refusal)
            else:
                try:
                    data = blobs.read(entry.oid, entry.size)
                except (OSError, ValueError) as err:
                    yield RepoFile(entry.path, None, entry.size, "unreadable", str(err))
                    continue
                budget.used += len(data)
                yield RepoFile(entry.path, data, entry.size)
    finally:
        blobs.close()


# ---- installed distributions ------------------------------------------------------------------

def normalize_dist_name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()  # PEP 503


def installed_distributions(names: Iterable[str] | None = None) -> list[RepoSource]:
    """Each installed Python distribution as a repository of its RECORD files (no bytecode)."""
    from importlib import metadata

    wanted = None if names is None else {normalize_dist_name(n) for n in names}
    found: dict[str, RepoSource] = {}
    for dist in metadata.distributions():
        name = normalize_dist_name(dist.metadata["Name"] or "")
        # The first one on sys.path wins, as it does for import.
        if not name or name in found or (wanted is not None and name not in wanted):
            continue
        found[name] = RepoSource(name, dist.version, "dist", str(dist.locate_file("")))
        if dist.files is None:
            found[name].note = "no RECORD: installed files unknown"
    if wanted is not None and (missing := wanted - found.keys()):
        raise SourceError(f"installed distributions: not installed: {', '.join(sorted(missing))}")
    return [found[n] for n in sorted(found)]


def _dist_paths(src: RepoSource) -> tuple[Path, list]:
    from importlib import metadata

    dist = next(iter(metadata.distributions(name=src.name, path=[src.location])), None)
    files = (dist.files or []) if dist else []
    keep = [p for p in files if p.suffix != ".pyc" and "__pycache__" not in p.parts
            and ".." not in p.parts and not p.is_absolute()]  # "../../bin/x": outside site-packages
    return Path(src.location), sorted(keep, key=str)


def _dist_files(src: RepoSource) -> Iterator[RepoFile]:
    root, paths = _dist_paths(src)
    budget = RepoBudget(src.limits)
    for rel in dict.fromkeys(p.as_posix() for p in paths):
        full = str(root / rel)
        try:
            st = os.lstat(full)
        except FileNotFoundError:
            continue  # listed in RECORD but deleted since: not part of what is installed
        except OSError as err:
            yield RepoFile(rel, None, 0, "unreadable", str(err))
            continue
        yield _file_from_disk(rel, full, st, budget)


# ---- discovery ------------------------------------------------------------------------------

def archive_kind(path: Path) -> tuple[str, str] | None:
    """(kind, name without suffix) for an archive file name, else None."""
    lower = path.name.lower()
    for suffix, kind in ARCHIVE_SUFFIXES.items():
        if lower.endswith(suffix) and len(lower) > len(suffix):
            return kind, path.name[: -len(suffix)]
    return None


def _is_bare_git(path: Path) -> bool:
    return (path / "HEAD").is_file() and (path / "objects").is_dir() and (path / "refs").is_dir()


def _repo_kind(path: Path) -> str | None:
    if path.is_file():
        found = archive_kind(path)
        return found[0] if found else None
    if path.is_dir():
        return "git" if (path / ".git").exists() or _is_bare_git(path) else "dir"
    return None


def _children(root: Path) -> list[tuple[Path, str]]:
    """Direct children that are repositories; plain files that are not archives are no repos."""
    kids = [(child, _repo_kind(child)) for child in sorted(root.iterdir())]
    return [(child, kind) for child, kind in kids if kind]


def _is_collection(root: Path) -> bool:
    kids = [(child, _repo_kind(child)) for child in root.iterdir()]
    return any(kind in ("git", "tar", "zip") for _, kind in kids) or (
        bool(kids) and all(kind in ("dir", "git") for _, kind in kids))


def _open_source(path: Path, kind: str, rev: str, limits: Limits) -> RepoSource:
    location = os.path.abspath(path)
    name = Path(location).name
    if kind in ("tar", "zip"):
        name = archive_kind(path)[1]
        try:
            with open(location, "rb") as fh:
                digest = hashlib.file_digest(fh, "sha256").hexdigest()
        except OSError as err:
            raise SourceError(f"{location}: cannot read archive: {err}") from None
        return RepoSource(name, f"sha256:{digest[:12]}", kind, location, limits)
    if kind == "git":
        sha, note = _resolve_git_rev(location, rev)
        if not (path / ".git").exists() and name.endswith(".git") and len(name) > 4:
            name = name[:-4]  # bare "foo.git" is the repository "foo"
        return RepoSource(name, sha, "git", location, limits, note, date=_commit_date(location, sha))
    return RepoSource(name, "worktree", "dir", location, limits)


def _unique_names(sources: list[RepoSource]) -> list[RepoSource]:
    sources.sort(key=lambda s: (s.name, s.location))
    taken = {s.name for s in sources}
    seen: set[str] = set()
    for src in sources:
        if src.name in seen:
            n = 2
            while f"{src.name}-{n}" in taken:
                n += 1
            src.name = f"{src.name}-{n}"
            taken.add(src.name)
        seen.add(src.name)
    return sorted(sources, key=lambda s: s.name)


def discover_repos(path: str | Path, *, rev: str = "HEAD", layout: str = "auto",
                   limits: Limits = Limits(), errors: list[SourceError] | None = None) -> list[RepoSource]:
    """The repositories at `path`: itself ("repo"), its direct children ("collection"), or guess.

    "auto": a git repo or an archive is one repo; a dir holding any git repos or archives, or only
    directories, is a collection; any other dir is one repo. Symlinks are followed here (the
    user named these paths), never inside a repository. `rev` applies to every git repository.
    """
    root = Path(path)
    if layout not in LAYOUTS:
        raise SourceError(f"{root}: unknown layout {layout!r}; expected one of {', '.join(LAYOUTS)}")
    if not root.exists():
        raise SourceError(f"{root}: no such file or directory")
    kind = _repo_kind(root)
    if kind is None:
        raise SourceError(f"{root}: not a directory, git repository or archive "
                          f"({', '.join(ARCHIVE_SUFFIXES)})")
    if layout == "collection" and not root.is_dir():
        raise SourceError(f"{root}: a collection must be a directory")
    try:
        if layout == "collection" or (layout == "auto" and kind == "dir" and _is_collection(root)):
            found = _children(root)
        else:
            found = [(root, kind)]
    except OSError as err:
        raise SourceError(f"{root}: cannot list directory: {err}") from None
    if errors is None:
        return _unique_names([_open_source(p, k, rev, limits) for p, k in found])
    # The caller records a broken member of a collection and goes on with the others.
    opened = []
    for p, k in found:
        try:
            opened.append(_open_source(p, k, rev, limits))
        except SourceError as err:
            errors.append(err)
    return _unique_names(opened)
