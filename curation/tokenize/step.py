"""The tokenize step: exact ids per document, written to `tokens/<source>/{rank:05d}.parquet`."""

from __future__ import annotations

from pathlib import Path

from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.utils.batching import batched

from curation.io import TOKENS_SCHEMA, ParquetSink
from curation.swe.render import SWE_UNIT


def is_swe_task(doc) -> bool:
    return doc.metadata.get("unit") == SWE_UNIT


class TokenizeStep(PipelineStep):
    name = "tokenize"
    type = "🔢 - TOKENIZER"

    def __init__(self, tokenizer_path: str, tokens_folder: str, sources: list[str], *, threads: int = 1,
                 batch_docs: int = 256, fim: dict | None = None, swe_markers: dict | None = None):
        """fim: FimConfig fields, applied to file-level code documents (repository chunks arrive
        with their ids, FIM already decided by the assembler).
        swe_markers: SweMarkerPieces fields for SWE task documents (None: the defaults)."""
        super().__init__()
        self.fim = fim
        self.swe_markers = swe_markers
        self.tokenizer_path = tokenizer_path
        self.tokens_folder = tokens_folder
        self.sources = sorted(sources)
        self.threads = threads
        self.batch_docs = batch_docs

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        import numpy as np

        from curation.tokenize.tokenizer import load_tokenizer

        tokenizer = load_tokenizer(self.tokenizer_path)
        fim = self._fim_setup(tokenizer)
        sinks = {s: ParquetSink(Path(self.tokens_folder) / s, TOKENS_SCHEMA) for s in self.sources}
        for sink in sinks.values():
            sink.open(rank)  # every source gets a file per task, empty or not
        try:
            for batch in batched(data, self.batch_docs):
                # Repository chunks carry their ids, SWE tasks their sections: their text shows
                # separators as literal pieces and must never be encoded.
                plain = [d for d in batch if "token_ids" not in d.metadata and not is_swe_task(d)]
                with self.track_time("batch"):
                    encoded = dict(zip((id(d) for d in plain),
                                       tokenizer.encode_batch([d.text for d in plain], num_threads=self.threads)))
                for doc in batch:
                    cuts = doc.metadata.pop("token_cuts", None)
                    if "token_ids" in doc.metadata:
                        ids, tag = doc.metadata.pop("token_ids"), doc.metadata.get("fim") or ""
                    elif is_swe_task(doc):
                        with self.track_time("swe_tasks"):
                            ids, tag = self._swe_ids(doc, tokenizer), ""
                    else:
                        ids, tag = self._maybe_fim(doc, encoded[id(doc)], tokenizer, fim)
                    source = doc.metadata["source"]
                    sinks[source].write(
                        {"id": doc.id, "source": source, "n_tokens": len(ids), "lang": doc.metadata.get("lang"),
                         "fim": tag, "cuts": cuts,
                         "input_ids": np.asarray(ids, dtype=np.int32)},
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

    def _swe_ids(self, doc, tokenizer) -> list[int]:
        """Markers by id between the separately encoded sections (curation.swe.render)."""
        from curation.swe.render import SweMarkerPieces, resolve_markers, task_token_ids_checked

        if not hasattr(self, "_swe"):
            pieces = SweMarkerPieces.model_validate(self.swe_markers or {})
            self._swe = pieces, resolve_markers(tokenizer, pieces)
        pieces, markers = self._swe
        return task_token_ids_checked(doc.metadata, doc.text, tokenizer, markers, pieces, doc_id=doc.id)

    def _fim_setup(self, tokenizer):
        if not self.fim:
            return None
        from curation.repo.settings import FimConfig, resolve_sentinels

        cfg = FimConfig.model_validate(self.fim)
        return cfg, resolve_sentinels(tokenizer, cfg.sentinels, "pack.fim.sentinels")

    def _maybe_fim(self, doc, ids, tokenizer, fim) -> tuple[list[int], str]:
        if fim is None or doc.metadata.get("kind") != "code":
            return ids, ""
        from curation.fim import apply_fim, fim_rng

        cfg, sentinels = fim
        result = apply_fim(doc.text, tokenizer, fim_rng(cfg.seed, doc.id), rate=cfg.rate, spm_rate=cfg.spm_rate,
                           sentinels=sentinels, mode=cfg.mode, lang=doc.metadata.get("lang"), plain_ids=ids)
        if result.tag:
            self.stat_update(f"fim_{result.tag}")
        return result.ids, result.tag
