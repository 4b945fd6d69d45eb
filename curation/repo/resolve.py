"""Resolve the import references of a repository's files to other files of the same repository.

Input: every path of the repository, the parsed imports of its source files, and a reader for
the few build files that say where modules live (go.mod, Cargo.toml, tsconfig.json).
Output: RepoGraph — edges (A depends on B) and, per language, how many references were seen,
how many of them look intra-repository, and how many of those were resolved.

"Intra-repository" is decided per language without looking at the resolution result, so the
resolved share measures the resolver (see each resolver's module for its exact definition):
  python      relative imports; absolute imports whose top-level name is a module or package
              present in the repo (at a source root, or beside the importing script)
  js/ts       relative specifiers ("./", "../"); specifiers matching a tsconfig `paths` pattern
  java        imports whose package (a proper prefix of the name) is declared by a repo file
  go          import paths under a module declared by a go.mod of the repo
  rust        `mod x;`, `use` paths starting with crate/self/super, the package's own crate
              name, or a module declared by `mod` in the same file
  c, cpp      quoted includes; angle includes only when they resolve (a system header
              is not intra-repository, and nothing tells the two apart without the file)
  csharp      usings whose namespace (or, for static/alias usings, its prefix) a repo file declares
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from curation.repo.imports import FileImports, ImportRef
from curation.repo.resolvers.base import RepoIndex, Resolver
from curation.repo.resolvers.cfamily import CFamilyResolver
from curation.repo.resolvers.csharp import CSharpResolver
from curation.repo.resolvers.golang import GoResolver
from curation.repo.resolvers.java import JavaResolver
from curation.repo.resolvers.javascript import JavaScriptResolver
from curation.repo.resolvers.python import PythonResolver
from curation.repo.resolvers.rust import RustResolver


@dataclass
class RefCounts:
    seen: int = 0        # every extracted reference
    intra: int = 0       # references that look intra-repository
    resolved: int = 0    # intra references resolved to at least one file (or to the file itself)

    @property
    def resolved_share(self) -> float:
        return self.resolved / self.intra if self.intra else 1.0


@dataclass
class RepoGraph:
    edges: list[tuple[str, str]]                   # (dependent, dependency), sorted, unique
    counts: dict[str, RefCounts]                    # per language id of the importing file
    unresolved: list[tuple[str, ImportRef]] = field(default_factory=list)  # intra, unresolved


RESOLVERS: dict[str, type[Resolver]] = {
    "python": PythonResolver, "javascript": JavaScriptResolver, "typescript": JavaScriptResolver,
    "tsx": JavaScriptResolver, "java": JavaResolver, "go": GoResolver, "rust": RustResolver,
    "c": CFamilyResolver, "cpp": CFamilyResolver, "csharp": CSharpResolver,
}


def resolve_repository(paths: Iterable[str], imports: Mapping[str, FileImports],
                       languages: Mapping[str, str],
                       read_text: Callable[[str], str | None] = lambda path: None,
                       implicit: bool = True) -> RepoGraph:
    """Edges and counts for one repository.

    paths: every file of the repository (headers, .d.ts and build files included: they are
    resolution targets even when not parsed). imports/languages: for the parsed source files.
    read_text: returns the text of a build file (go.mod, Cargo.toml, tsconfig.json) or None.
    implicit: also add dependencies that need no import (Java classes of the file's own package).
    They are real, but in tightly knit code (the JDK) they merge many files into one cycle.
    """
    index = RepoIndex(paths, imports, languages, read_text)
    classes = RESOLVERS
    resolvers: dict[type[Resolver], Resolver] = {}
    edges: set[tuple[str, str]] = set()
    counts: dict[str, RefCounts] = {}
    unresolved: list[tuple[str, ImportRef]] = []
    for path in sorted(imports):
        lang = languages.get(path)
        cls = classes.get(lang)
        if cls is None:
            continue
        if cls not in resolvers:
            resolvers[cls] = cls(index)
        resolver = resolvers[cls]
        count = counts.setdefault(lang, RefCounts())
        if implicit:
            edges.update((path, target) for target in resolver.implicit(path) if target != path)
        for ref in imports[path].refs:
            if ref.kind == "inline_mod":
                continue
            count.seen += 1
            intra, targets = resolver.resolve(path, ref)
            if not intra:
                continue
            count.intra += 1
            if targets:
                count.resolved += 1
                edges.update((path, target) for target in targets if target != path)
            else:
                unresolved.append((path, ref))
    return RepoGraph(sorted(edges), counts, unresolved)
