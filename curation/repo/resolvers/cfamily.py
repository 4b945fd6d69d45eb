"""C / C++: #include by the preprocessor's search order, then by path suffix.

`#include "x.h"`: the including file's folder, then the include folders (every folder named
include or inc, and the repository root), then — because build files add -I flags we do not
read — any repository file whose path ends with /x.h, the one nearest the includer winning.
`#include <x.h>`: the include folders, and the suffix rule only for names with a folder part
(<gtest/gtest.h>), so that <string.h> never lands on some unrelated string.h of the repo.

Intra-repository: quoted includes. Angle includes count only when they resolve: without the
file nothing distinguishes a project header from a system one.
"""

from __future__ import annotations

import posixpath
from collections import defaultdict

from curation.repo.imports import ImportRef
from curation.repo.resolvers.base import RepoIndex, Resolver, join

_INCLUDE_FOLDERS = ("include", "inc")


class CFamilyResolver(Resolver):
    def __init__(self, index: RepoIndex):
        super().__init__(index)
        self.include_dirs = [""] + sorted(d for d in index.dirs if posixpath.basename(d) in _INCLUDE_FOLDERS)
        self.by_name: dict[str, list[str]] = defaultdict(list)
        for path in sorted(index.paths):
            self.by_name[posixpath.basename(path)].append(path)

    def resolve(self, path: str, ref: ImportRef) -> tuple[bool, list[str]]:
        spec = ref.target.replace("\\", "/")
        system = ref.kind == "include_system"
        found = None
        if not system:
            found = self._existing(join(posixpath.dirname(path), spec))
        for folder in self.include_dirs:
            if found is None:
                found = self._existing(join(folder, spec))
        if found is None and (not system or "/" in spec):
            found = self._by_suffix(path, spec)
        if system:
            return found is not None, [found] if found else []
        return True, [found] if found else []

    def _existing(self, candidate: str | None) -> str | None:
        return candidate if candidate is not None and candidate in self.index.paths else None

    def _by_suffix(self, path: str, spec: str) -> str | None:
        spec = posixpath.normpath(spec)
        while spec.startswith("../"):
            spec = spec[3:]  # "../include/x.h" from an unknown -I folder: match on what is left
        suffix = "/" + spec
        candidates = [p for p in self.by_name.get(posixpath.basename(spec), ()) if p.endswith(suffix) or p == spec]
        if not candidates:
            return None
        # candidates are sorted, so among equally near ones max() keeps the first by path
        return max(candidates, key=lambda c: len(posixpath.commonpath([c, path])))
