"""Repository-level structure: parse files, extract imports, resolve them, order files by dependency.

    graph = build_repo_graph({"pkg/__init__.py": "...", "pkg/a.py": "from . import b", ...})
    files, cycles = dependency_order(paths, graph.edges)
"""

from curation.repo.graph import build_repo_graph, read_repository
from curation.repo.imports import FileImports, ImportRef, extract_imports
from curation.repo.order import DependencyOrder, dependency_order
from curation.repo.parsing import SUPPORTED_LANGUAGES, ParseResult, parse
from curation.repo.resolve import RefCounts, RepoGraph, resolve_repository

__all__ = ["SUPPORTED_LANGUAGES", "DependencyOrder", "FileImports", "ImportRef", "ParseResult", "RefCounts",
           "RepoGraph", "build_repo_graph", "dependency_order", "extract_imports", "parse", "read_repository",
           "resolve_repository"]
