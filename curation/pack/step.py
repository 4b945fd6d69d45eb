"""The pack step: every tokenized document, in a fixed order, into `seq_len` rows of shards.

Order: sources by name, then tasks by rank, then documents as the task wrote them. With the same
input and task count it is the same order on every run, so the shards are byte-identical.
"""

from __future__ import annotations

from pathlib import Path

from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from curation.steps import expect_task_files


class PackStep(PipelineStep):
    name = "pack"
    type = "📦 - PACKER"

    def __init__(self, *, tokens_folder: str, sources: list[str], token_tasks: int, shards_folder: str,
                 tokenizer_path: str, tokenizer_name: str, seq_len: int, rows_per_shard: int, index_extra: dict):
        super().__init__()
        self.tokens_folder = tokens_folder
        self.sources = sorted(sources)
        self.token_tasks = token_tasks
        self.shards_folder = shards_folder
        self.tokenizer_path = tokenizer_path
        self.tokenizer_name = tokenizer_name
        self.seq_len = seq_len
        self.rows_per_shard = rows_per_shard
        self.index_extra = index_extra

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        import pyarrow.parquet as pq

        from curation.pack.packer import ConcatPacker
        from curation.pack.shards import ShardWriter
        from curation.tokenize.tokenizer import load_tokenizer

        if world_size != 1:
            raise ValueError("the pack run is one task: it fixes the global order of sequences")
        files = {s: expect_task_files(Path(self.tokens_folder) / s, self.token_tasks) for s in self.sources}
        tokenizer = load_tokenizer(self.tokenizer_path)
        tokenizer.name = self.tokenizer_name  # what the user asked for, not the folder it resolved to
        packer = ConcatPacker(seq_len=self.seq_len, eos_id=tokenizer.eos_id, pad_id=tokenizer.pad_id)
        writer = ShardWriter(Path(self.shards_folder), seq_len=self.seq_len, rows_per_shard=self.rows_per_shard,
                             tokenizer=tokenizer, extra_index=self.index_extra, overwrite=True)
        for source in self.sources:
            for path in files[source]:
                for batch in pq.ParquetFile(path).iter_batches(batch_size=256, columns=["id", "input_ids"]):
                    ids_col = batch.column("input_ids")
                    for i, doc_id in enumerate(batch.column("id").to_pylist()):
                        with self.track_time():
                            ids = ids_col[i].values.to_numpy(zero_copy_only=False)
                            for row in packer.add(doc_id, source, ids):
                                writer.write(row)
                        self.stat_update("documents")
        for row in packer.finish():
            writer.write(row)
        index = writer.finish(tokens_in=packer.tokens_in, documents=packer.documents)
        self.stat_update("shards", value=len(index["shards"]))
        return
        yield
