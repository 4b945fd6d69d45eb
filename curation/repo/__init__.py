"""Repository-level structure: parse files, extract imports, resolve them, order files by dependency.

    graph = build_repo_graph({"pkg/__init__.py": "...", "pkg/a.py": "from . import b", ...})
    files, cycles = dependency_order(paths, graph.edges)
"""

__all__ = ["SUPPORTED_LANGUAGES", "DependencyOrder", "FileImports", "ImportRef", "ParseResult", "RefCounts",
           "RepoGraph", "build_repo_graph", "dependency_order", "extract_imports", "parse", "read_repository",
           "resolve_repository"]

# Resolved on first use, so that `curation.repo.settings` (read by every config load) does not
# import the parsers, resolvers and graph code.
_HOME = {
    "build_repo_graph": "graph", "read_repository": "graph",
    "FileImports": "imports", "ImportRef": "imports", "extract_imports": "imports",
    "DependencyOrder": "order", "dependency_order": "order",
    "SUPPORTED_LANGUAGES": "parsing", "ParseResult": "parsing", "parse": "parsing",
    "RefCounts": "resolve", "RepoGraph": "resolve", "resolve_repository": "resolve",
}


def __getattr__(name: str):
    if name not in _HOME:
        raise AttributeError(f"module 'curation.repo' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"curation.repo.{_HOME[name]}"), name)
