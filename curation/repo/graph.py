"""One call from a repository's files to its dependency graph: detect, parse, extract, resolve."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from curation.ingest.languages import detect_language
from curation.repo.imports import FileImports, extract_imports
from curation.repo.parsing import SUPPORTED_LANGUAGES
from curation.repo.resolve import RepoGraph, resolve_repository


def build_repo_graph(files: Mapping[str, str], languages: Mapping[str, str | None] | None = None,
                     implicit: bool = True) -> RepoGraph:
    """files: repo-relative "/"-separated path -> text (include go.mod, Cargo.toml, tsconfig.json).

    languages: language id per path; detected from the path when not given (or None for a path).
    implicit: see resolve_repository.
    """
    langs: dict[str, str] = {}
    imports: dict[str, FileImports] = {}
    for path, text in files.items():
        lang = (languages or {}).get(path) or detect_language(path)
        if lang not in SUPPORTED_LANGUAGES:
            continue
        langs[path] = lang
        imports[path] = extract_imports(text, lang)
    return resolve_repository(files.keys(), imports, langs, files.get, implicit=implicit)


def read_repository(root: str | os.PathLike, max_bytes: int = 2 << 20) -> dict[str, str]:
    """Text of the files under `root` (repo-relative paths); binary and oversized files skipped.

    Symlinks are not followed: a link out of the tree would bring in another repository's files.
    """
    root = Path(root)
    files: dict[str, str] = {}
    for folder, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".git"))
        for name in sorted(filenames):
            full = Path(folder, name)
            if full.is_symlink() or full.stat().st_size > max_bytes:
                continue
            data = full.read_bytes()
            if b"\0" in data[:8192]:
                continue
            files[full.relative_to(root).as_posix()] = data.decode("utf-8", "replace")
    return files
