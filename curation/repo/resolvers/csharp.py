"""C#: namespaces to the files that declare them.

`using A.B;` depends on every file declaring namespace A.B (C# has no file-level imports).
`using static A.B.C;` and `using X = A.B.C;` name a type: the file A.B's C.cs when there is one
(the near-universal one-type-per-file convention), else every file of namespace A.B.

Within a namespace, the files whose name (the type they hold, by convention) the importing file
uses are preferred; when it uses none of them, every file of the namespace is a dependency.

Intra-repository: usings whose namespace, or for static/alias usings a prefix of the name, is
declared by a file of the repository.
"""

from __future__ import annotations

import posixpath
from collections import defaultdict

from curation.repo.imports import ImportRef
from curation.repo.resolvers.base import RepoIndex, Resolver


class CSharpResolver(Resolver):
    def __init__(self, index: RepoIndex):
        super().__init__(index)
        self.namespaces: dict[str, list[str]] = defaultdict(list)
        self.types: dict[str, str] = {}
        for path in sorted(index.imports):
            if index.languages.get(path) != "csharp":
                continue
            stem = posixpath.splitext(posixpath.basename(path))[0]
            for namespace in index.imports[path].declares:
                self.namespaces[namespace].append(path)
                self.types.setdefault(f"{namespace}.{stem}", path)

    def resolve(self, path: str, ref: ImportRef) -> tuple[bool, list[str]]:
        name = ref.target
        if name in self.namespaces:
            return True, self._files(path, name)
        if ref.kind == "using":
            return False, []
        parts = name.split(".")
        for end in range(len(parts) - 1, 0, -1):
            namespace = ".".join(parts[:end])
            if namespace in self.namespaces:
                typed = self.types.get(f"{namespace}.{parts[end]}")
                return True, [typed] if typed else self._files(path, namespace)
        return False, []

    def _files(self, path: str, namespace: str) -> list[str]:
        files = [p for p in self.namespaces[namespace] if p != path]
        imports = self.index.imports.get(path)
        uses = imports.uses if imports is not None else frozenset()
        used = [p for p in files if posixpath.splitext(posixpath.basename(p))[0] in uses]
        return used or files or [path]
