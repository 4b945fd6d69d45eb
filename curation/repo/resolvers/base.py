"""What every language resolver shares: the repository index, path joining, the Resolver base."""

from __future__ import annotations

import posixpath
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping

from curation.repo.imports import FileImports, ImportRef


class RepoIndex:
    """What resolvers need to know about the repository: its paths, folders and parsed imports."""

    def __init__(self, paths: Iterable[str], imports: Mapping[str, FileImports],
                 languages: Mapping[str, str], read_text: Callable[[str], str | None]):
        self.paths = frozenset(paths)
        self.imports = imports
        self.languages = languages
        self.read_text = read_text
        self.files_in_dir: dict[str, list[str]] = defaultdict(list)
        self.dirs: set[str] = {""}
        for path in sorted(self.paths):
            parent = posixpath.dirname(path)
            self.files_in_dir[parent].append(path)
            while parent not in self.dirs:
                self.dirs.add(parent)
                parent = posixpath.dirname(parent)

    def named(self, basename: str) -> list[str]:
        """Sorted paths whose file name is `basename` (go.mod, Cargo.toml, ...)."""
        if not hasattr(self, "_by_name"):
            by_name: dict[str, list[str]] = defaultdict(list)
            for path in sorted(self.paths):
                by_name[posixpath.basename(path)].append(path)
            self._by_name = by_name
        return self._by_name.get(basename, [])

    def has_file(self, path: str | None) -> bool:
        return path is not None and path in self.paths


def join(folder: str, relative: str) -> str | None:
    """Repo-relative normalized path, or None when `relative` climbs above the repository root."""
    joined = posixpath.normpath(posixpath.join(folder, relative)) if folder else posixpath.normpath(relative)
    if joined == ".":
        return ""
    if joined.startswith("../") or joined == ".." or joined.startswith("/"):
        return None
    return joined


class Resolver:
    """One per language family: `resolve(path, ref) -> (intra, targets)`.

    `targets` are repo paths the file depends on; an intra reference with no targets is
    unresolved, except that a resolver may return the importing file itself to say "resolved,
    to something defined in this very file" (no edge is made for it).
    """

    def __init__(self, index: RepoIndex):
        self.index = index

    def resolve(self, path: str, ref: ImportRef) -> tuple[bool, list[str]]:
        raise NotImplementedError

    def implicit(self, path: str) -> list[str]:
        """Dependencies without an import statement (Java's same-package classes); not counted."""
        return []
