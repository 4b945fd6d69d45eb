"""The tokenize step: exact ids per document, written to `tokens/<source>/{rank:05d}.parquet`."""

from __future__ import annotations

from pathlib import Path

from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.utils.batching import batched

from curation.io import TOKENS_SCHEMA, ParquetSink


class TokenizeStep(PipelineStep):
    name = "tokenize"
    type = "🔢 - TOKENIZER"

    def __init__(self, tokenizer_path: str, tokens_folder: str, sources: list[str], *, threads: int = 1,
                 batch_docs: int = 256, fim: dict | None = None, chat: dict | None = None):
        """fim: FimConfig fields, applied to file-level code documents (repository chunks arrive
        with their ids, FIM already decided by the assembler).
        chat: source -> curation.agent.config.ChatConfig fields, for trajectories (documents with a
        `messages` column): rendered in the chat format with a per-token loss mask instead of
        encoding `text`; a source without an entry uses the defaults."""
        super().__init__()
        self.fim = fim
        self.chat = chat
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
        renderers = {}  # per source, built on its first trajectory: plain runs never load the chat layout
        sinks = {s: ParquetSink(Path(self.tokens_folder) / s, TOKENS_SCHEMA) for s in self.sources}
        for sink in sinks.values():
            sink.open(rank)  # every source gets a file per task, empty or not
        try:
            for batch in batched(data, self.batch_docs):
                # Repository chunks carry their ids: their text shows separators as literal pieces
                # and must never be encoded.
                # Trajectories are rendered from their `messages`, never from the readable `text`.
                chats = [d for d in batch if d.metadata.get("messages") and "token_ids" not in d.metadata]
                plain = [d for d in batch if "token_ids" not in d.metadata and not d.metadata.get("messages")]
                with self.track_time("batch"):
                    encoded = dict(zip((id(d) for d in plain),
                                       tokenizer.encode_batch([d.text for d in plain], num_threads=self.threads)))
                    masked = {}
                    for source in sorted({d.metadata["source"] for d in chats}):
                        if source not in renderers:
                            renderers[source] = self._chat_renderer(tokenizer, source)
                        of_source = [d for d in chats if d.metadata["source"] == source]
                        masked.update(zip((id(d) for d in of_source), renderers[source].documents(of_source)))
                for doc in batch:
                    cuts = doc.metadata.pop("token_cuts", None)
                    mask = None
                    if "token_ids" in doc.metadata:
                        ids, tag = doc.metadata.pop("token_ids"), doc.metadata.get("fim") or ""
                    elif id(doc) in masked:
                        (ids, mask), tag = masked[id(doc)], ""
                        self.stat_update("trajectory_loss_tokens", value=int(sum(mask)))
                    else:
                        ids, tag = self._maybe_fim(doc, encoded[id(doc)], tokenizer, fim)
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

    def _chat_renderer(self, tokenizer, source: str):
        from curation.agent.tokens import TrajectoryEncoder

        return TrajectoryEncoder(tokenizer, (self.chat or {}).get(source))

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
