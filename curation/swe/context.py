"""A task's context at its base revision: the touched files, then what they import, in budget.

    selection   touched files (never dropped), then their dependencies through the import graph,
                nearest first (breadth-first from the touched files: direct imports, then the
                imports of those, ...; ties by path), each taken while it fits the budget
    order       the selected files in dependency order (curation.repo.order), as in repository
                documents: a file's dependencies come before it

Everything is read from git objects of the base revision and cached by blob id: the parsed
imports, the decoded text and the token count of a blob are computed once for the whole history,
since most files do not change from one commit to the next.
"""

from __future__ import annotations

import time
from collections import OrderedDict, defaultdict
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field

from curation.ingest.filetypes import (
    generated_reason,
    is_probably_binary,
    vendored_reason,
)
from curation.ingest.languages import detect_language
from curation.ingest.licenses import (
    is_license_file,
    license_class,
    resolve_repo_license,
    spdx_from_license_text,
    spdx_from_manifest,
)
from curation.repo.imports import FileImports, extract_imports
from curation.repo.order import dependency_order
from curation.repo.parsing import SUPPORTED_LANGUAGES
from curation.repo.resolve import resolve_repository
from curation.swe.git import ObjectReader, TreeEntry
from curation.swe.tokens import TokenCounter

# Regular files only: symlinks (120000) hold a path, submodules (160000) another repository.
_BLOB_MODES = ("100644", "100755")
# Decoded blob texts kept for the next commits (most files do not change between two commits).
TEXT_CACHE_BYTES = 256 << 20
# Build files the resolvers read to know where modules live.
_BUILD_FILES = ("go.mod", "Cargo.toml", "tsconfig.json", "jsconfig.json", "package.json")


@dataclass
class Timings:
    """Seconds spent per kind of work, for the benchmark's split."""

    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    @contextmanager
    def track(self, what: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[what] += time.perf_counter() - start


class BlobCache:
    """Text, imports and token counts of blobs, by blob id."""

    def __init__(self, objects: ObjectReader, tokenizer, timings: Timings):
        self.objects = objects
        self.tokenizer = tokenizer
        self.counter = TokenCounter(tokenizer)
        self.timings = timings
        # Texts are the one cache that grows with the repository's size: least recently used first
        # out past TEXT_CACHE_BYTES. Imports and token counts are small per blob and kept.
        self._text: OrderedDict[str, tuple[str | None, int]] = OrderedDict()  # oid -> (text, bytes)
        self._text_bytes = 0
        self._imports: dict[tuple[str, str], FileImports] = {}
        self._tokens: dict[str, int] = {}
        self.licenses: dict[tuple, tuple[str | None, str]] = {}

    def text(self, oid: str) -> str | None:
        """UTF-8 text of a blob, exactly its bytes; None when binary or not UTF-8."""
        if oid in self._text:
            self._text.move_to_end(oid)
            return self._text[oid][0]
        with self.timings.track("git"):
            data = self.objects.blob(oid)
        try:
            text = None if is_probably_binary(data) else data.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        self._text[oid] = (text, len(data))
        self._text_bytes += len(data)
        while self._text_bytes > TEXT_CACHE_BYTES and len(self._text) > 1:
            self._text_bytes -= self._text.popitem(last=False)[1][1]
        return text

    def imports(self, oid: str, lang: str) -> FileImports:
        key = (oid, lang)
        if key not in self._imports:
            text = self.text(oid) or ""
            with self.timings.track("parsing"):
                self._imports[key] = extract_imports(text, lang)
        return self._imports[key]

    def count_tokens(self, texts_by_key: dict[str, str], *, remember: bool = True) -> dict[str, int]:
        """Token counts by key (a blob id, a path, ...), batched. remember=False for texts seen once
        (a commit's message and diff): counted, not cached."""
        todo = {k: t for k, t in texts_by_key.items() if k not in self._tokens}
        counts = {}
        if todo:
            with self.timings.track("tokenizing"):
                counts = dict(zip(todo, self.counter.count(list(todo.values()))))
            if remember:
                self._tokens.update(counts)
        return {k: counts[k] if k in counts else self._tokens[k] for k in texts_by_key}


def tree_license(tree: list[TreeEntry], cache: BlobCache) -> tuple[str | None, str]:
    """(SPDX id, license class) from the root's license files and manifests, as ingest decides it."""

    key = tuple((e.path, e.oid) for e in tree if "/" not in e.path and e.mode in _BLOB_MODES)
    if key not in cache.licenses:
        votes = []
        for path, oid in key:
            text = cache.text(oid)
            if text is None:
                continue
            spdx = spdx_from_license_text(text) if is_license_file(path) else spdx_from_manifest(path, text)
            if spdx:
                votes.append(spdx)
        spdx = resolve_repo_license(votes)
        cache.licenses[key] = (spdx, license_class(spdx))
    return cache.licenses[key]


@dataclass
class Context:
    files: list[str]         # paths in document order
    contents: list[str]      # their texts at the base revision, same order
    tokens: int              # ids the file sections take (markers, paths and contents)
    dependencies: int        # how many of the files are not touched by the change


@dataclass
class ContextRefusal:
    reason: str
    detail: str


def select_context(tree: list[TreeEntry], touched: list[str], cache: BlobCache, budget: int, *,
                   max_file_bytes: int, max_parse_error_fraction: float, dependencies: bool = True
                   ) -> Context | ContextRefusal:
    """Context for a change touching `touched` (paths present at the base); `budget`: ids left.

    dependencies: False gives the touched files alone."""
    blobs = {e.path: e.oid for e in tree if e.mode in _BLOB_MODES}
    texts: dict[str, str] = {}
    for path in touched:
        text = cache.text(blobs[path]) if path in blobs else None
        if text is None:
            return ContextRefusal("binary_change", f"{path} is not UTF-8 text at the base revision")
        texts[path] = text
    langs = {p: lang for p in blobs if (lang := detect_language(p)) in SUPPORTED_LANGUAGES}
    for path in touched:
        if path in langs:
            parsed = cache.imports(blobs[path], langs[path])
            if parsed.has_error and parsed.error_fraction > max_parse_error_fraction:
                return ContextRefusal("parent_unparsable", f"{path}: {parsed.error_fraction:.4f} of its bytes under "
                                                           f"syntax errors ({langs[path]})")

    def fits_as_dependency(path: str) -> bool:
        return (path not in texts and not vendored_reason(path) and not generated_reason(path)
                and cache.text(blobs[path]) is not None
                and len(cache.text(blobs[path]).encode("utf-8")) <= max_file_bytes)

    edges = _edges(blobs, langs, cache, {lang for p, lang in langs.items() if p in texts}) if dependencies else []
    path_tokens = cache.count_tokens({f"path:{p}": f"{p}\n" for p in texts})
    content_tokens = cache.count_tokens({blobs[p]: texts[p] for p in texts})
    used = sum(1 + path_tokens[f"path:{p}"] + content_tokens[blobs[p]] for p in texts)
    if used > budget:
        return ContextRefusal("context_over_budget", f"touched files need {used} ids, {budget} left after the "
                                                     f"statement and the diff ({len(texts)} files)")
    chosen = list(texts)
    for path in _nearest_dependencies(touched, edges, fits_as_dependency):
        text = cache.text(blobs[path])
        size = 1 + cache.count_tokens({f"path:{path}": f"{path}\n"})[f"path:{path}"] \
            + cache.count_tokens({blobs[path]: text})[blobs[path]]
        if used + size <= budget:
            chosen.append(path)
            texts[path] = text
            used += size
    order = dependency_order(chosen, edges).files
    return Context(order, [texts[p] for p in order], used, len(chosen) - len(touched))


def _edges(blobs: dict[str, str], langs: dict[str, str], cache: BlobCache, wanted: set[str]
           ) -> list[tuple[str, str]]:
    """Resolved (dependent, dependency) pairs among the files of the touched files' languages."""
    if not wanted:
        return []
    imports = {p: cache.imports(blobs[p], lang) for p, lang in langs.items() if lang in wanted}

    def read_text(path: str) -> str | None:
        if path.rsplit("/", 1)[-1] in _BUILD_FILES and path in blobs:
            return cache.text(blobs[path])
        return None

    with cache.timings.track("resolving"):
        graph = resolve_repository(blobs.keys(), imports, {p: langs[p] for p in imports}, read_text)
    return graph.edges


def _nearest_dependencies(start: Iterable[str], edges: list[tuple[str, str]], usable) -> list[str]:
    """Files reachable from `start` over import edges, nearest first (ties by path); `start` excluded."""
    deps: dict[str, list[str]] = defaultdict(list)
    for dependent, dependency in edges:
        deps[dependent].append(dependency)
    seen = set(start)
    frontier = sorted(seen)
    out: list[str] = []
    while frontier:
        nxt = sorted({d for p in frontier for d in deps.get(p, ()) if d not in seen})
        seen.update(nxt)
        out.extend(p for p in nxt if usable(p))
        frontier = nxt
    return out
