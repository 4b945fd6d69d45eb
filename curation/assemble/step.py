"""The assemble step (stages 2 and 3): the files of each repository become dependency-ordered
documents that fit the context.

RepoAssembler    consumes the file documents of a task, repository by repository (the reader
                 yields each repository's files consecutively, and filters and dedup only drop
                 documents, never reorder them), and yields one document per chunk with
                 `metadata["token_ids"]` (exact ids, separators and FIM sentinels included) and
                 `metadata["fim"]`. Text documents and code without a repository pass through.
"""

from __future__ import annotations

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from curation.assemble.repository import (
    FimSettings,
    RepoFile,
    assemble_repository,
    resolve_separators,
)
from curation.config.assemble import FimConfig, RepoAssembleConfig
from curation.config.pipeline import DEFAULT_LINE_CACHE
from curation.ingest.languages import language_kind
from curation.repo.step import IMPORTS_KEY
from curation.steps import Described
from curation.tokenize.fim import resolve_sentinels
from curation.tokenize.lines import LineEncoder
from curation.tokenize.tokenizer import load_tokenizer


class RepoAssembler(Described, PipelineStep):
    name = "assemble"
    type = "🧩 - ASSEMBLER"

    def __init__(self, *, tokenizer_path: str, assemble: RepoAssembleConfig, max_tokens: int,
                 fim: FimConfig | None = None, threads: int = 1, line_cache: int = DEFAULT_LINE_CACHE):
        """assemble: the typed `assemble` section; max_tokens: ids per chunk (context minus EOS);
        line_cache: distinct lines kept encoded (`curation.tokenize.lines`; 0: whole texts)."""
        super().__init__()
        self.tokenizer_path = tokenizer_path
        self.assemble = assemble
        self.max_tokens = max_tokens
        self.fim = fim
        self.threads = threads
        self.line_cache = line_cache

    @classmethod
    def from_config(cls, ctx) -> RepoAssembler | None:
        cfg = ctx.config
        if cfg.assemble.unit != "repo":
            return None
        return cls(tokenizer_path=ctx.tokenizer_path, assemble=cfg.assemble,
                   max_tokens=cfg.assemble.max_tokens(cfg.pack.seq_len), fim=cfg.pack.fim,
                   threads=cfg.tokenizer.threads, line_cache=cfg.tokenizer.line_cache)

    def doc_columns(self) -> dict[str, str]:
        return {"files": "list<string>", "fim": "string", "fim_file": "string", "fim_span": "string",
                "order": "string"}

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        tokenizer = load_tokenizer(self.tokenizer_path)
        lines = LineEncoder(tokenizer, max_lines=self.line_cache)
        pieces = self.assemble.separators
        separators = resolve_separators(tokenizer, pieces)
        fim = None
        if self.fim is not None:
            fim = FimSettings(self.fim.rate, self.fim.spm_rate,
                              resolve_sentinels(tokenizer, self.fim.sentinels, separators=pieces),
                              self.fim.mode, self.fim.seed)
        seen: set[tuple] = set()
        group: list[Document] = []
        key = None
        for doc in data or ():
            doc_key = _repo_key(doc)
            if doc_key != key and group:
                yield from self._assemble(group, tokenizer, separators, fim, seen, rank, lines)
                group = []
            key = doc_key
            if doc_key is None:
                self.stat_update("passthrough_text" if doc.metadata.get("kind") != "code" else "passthrough_no_repo")
                yield doc
            else:
                group.append(doc)
        if group:
            yield from self._assemble(group, tokenizer, separators, fim, seen, rank, lines)

    def _assemble(self, group: list[Document], tokenizer, separators, fim, seen: set, rank: int,
                  lines: LineEncoder | None = None):
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
                order=self.assemble.order, order_by_language=self.assemble.order_by_language,
                keep_scc_together=self.assemble.keep_scc_together, seed=self.assemble.seed, fim=fim,
                imports=imports or None,
                threads=self.threads, lines=lines)
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
