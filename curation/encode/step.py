"""The tokenize step: exact ids per document, written to `tokens/<source>/{rank:05d}.parquet`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.utils.batching import batched

from curation.config.assemble import FimConfig
from curation.config.pipeline import DEFAULT_LINE_CACHE
from curation.io import TOKENS_SCHEMA, ParquetSink
from curation.steps import Described
from curation.swe.render import (
    SWE_UNIT,
    SweMarkerPieces,
    resolve_markers,
    task_token_ids_checked,
)
from curation.tokenize.fim import encode_fim_batch, fim_rng, plan_fim, resolve_sentinels
from curation.tokenize.lines import LineEncoder
from curation.tokenize.tokenizer import load_tokenizer


def is_swe_task(doc) -> bool:
    return doc.metadata.get("unit") == SWE_UNIT


class TokenizeStep(Described, PipelineStep):
    name = "tokenize"
    type = "🔢 - TOKENIZER"

    def __init__(self, *, tokenizer_path: str, tokens_folder: str | Path, sources: list[str], threads: int = 1,
                 batch_docs: int = 256, fim: FimConfig | None = None, swe_markers: SweMarkerPieces | None = None,
                 line_cache: int = DEFAULT_LINE_CACHE):
        """fim: applied to file-level code documents (repository chunks arrive with their ids, FIM
        already decided by the assembler). line_cache: distinct lines a task keeps encoded
        (`curation.tokenize.lines`; 0: encode whole texts). swe_markers: the pieces of SWE task documents (the
        reader's; None: the defaults). Trajectories arrive with their ids and a `loss_mask`
        (curation.agent.tokens), written as the tokens/ `loss_mask` column."""
        super().__init__()
        self.fim = fim
        self.swe_markers = swe_markers or SweMarkerPieces()
        self.tokenizer_path = tokenizer_path
        self.tokens_folder = str(tokens_folder)
        self.sources = sorted(sources)
        self.threads = threads
        self.batch_docs = batch_docs
        self.line_cache = line_cache

    @classmethod
    def from_config(cls, ctx) -> TokenizeStep:
        cfg = ctx.config
        return cls(tokenizer_path=ctx.tokenizer_path, tokens_folder=ctx.layout.tokens, sources=ctx.pipeline.sources,
                   threads=cfg.tokenizer.threads, batch_docs=cfg.tokenizer.batch_docs,
                   line_cache=cfg.tokenizer.line_cache,
                   fim=cfg.pack.fim if cfg.assemble.unit == "file" else None)

    def outputs(self) -> list[Path]:
        return [Path(self.tokens_folder) / s for s in self.sources]

    def doc_columns(self) -> dict[str, str]:
        return {"fim": "string"} if self.fim else {}

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        tokenizer = load_tokenizer(self.tokenizer_path)
        lines = LineEncoder(tokenizer, max_lines=self.line_cache)
        fim = self._fim_setup(tokenizer)
        sinks = {s: ParquetSink(Path(self.tokens_folder) / s, TOKENS_SCHEMA) for s in self.sources}
        for sink in sinks.values():
            sink.open(rank)  # every source gets a file per task, empty or not
        try:
            for batch in batched(data, self.batch_docs):
                # Repository chunks carry their ids, SWE tasks their sections: their text shows
                # separators as literal pieces and must never be encoded. Trajectories carry their
                # ids too: their text is a readable rendering.
                plain = [d for d in batch if "token_ids" not in d.metadata and not is_swe_task(d)]
                if stray := next((d for d in plain if d.metadata.get("messages")), None):
                    raise ValueError(f"trajectory {stray.id} reached the tokenize step without its ids: the chat "
                                     "step (curation.agent.tokens.TrajectoryTokenizer) must run before it")
                # FIM is decided first, so a file that gets FIM is encoded once, as its three
                # pieces, and never also whole; both kinds are encoded in batched calls.
                plans = {id(d): self._fim_plan(d, fim) for d in plain} if fim else {}
                with self.track_time("batch"):
                    whole = [d for d in plain if plans.get(id(d)) is None]
                    encoded = dict(zip((id(d) for d in whole),
                                       lines.encode([d.text for d in whole], num_threads=self.threads)))
                    cut = [d for d in plain if plans.get(id(d)) is not None]
                    if cut:
                        results = encode_fim_batch([d.text for d in cut], [plans[id(d)] for d in cut], tokenizer,
                                                   fim[1], num_threads=self.threads, lines=lines)
                        encoded.update(zip((id(d) for d in cut), results))
                for doc in batch:
                    cuts = doc.metadata.pop("token_cuts", None)
                    mask = doc.metadata.pop("loss_mask", None)  # None: a plain document, all ones
                    if "token_ids" in doc.metadata:
                        ids, tag = doc.metadata.pop("token_ids"), doc.metadata.get("fim") or ""
                    elif is_swe_task(doc):
                        with self.track_time("swe_tasks"):
                            ids, tag = self._swe_ids(doc, tokenizer), ""
                    elif plans.get(id(doc)) is not None:
                        result = encoded[id(doc)]
                        ids, tag = result.ids, result.tag
                        self.stat_update(f"fim_{tag}")
                    else:
                        ids, tag = encoded[id(doc)], ""
                    source = doc.metadata["source"]
                    sinks[source].write(
                        {"id": doc.id, "source": source, "n_tokens": len(ids), "lang": doc.metadata.get("lang"),
                         "fim": tag, "cuts": cuts,
                         "input_ids": np.asarray(ids, dtype=np.int32),
                         "loss_mask": None if mask is None else np.asarray(mask, dtype=np.int8)},
                        rank,
                    )
                    self.stat_update("tokens", value=len(ids))
                    self.stat_update(f"tokens_{source}", value=len(ids))
                    yield doc
        except BaseException:
            for sink in sinks.values():
                sink.abort()
            raise
        for sink in sinks.values():
            sink.close()
        if lines.lines_seen:
            self.stat_update("lines", value=lines.lines_seen)
            self.stat_update("lines_encoded", value=lines.lines_encoded)

    def _swe_ids(self, doc, tokenizer) -> list[int]:
        """Markers by id between the separately encoded sections (curation.swe.render)."""
        if not hasattr(self, "_swe"):
            self._swe = resolve_markers(tokenizer, self.swe_markers)
        return task_token_ids_checked(doc.metadata, doc.text, tokenizer, self._swe, self.swe_markers, doc_id=doc.id)

    def _fim_setup(self, tokenizer):
        if not self.fim:
            return None
        return self.fim, resolve_sentinels(tokenizer, self.fim.sentinels, "pack.fim.sentinels")

    def _fim_plan(self, doc, fim):
        """The FIM cut of a file-level code document, or None (no FIM: encoded whole)."""
        if doc.metadata.get("kind") != "code":
            return None
        cfg = fim[0]
        return plan_fim(doc.text, fim_rng(cfg.seed, doc.id), rate=cfg.rate, spm_rate=cfg.spm_rate, mode=cfg.mode,
                        lang=doc.metadata.get("lang"))
