"""Reading a repository's history with few git processes.

Everything a task needs comes from four streams, never from one process per file:
  log       one `git log --raw -z` for the whole range: metadata and changed paths with blob ids
  patches   one `git diff-tree --stdin -p` fed the (commit, parent) pairs that survived the cheap rules
  objects   one long-lived `git cat-file --batch`: blob contents and tree objects by id
  trees     a parent's file list, walked from tree objects and cached per tree id, so the many
            subtrees that two neighbouring commits share are read once

History mode: first-parent by default. A first-parent walk sees each pull request once, as its
merge commit diffed against the mainline parent (the whole change, with the PR's title and body
in the merge message); the commits inside the branch are not in the range at all. With
`first_parent=False` every commit reachable is in the range and merge commits are skipped
("merge_commit"): their changes are already the changes of the branch commits.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

NULL_OID = "0" * 40
# Subtrees kept by id: neighbouring commits share most of them.
TREE_CACHE_TREES = 50_000
_HEX40 = re.compile(r"[0-9a-f]{40}\Z")


class GitError(RuntimeError):
    """A git command failed; the message names the repository and the command."""


@dataclass(frozen=True)
class Change:
    """One path of a commit's raw diff against its (first) parent."""

    path: str
    status: str        # A, M, D, T (renames are off: a move is a D and an A)
    old_oid: str       # NULL_OID when added
    new_oid: str       # NULL_OID when deleted
    old_mode: str
    new_mode: str


@dataclass
class Commit:
    oid: str
    parents: list[str]
    author: str
    email: str
    message: str
    changes: list[Change] = field(default_factory=list)

    @property
    def parent(self) -> str | None:
        return self.parents[0] if self.parents else None

    @property
    def is_merge(self) -> bool:
        return len(self.parents) > 1


@dataclass(frozen=True)
class TreeEntry:
    path: str
    oid: str
    mode: str


def git(repo: str | Path, *args: str, input: bytes | None = None) -> bytes:
    cmd = ["git", "-C", str(repo), *args]
    proc = subprocess.run(cmd, input=input, capture_output=True, check=False)  # the error names the repo
    if proc.returncode != 0:
        raise GitError(f"{repo}: `git {' '.join(args)}` failed: {proc.stderr.decode('utf-8', 'replace').strip()}")
    return proc.stdout


def is_git_repository(path: str | Path) -> bool:
    path = Path(path)
    return (path / ".git").exists() or ((path / "HEAD").is_file() and (path / "objects").is_dir())


def read_log(repo: str | Path, revisions: list[str], *, first_parent: bool = True,
             max_commits: int | None = None) -> list[Commit]:
    """Commits of the range, newest first, each with its raw changes against its first parent."""
    args = ["log", "--raw", "--no-abbrev", "-z", "--no-renames", "--diff-merges=first-parent",
            "--format=%x1e%H%x00%P%x00%an%x00%ae%x00%B%x00"]
    if first_parent:
        args.append("--first-parent")
    if max_commits is not None:
        args.append(f"--max-count={max_commits}")
    out = git(repo, *args, *revisions, "--")
    return parse_log(out.decode("utf-8", "surrogateescape"))


def parse_log(out: str) -> list[Commit]:
    commits: list[Commit] = []
    tokens = out.split("\0")
    i = 0
    while i < len(tokens):
        token = tokens[i].lstrip("\n")
        if token.startswith("\x1e") and _HEX40.match(token[1:]):
            oid = token[1:]
            parents, author, email, message = tokens[i + 1], tokens[i + 2], tokens[i + 3], tokens[i + 4]
            commits.append(Commit(oid, parents.split(), author, email, message))
            i += 5
            continue
        if token.startswith(":"):
            old_mode, new_mode, old_oid, new_oid, status = token[1:].split(" ")
            commits[-1].changes.append(Change(tokens[i + 1], status[0], old_oid, new_oid, old_mode, new_mode))
            i += 2
            continue
        i += 1  # the empty token between a message and its raw entries
    return commits


def read_patches(repo: str | Path, pairs: list[tuple[str, str]]) -> dict[str, bytes]:
    """commit -> its unified diff against the given parent, for many pairs in one process.

    `diff-tree --stdin` echoes each commit id on a line of its own before that commit's diff;
    no diff line starts with 40 hex digits (they start with "diff", " ", "+", "-", "@", ...).
    """
    if not pairs:
        return {}
    expected = {commit for commit, _ in pairs}
    out = git(repo, "diff-tree", "--stdin", "-p", "--no-renames", "--full-index", "--no-color",
              input="".join(f"{c} {p}\n" for c, p in pairs).encode())
    patches: dict[str, bytearray] = {c: bytearray() for c in expected}
    current = None
    for line in out.splitlines(keepends=True):
        head = line.rstrip(b"\n").decode("ascii", "replace")
        if head in expected:
            current = head
            continue
        if current is None:
            raise GitError(f"{repo}: unexpected diff-tree output before the first commit id: {line[:80]!r}")
        patches[current] += line
    return {c: bytes(p) for c, p in patches.items()}


class ObjectReader:
    """A long-lived `git cat-file --batch`: object contents by id; tree listings cached by tree id."""

    def __init__(self, repo: str | Path):
        self.repo = str(repo)
        self._proc = subprocess.Popen(["git", "-C", self.repo, "cat-file", "--batch"], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self._trees: dict[str, list[TreeEntry]] = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.stdin.close()
            self._proc.wait()

    def read(self, spec: str) -> tuple[str, bytes]:
        """(object type, content) of an object id or `rev:path`-style spec."""
        self._proc.stdin.write(spec.encode("utf-8", "surrogateescape") + b"\n")
        self._proc.stdin.flush()
        header = self._proc.stdout.readline().decode("utf-8", "replace").split()
        if len(header) != 3:
            raise GitError(f"{self.repo}: cat-file cannot read {spec!r}: {' '.join(header)}")
        _, kind, size = header
        data = self._proc.stdout.read(int(size))
        self._proc.stdout.read(1)  # the newline after the content
        return kind, data

    def blob(self, oid: str) -> bytes:
        return self.read(oid)[1]

    def tree(self, commit: str) -> list[TreeEntry]:
        """Every blob (and symlink, submodule) of a commit's tree, recursively, sorted by path."""
        _, data = self.read(f"{commit}^{{tree}}")
        return self._walk(data, "")

    def _walk(self, data: bytes, prefix: str) -> list[TreeEntry]:
        entries: list[TreeEntry] = []
        pos = 0
        while pos < len(data):
            space = data.index(b" ", pos)
            nul = data.index(b"\0", space)
            mode = data[pos:space].decode()
            name = data[space + 1:nul].decode("utf-8", "surrogateescape")
            oid = data[nul + 1:nul + 21].hex()
            pos = nul + 21
            path = f"{prefix}{name}"
            if mode == "40000":
                if oid not in self._trees:
                    if len(self._trees) >= TREE_CACHE_TREES:
                        self._trees.clear()  # a fresh start costs one re-read of the trees in use
                    self._trees[oid] = self._walk(self.read(oid)[1], "")
                entries.extend(TreeEntry(f"{path}/{e.path}", e.oid, e.mode) for e in self._trees[oid])
            else:
                entries.append(TreeEntry(path, oid, mode))
        return entries
