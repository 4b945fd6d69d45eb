"""Rust: module files by the compiler's layout rules, from each file's crate root.

A module is (file, folder of its child modules). Crate roots are lib.rs, main.rs, build.rs and
the files directly in tests/, examples/, benches/ and src/bin/; their child modules live in their
own folder, while `a.rs` keeps its children in `a/` and `a/mod.rs` in `a/`.
`mod x;` -> x.rs or x/mod.rs in the declaring module's folder. `use crate::a::b::C` walks from
the crate root: each segment that is a module file moves on; the first that is not ends the
walk in the file reached (C is an item defined there).

Intra-repository: `mod x;`, and `use` paths starting with crate, self, super, the package's own
library name (tests/ and examples/ use the library that way), or a module that the same file
declares with `mod` (2018 uniform paths).
"""

from __future__ import annotations

import posixpath
import tomllib

from curation.repo.imports import ImportRef
from curation.repo.resolvers.base import RepoIndex, Resolver

_ROOT_FOLDERS = ("tests", "examples", "benches", "bin")


class RustResolver(Resolver):
    def __init__(self, index: RepoIndex):
        super().__init__(index)
        self._crate_root_cache: dict[str, str | None] = {}
        self._library_cache: dict[str, tuple[str, str] | None] = {}
        self._declared: dict[tuple[str, str], set[str]] = {}

    # --- layout --------------------------------------------------------------------------

    def is_crate_root(self, path: str) -> bool:
        name = posixpath.basename(path)
        if name in ("lib.rs", "main.rs", "build.rs"):
            return True
        folder = posixpath.dirname(path)
        if posixpath.basename(folder) not in _ROOT_FOLDERS or name == "mod.rs":
            return False
        # tests/x.rs is a crate only in the package's own tests/ (src/runtime/tests/ is a module)
        package = posixpath.dirname(folder)
        if posixpath.basename(folder) == "bin":
            if posixpath.basename(package) != "src":
                return False
            package = posixpath.dirname(package)
        return posixpath.join(package, "Cargo.toml") in self.index.paths if package else (
            "Cargo.toml" in self.index.paths or not self.index.named("Cargo.toml"))

    def module_folder(self, path: str) -> str:
        """Where the child modules of the module defined by `path` live."""
        folder = posixpath.dirname(path)
        if posixpath.basename(path) == "mod.rs" or self.is_crate_root(path):
            return folder
        stem = posixpath.splitext(posixpath.basename(path))[0]
        return posixpath.join(folder, stem) if folder else stem

    def crate_root(self, path: str) -> str | None:
        if self.is_crate_root(path):
            return path
        return self._root_above(posixpath.dirname(path))

    def _root_above(self, folder: str) -> str | None:
        if folder not in self._crate_root_cache:
            found = None
            for name in ("lib.rs", "main.rs"):
                candidate = posixpath.join(folder, name) if folder else name
                if candidate in self.index.paths:
                    found = candidate
                    break
            if found is None and folder:
                found = self._root_above(posixpath.dirname(folder))
            self._crate_root_cache[folder] = found
        return self._crate_root_cache[folder]

    def child(self, folder: str, name: str) -> str | None:
        base = posixpath.join(folder, name) if folder else name
        for candidate in (base + ".rs", base + "/mod.rs"):
            if candidate in self.index.paths:
                return candidate
        return None

    def library(self, path: str) -> tuple[str, str] | None:
        """(crate name as written in paths, lib root file) of the Cargo package holding `path`."""
        folder = posixpath.dirname(path)
        while True:
            if folder in self._library_cache:
                return self._library_cache[folder]
            manifest = posixpath.join(folder, "Cargo.toml") if folder else "Cargo.toml"
            if manifest in self.index.paths:
                self._library_cache[folder] = self._read_library(folder, manifest)
                return self._library_cache[folder]
            if not folder:
                return None
            folder = posixpath.dirname(folder)

    def _read_library(self, folder: str, manifest: str) -> tuple[str, str] | None:
        try:
            data = tomllib.loads(self.index.read_text(manifest) or "")
        except tomllib.TOMLDecodeError:
            return None
        lib = data.get("lib") or {}
        name = lib.get("name") or (data.get("package") or {}).get("name")
        lib_path = lib.get("path") or "src/lib.rs"
        root = posixpath.normpath(posixpath.join(folder, lib_path)) if folder else posixpath.normpath(lib_path)
        if not isinstance(name, str) or root not in self.index.paths:
            return None
        return name.replace("-", "_"), root

    def _declares(self, path: str, kind: str) -> set[str]:
        key = (path, kind)
        if key not in self._declared:
            imports = self.index.imports.get(path)
            self._declared[key] = {r.target for r in imports.refs if r.kind == kind} if imports else set()
        return self._declared[key]

    # --- resolution ----------------------------------------------------------------------

    def resolve(self, path: str, ref: ImportRef) -> tuple[bool, list[str]]:
        if ref.kind == "mod":
            *outer, name = ref.target.split("::")
            found = self.child(posixpath.join(self.module_folder(path), *outer), name)
            return True, [found] if found else []
        segments = [s for s in ref.target.split("::") if s]
        if not segments:
            return False, []
        start = self._start(path, ref, segments)
        if start is None:
            # crate/self/super that lead nowhere (super above a crate root) are intra all the same
            return segments[0] in ("crate", "self", "super"), []
        file, folder, rest = start
        return True, self._walk(file, folder, rest)

    def _start(self, path: str, ref: ImportRef, segments: list[str]):
        """(file, module folder, remaining segments) where the path starts, None if not intra."""
        head = segments[0]
        inline = list(ref.names)
        if head == "crate":
            root = self.crate_root(path)
            return (root, self.module_folder(root), segments[1:]) if root else None
        if head in ("self", "super"):
            file, folder = path, self.module_folder(path)
            rest = segments
            if rest[0] == "self":
                rest = rest[1:]
            while rest and rest[0] == "super":
                rest = rest[1:]
                if inline:
                    inline.pop()  # super of an inline module is the enclosing one, same file
                    continue
                parent = self._parent(file, folder)
                if parent is None:
                    return None
                file, folder = parent
            return file, posixpath.join(folder, *inline) if inline else folder, rest
        if not ref.target.startswith("::") and (
                head in self._declares(path, "mod") or head in self._declares(path, "inline_mod")):
            return path, self.module_folder(path), segments
        library = self.library(path)
        if library is not None and head == library[0] and path != library[1]:
            return library[1], self.module_folder(library[1]), segments[1:]
        return None

    def _parent(self, file: str, folder: str) -> tuple[str, str] | None:
        """The module that declares the module (file, folder)."""
        if self.is_crate_root(file):
            return None
        parent_folder = posixpath.dirname(folder)
        for candidate in (posixpath.join(parent_folder, "mod.rs") if parent_folder else "mod.rs",
                          parent_folder + ".rs" if parent_folder else None,
                          posixpath.join(parent_folder, "lib.rs") if parent_folder else "lib.rs",
                          posixpath.join(parent_folder, "main.rs") if parent_folder else "main.rs"):
            if candidate and candidate in self.index.paths:
                return candidate, parent_folder
        return None

    def _walk(self, file: str, folder: str, rest: list[str]) -> list[str]:
        for segment in rest:
            if segment in ("self", "*"):
                break
            found = self.child(folder, segment)
            if found is None:
                # Declared as `mod segment;` in the file reached but its file is missing: unresolved.
                # Otherwise `segment` is an item or an inline module of that file.
                if segment in self._declares(file, "mod"):
                    return []
                break
            file, folder = found, posixpath.join(folder, segment)
        return [file]
