"""Python: packages and modules by file layout, as the import system would find them.

Source roots: the repository root, `src/`, and the parent of every top-level package (a folder
with __init__.py whose parent has none) — this covers flat, src- and nested layouts. A file
outside any package also sees its own folder (the script's folder is on sys.path).

Intra-repository: relative imports, and absolute imports whose first name is a module, a
package or a namespace folder holding Python files (not named like a stdlib module), at one of
the roots the file sees. A Cython .pyx counts as the source of the extension module it builds.
"""

from __future__ import annotations

import posixpath
import sys

from curation.repo.imports import ImportRef
from curation.repo.resolvers.base import RepoIndex, Resolver

_SUFFIXES = (".py", ".pyi")
# A compiled extension (`from ._speedups import f`) has its source beside it; Cython's is the
# module's own source text, C's is not (any .c file may be the extension), so only .pyx counts.
_EXTENSION_SOURCES = (".pyx",)


class PythonResolver(Resolver):
    def __init__(self, index: RepoIndex):
        super().__init__(index)
        self.packages = {posixpath.dirname(p) for p in index.paths
                         if posixpath.basename(p) in ("__init__.py", "__init__.pyi")}
        roots = {""}
        if "src" in index.dirs:
            roots.add("src")
        for package in self.packages:
            parent = posixpath.dirname(package)
            if parent not in self.packages:
                roots.add(parent)
        # Deepest first: a nested project's own root wins over the repository root.
        self.roots = sorted(roots, key=lambda r: (-r.count("/") - (r != ""), r))
        self._python_dirs = {posixpath.dirname(p) for p in index.paths if p.endswith(_SUFFIXES)}
        # folder -> every folder below it holds Python somewhere: a namespace package candidate
        self._has_python_below: set[str] = set()
        for folder in self._python_dirs:
            while folder not in self._has_python_below:
                self._has_python_below.add(folder)
                if not folder:
                    break
                folder = posixpath.dirname(folder)
        # top-level name -> the roots where it is importable, so that a lookup does not scan
        # every root (monorepos have hundreds)
        children: dict[str, set[str]] = {}
        for path in index.paths:
            parent, name = posixpath.split(path)
            stem, suffix = posixpath.splitext(name)
            if suffix in _SUFFIXES + _EXTENSION_SOURCES:
                children.setdefault(parent, set()).add(stem)
        for folder in index.dirs:
            if folder:
                parent, name = posixpath.split(folder)
                children.setdefault(parent, set()).add(name)
        self._importable_at: dict[str, list[str]] = {}
        for root in self.roots:
            for name in children.get(root, ()):
                if self._exists(root, name):
                    self._importable_at.setdefault(name, []).append(root)

    def resolve(self, path: str, ref: ImportRef) -> tuple[bool, list[str]]:
        folder = posixpath.dirname(path)
        if ref.level:
            base: str | None = folder
            for _ in range(ref.level - 1):
                base = None if not base else posixpath.dirname(base)
                if base is None:
                    return True, []
            return True, self._from_base(base, ref)
        first = ref.target.split(".", 1)[0]
        if folder not in self.packages and self._exists(folder, first):
            root = folder  # a script's own folder comes first on sys.path
        elif first in self._importable_at:
            root = self._importable_at[first][0]
        else:
            return False, []
        if ref.kind == "import":
            return True, self._longest(root, ref.target)
        return True, self._from_base(root, ref)

    def _exists(self, root: str, name: str) -> bool:
        base = posixpath.join(root, name) if root else name
        if self._module(base) is not None:
            return True
        # A namespace package (a folder without __init__) loses to any regular module of the
        # same name elsewhere on sys.path, so a tests/typing/ folder never shadows `typing`.
        return base in self._has_python_below and name not in sys.stdlib_module_names

    def _module(self, base: str) -> str | None:
        """The file of module or package `base` (a path without suffix), or None."""
        # A package shadows a module of the same name, as in the import system's FileFinder.
        paths = self.index.paths
        for suffix in _SUFFIXES:
            init = f"{base}/__init__{suffix}"
            if init in paths:
                return init
        for suffix in _SUFFIXES + _EXTENSION_SOURCES:
            if base + suffix in paths:
                return base + suffix
        return None

    def _longest(self, root: str, dotted: str) -> list[str]:
        """`import a.b.c`: the deepest of a.b.c, a.b, a that is a file."""
        parts = dotted.split(".")
        for end in range(len(parts), 0, -1):
            found = self._module(posixpath.join(root, *parts[:end]))
            if found is not None:
                return [found]
        return []

    def _from_base(self, base: str, ref: ImportRef) -> list[str]:
        """`from X import n1, n2` with X's folder-or-module found from `base`."""
        module_base = posixpath.join(base, *ref.target.split(".")) if ref.target else base
        module = self._module(module_base) if module_base else None
        targets = []
        for name in ref.names:
            if name != "*":
                submodule = self._module(posixpath.join(module_base, name) if module_base else name)
                if submodule is not None:
                    targets.append(submodule)
                    continue
            if module is not None:
                targets.append(module)
        if not ref.names and module is not None:
            targets.append(module)
        if not targets and ref.target:
            # `from a.b.c import X` where only a.b is a file (c is a name defined in it)
            found = self._longest(base, ref.target)
            targets.extend(found)
        return list(dict.fromkeys(targets))
