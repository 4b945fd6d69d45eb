"""Java: classes by their declared package, whatever the source root (src/main/java, src, ...).

A file's package comes from its `package` declaration (the folder is not trusted: generated and
test sources often sit elsewhere); its class is the file name, as javac requires for public types.

A wildcard import (`import a.b.*`) depends on the classes of a.b whose names the file uses, and
a file depends on the classes of its own package that it names (Java needs no import for them);
those same-package edges are not import references and are not counted.

Intra-repository: imports whose package — some proper prefix of the imported name — is declared
by a file of the repository.
"""

from __future__ import annotations

import posixpath
from collections import defaultdict

from curation.repo.imports import ImportRef
from curation.repo.resolvers.base import RepoIndex, Resolver


class JavaResolver(Resolver):
    def __init__(self, index: RepoIndex):
        super().__init__(index)
        self.classes: dict[str, str] = {}
        self.packages: dict[str, list[str]] = defaultdict(list)
        self.package_of: dict[str, str] = {}
        for path in sorted(index.imports):
            if index.languages.get(path) != "java":
                continue
            declares = index.imports[path].declares
            package = declares[0] if declares else ""
            stem = posixpath.splitext(posixpath.basename(path))[0]
            self.packages[package].append(path)
            self.package_of[path] = package
            self.classes.setdefault(f"{package}.{stem}" if package else stem, path)

    def resolve(self, path: str, ref: ImportRef) -> tuple[bool, list[str]]:
        parts = ref.target.split(".")
        if parts[-1] == "*":
            parts = parts[:-1]
        if not any(".".join(parts[:end]) in self.packages for end in range(1, len(parts))) \
                and not (ref.kind == "import_all" and ".".join(parts) in self.packages):
            return False, []
        if ref.kind == "import_all" and ".".join(parts) in self.packages:
            # An unused wildcard import resolves to nothing to depend on: the file itself.
            return True, self._used(path, ".".join(parts)) or [path]
        if ref.kind == "static" and not ref.target.endswith(".*"):
            parts = parts[:-1]  # the member
        # Nested classes (a.b.Outer.Inner) live in the outer class's file.
        for end in range(len(parts), 0, -1):
            found = self.classes.get(".".join(parts[:end]))
            if found is not None:
                return True, [found]
            if ".".join(parts[:end - 1]) in self.packages:
                break  # reached the package: the class is not in the repository
        return True, []

    def implicit(self, path: str) -> list[str]:
        package = self.package_of.get(path)
        return self._used(path, package) if package is not None else []

    def _used(self, path: str, package: str) -> list[str]:
        """Classes of `package` whose names the file at `path` uses."""
        imports = self.index.imports.get(path)
        uses = imports.uses if imports is not None else frozenset()
        prefix = f"{package}." if package else ""
        return [p for p in self.packages.get(package, ())
                if p != path and p[p.rfind("/") + 1:-len(".java")] in uses
                and self.classes.get(prefix + p[p.rfind("/") + 1:-len(".java")]) == p]
