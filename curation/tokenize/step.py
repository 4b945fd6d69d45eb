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
                 batch_docs: int = 256):
        super().__init__()
        self.tokenizer_path = tokenizer_path
        self.tokens_folder = tokens_folder
        self.sources = sorted(sources)
        self.threads = threads
        self.batch_docs = batch_docs

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        import numpy as np

        from curation.tokenize.tokenizer import load_tokenizer

        tokenizer = load_tokenizer(self.tokenizer_path)
        sinks = {s: ParquetSink(Path(self.tokens_folder) / s, TOKENS_SCHEMA) for s in self.sources}
        for sink in sinks.values():
            sink.open(rank)  # every source gets a file per task, empty or not
        try:
            for batch in batched(data, self.batch_docs):
                with self.track_time("batch"):
                    encoded = tokenizer.encode_batch([d.text for d in batch], num_threads=self.threads)
                for doc, ids in zip(batch, encoded):
                    source = doc.metadata["source"]
                    sinks[source].write(
                        {"id": doc.id, "source": source, "n_tokens": len(ids),
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
