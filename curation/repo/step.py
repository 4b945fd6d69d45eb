"""Datatrove steps for repository-level data: syntax signals per file, repo-level documents.

SyntaxTagger     parses each code file of a supported language; sets `has_syntax_error` and
                 `syntax_error_fraction`; optionally drops files above a bound (reason
                 "syntax_error" -> removed/syntax/). With `keep_imports` it also leaves the file's
                 extracted imports in `metadata["_repo_imports"]` (not a docs/ column), so a
                 RepoAssembler later in the same run does not parse the file a second time.
RepoAssembler    consumes the file documents of a task, repository by repository (the reader
                 yields each repository's files consecutively, and filters and dedup only drop
                 documents, never reorder them), and yields one document per chunk with
                 `metadata["token_ids"]` (exact ids, separators and FIM sentinels included) and
                 `metadata["fim"]`. Text documents and code without a repository pass through.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.filters.base_filter import BaseFilter

from curation.documents import RemovedDocRow
from curation.io import REMOVED_SCHEMA, ParquetSink

SYNTAX_STEP = "syntax"
IMPORTS_KEY = "_repo_imports"  # transient: never a column, popped by RepoAssembler


class SyntaxTagger(BaseFilter):
    name = "syntax"

    def __init__(self, removed_folder: str | None = None, *, drop: bool = False, max_error_fraction: float = 0.0,
                 keep_imports: bool = False):
        if drop and removed_folder is None:
            raise ValueError("SyntaxTagger(drop=True) needs removed_folder: every drop lands in removed/syntax/")
        writer = ParquetSink(Path(removed_folder) / SYNTAX_STEP, REMOVED_SCHEMA, to_row=RemovedDocRow(SYNTAX_STEP)) \
            if drop else None
        super().__init__(exclusion_writer=writer)
        self.drop = drop
        self.max_error_fraction = max_error_fraction
        self.keep_imports = keep_imports

    def run(self, data, rank: int = 0, world_size: int = 1):
        if self.exclusion_writer is not None:
            self.exclusion_writer.open(rank)  # an empty removed/syntax file still marks the task done
        yield from super().run(data, rank, world_size)

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        from curation.repo.parsing import SUPPORTED_LANGUAGES, parse

        meta = doc.metadata
        lang = meta.get("lang")
        if meta.get("kind") != "code" or lang not in SUPPORTED_LANGUAGES:
            self.stat_update("not_parsed")
            return True
        with self.track_time("parse"):
            result = parse(doc.text, lang)
            if self.keep_imports:
                from curation.repo.imports import imports_from_tree

                meta[IMPORTS_KEY] = imports_from_tree(result.tree, lang)
        meta["has_syntax_error"] = result.has_error
        meta["syntax_error_fraction"] = round(result.error_fraction, 6)
        self.stat_update(f"parsed_{lang}")
        if result.has_error:
            self.stat_update("has_syntax_error")
        if self.drop and result.has_error and result.error_fraction > self.max_error_fraction:
            meta.pop(IMPORTS_KEY, None)
            meta["filter_detail"] = f"error_fraction={result.error_fraction:.4f} > {self.max_error_fraction}"
            return False, "syntax_error"
        return True


class RepoAssembler(PipelineStep):
    name = "assemble"
    type = "🧩 - ASSEMBLER"

    def __init__(self, tokenizer_path: str, max_tokens: int, *, order: str = "dependency",
                 order_by_language: dict[str, str] | None = None, separators: dict[str, str] | None = None,
                 keep_scc_together: bool = True, fim: dict[str, Any] | None = None, seed: int = 0,
                 threads: int = 1):
        """separators: {"repo": piece, "file": piece}; fim: FimConfig fields (None: no FIM).

        Plain dicts, so the step pickles without the config classes; checked here, up front.
        """
        super().__init__()
        from curation.repo.settings import FimConfig, SeparatorPieces

        self.tokenizer_path = tokenizer_path
        self.max_tokens = max_tokens
        self.order = order
        self.order_by_language = dict(order_by_language or {})
        self.separators = SeparatorPieces.model_validate(separators or {}).model_dump()
        self.fim = FimConfig.model_validate(fim).model_dump() if fim is not None else None
        self.keep_scc_together = keep_scc_together
        self.seed = seed
        self.threads = threads

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        from curation.repo.assemble import FimSettings
        from curation.repo.settings import FimConfig, SeparatorPieces, resolve_sentinels, resolve_separators
        from curation.tokenize.tokenizer import load_tokenizer

        tokenizer = load_tokenizer(self.tokenizer_path)
        pieces = SeparatorPieces.model_validate(self.separators)
        separators = resolve_separators(tokenizer, pieces)
        fim = None
        if self.fim is not None:
            cfg = FimConfig.model_validate(self.fim)
            fim = FimSettings(cfg.rate, cfg.spm_rate, resolve_sentinels(tokenizer, cfg.sentinels, separators=pieces),
                              cfg.mode, cfg.seed)
        seen: set[tuple] = set()
        group: list[Document] = []
        key = None
        for doc in data or ():
            doc_key = _repo_key(doc)
            if doc_key != key and group:
                yield from self._assemble(group, tokenizer, separators, fim, seen, rank)
                group = []
            key = doc_key
            if doc_key is None:
                self.stat_update("passthrough_text" if doc.metadata.get("kind") != "code" else "passthrough_no_repo")
                yield doc
            else:
                group.append(doc)
        if group:
            yield from self._assemble(group, tokenizer, separators, fim, seen, rank)

    def _assemble(self, group: list[Document], tokenizer, separators, fim, seen: set, rank: int):
        from curation.ingest.languages import language_kind
        from curation.repo.assemble import RepoFile, assemble_repository

        source, repo, rev = _repo_key(group[0])
        if (source, repo, rev) in seen:
            # Ids would repeat: the input was not grouped by repository (e.g. a Stack table not
            # sorted by repo). Fail loudly rather than write two documents under one id.
            raise ValueError(f"repository {repo}@{rev} (source {source}) arrives in two separate runs of files in "
                             f"task {rank}: inputs must list each repository's files together")
        seen.add((source, repo, rev))
        files = [RepoFile(d.id, d.metadata["path"], d.text, d.metadata.get("lang")) for d in group]
        imports = {d.metadata["path"]: d.metadata.pop(IMPORTS_KEY) for d in group if IMPORTS_KEY in d.metadata}
        with self.track_time("assemble"):
            assembly = assemble_repository(
                files, tokenizer, repo=repo, rev=rev, max_tokens=self.max_tokens, separators=separators,
                order=self.order, order_by_language=self.order_by_language,
                keep_scc_together=self.keep_scc_together, seed=self.seed, fim=fim, imports=imports or None,
                threads=self.threads)
        if assembly.duplicate_paths:
            # Two documents for one path of one repository cannot both be in it; count, keep the first.
            self.stat_update("duplicate_paths", value=len(assembly.duplicate_paths))
        self.stat_update("repositories")
        self.stat_update("files", value=len(assembly.order))
        self.stat_update(f"order_{assembly.mode}")
        licenses = {(d.metadata.get("license"), d.metadata.get("license_class")) for d in group}
        license, license_class = licenses.pop() if len(licenses) == 1 else (None, "unknown")
        for chunk in assembly.chunks:
            self.stat_update("chunks")
            self.stat_update("tokens", value=len(chunk.token_ids))
            if any(s.parts > 1 for s in chunk.spans):
                self.stat_update("chunks_of_split_file")
            if chunk.fim:
                self.stat_update(f"fim_{chunk.fim}")
            yield Document(text=chunk.text, id=chunk.id, metadata={
                "source": source, "kind": "code", "repo": repo, "rev": rev, "path": None, "unit": "repo",
                "files": chunk.files, "lang": chunk.lang, "lang_kind": language_kind(chunk.lang),
                "size_bytes": chunk.size_bytes, "license": license, "license_class": license_class,
                "task": rank, "order": assembly.mode, "fim": chunk.fim, "fim_file": chunk.fim_file,
                "fim_span": chunk.fim_span, "token_ids": chunk.token_ids, "token_cuts": chunk.cuts,
            })


def _repo_key(doc: Document) -> tuple | None:
    """(source, repo, rev) of a code file that belongs to a repository; None for anything else."""
    meta = doc.metadata
    if meta.get("kind") != "code" or not meta.get("repo") or meta.get("unit", "file") != "file":
        return None
    return meta.get("source"), meta["repo"], meta.get("rev")
