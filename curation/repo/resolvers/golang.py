"""Go: import paths under a module declared by a go.mod of the repository.

`module example.com/m` in dir/go.mod makes `import "example.com/m/pkg/x"` the package in
dir/pkg/x: every non-test .go file of that folder (a Go package is a folder, not a file).
Nested modules are honoured: the longest module path that prefixes the import wins.

Intra-repository: import paths equal to or under one of those module paths.
"""

from __future__ import annotations

import posixpath
import re

from curation.repo.imports import ImportRef
from curation.repo.resolvers.base import RepoIndex, Resolver

_MODULE = re.compile(r'^\s*module\s+"?([^\s"/][^\s"]*)"?', re.M)


class GoResolver(Resolver):
    def __init__(self, index: RepoIndex):
        super().__init__(index)
        modules = []
        for go_mod in index.named("go.mod"):
            match = _MODULE.search(index.read_text(go_mod) or "")
            if match:
                modules.append((match.group(1).rstrip("/"), posixpath.dirname(go_mod)))
        # longest module path first, so a nested module wins over its parent
        self.modules = sorted(modules, key=lambda m: (-len(m[0]), m[1]))

    def resolve(self, path: str, ref: ImportRef) -> tuple[bool, list[str]]:
        spec = ref.target
        for module, root in self.modules:
            if spec == module or spec.startswith(module + "/"):
                rest = spec[len(module) + 1:]
                folder = posixpath.join(root, rest) if root else rest
                files = [p for p in self.index.files_in_dir.get(folder.rstrip("/"), ())
                         if p.endswith(".go") and not p.endswith("_test.go") and p != path]
                return True, files
        return False, []
