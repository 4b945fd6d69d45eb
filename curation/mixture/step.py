"""The pack step: every tokenized document, in a fixed order, into `seq_len` rows of shards.

Order: sources by name, then tasks by rank, then documents as the task wrote them. With the same
input and task count it is the same order on every run, so the shards are byte-identical.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from curation import __version__
from curation.config.mixture import Group, MixtureConfig, SourceShare
from curation.mixture.mix import mix_shards
from curation.mixture.plan import available_tokens, format_plan, plan_mixture
from curation.mixture.shards import INDEX_FILE, ShardWriter
from curation.pack.packer import ConcatPacker
from curation.steps import Described, expect_task_files
from curation.tokenize.tokenizer import load_tokenizer


def index_extra(ctx) -> dict:
    """What index.json says of the run beyond the shards: stage, pipeline, config, code version."""
    cfg = ctx.config
    return {"stage": cfg.stage, "pipeline": cfg.name, "config": cfg.model_dump(mode="json", exclude={"executor"}),
            "code_version": __version__}


def read_token_file(path: Path):
    """(doc_id, ids, fim tag, loss mask or None) of one tokens/ file, in the order the task wrote them."""
    parquet = pq.ParquetFile(path)
    has_mask = "loss_mask" in parquet.schema_arrow.names  # token files of older runs have none
    columns = ["id", "fim", "input_ids"] + (["loss_mask"] if has_mask else [])
    for batch in parquet.iter_batches(batch_size=256, columns=columns):
        ids_col = batch.column("input_ids")
        fims = batch.column("fim").to_pylist()
        masks = batch.column("loss_mask") if has_mask else None
        for i, doc_id in enumerate(batch.column("id").to_pylist()):
            mask = None  # null: a plain document, all ones
            if masks is not None and masks[i].is_valid:
                mask = masks[i].values.to_numpy(zero_copy_only=False)
            yield doc_id, ids_col[i].values.to_numpy(zero_copy_only=False), fims[i] or "", mask


def pack_settings(ctx) -> dict:
    cfg = ctx.config
    return dict(tokens_folder=str(ctx.layout.tokens), sources=ctx.pipeline.sources, token_tasks=cfg.executor.tasks,
                shards_folder=str(ctx.layout.shards), tokenizer_path=ctx.tokenizer_path,
                tokenizer_name=ctx.tokenizer_name, seq_len=cfg.pack.seq_len, rows_per_shard=cfg.pack.rows_per_shard)


class PackStep(Described, PipelineStep):
    """Concatenate-and-chunk (`pack.method: concat`): documents in input order, no mixture."""

    name = "pack"
    type = "📦 - PACKER"

    @classmethod
    def from_config(cls, ctx) -> PackStep | None:
        if ctx.config.pack.method != "concat":
            return None
        return cls(**pack_settings(ctx), index_extra={**index_extra(ctx), "mixture": None})

    def files(self) -> list[Path]:
        return [Path(self.shards_folder) / INDEX_FILE]

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

        if world_size != 1:
            raise ValueError("the pack run is one task: it fixes the global order of sequences")
        files = {s: expect_task_files(Path(self.tokens_folder) / s, self.token_tasks) for s in self.sources}
        tokenizer = load_tokenizer(self.tokenizer_path)
        tokenizer.name = self.tokenizer_name  # what the user asked for, not the folder it resolved to
        packer = ConcatPacker(seq_len=self.seq_len, eos_id=tokenizer.eos_id, pad_id=tokenizer.pad_id)
        with ShardWriter(Path(self.shards_folder), seq_len=self.seq_len, rows_per_shard=self.rows_per_shard,
                         tokenizer=tokenizer, extra_index=self.index_extra, overwrite=True) as writer:
            for source in self.sources:
                for path in files[source]:
                    for doc_id, ids, fim, mask in read_token_file(path):
                        with self.track_time():
                            for row in packer.add(doc_id, source, ids, fim, mask=mask):
                                writer.write(row)
                        self.stat_update("documents")
            for row in packer.finish():
                writer.write(row)
            index = writer.finish(tokens_in=packer.tokens_in, documents=packer.documents)
        self.stat_update("shards", value=len(index["shards"]))
        return
        yield


def natural_mixture(available: dict[str, dict[str, int]], seed: int = 0):
    """Every source with tokens exactly once, at its natural share: the mixture of a pipeline
    that names none."""
    sources = {s: SourceShare(weight=a["tokens"], max_epochs=1.0) for s, a in sorted(available.items()) if a["tokens"]}
    return MixtureConfig(name="natural", seed=seed, total_tokens=None, groups={"all": Group(weight=1.0, sources=sources)})


class MixPackStep(Described, PipelineStep):
    """Plan the mixture over the tokens of every task, sample it, shuffle it in buckets and pack it
    best-fit into shards (curation.mixture.mix). Writes OUT/plan.json beside the shards."""

    name = "mix"
    type = "📦 - PACKER"

    @classmethod
    def from_config(cls, ctx) -> MixPackStep | None:
        cfg = ctx.config
        if cfg.pack.method != "best_fit":
            return None
        return cls(**pack_settings(ctx), work_folder=str(ctx.layout.work / "mix"), plan_path=str(ctx.layout.plan_file),
                   mixture=ctx.pipeline.mixture, mixture_path=str(ctx.pipeline.mixture_path or ""),
                   window_rows=cfg.pack.window_rows, buckets=cfg.pack.buckets, index_extra=index_extra(ctx))

    def files(self) -> list[Path]:
        return [Path(self.shards_folder) / INDEX_FILE]

    def __init__(self, *, tokens_folder: str, sources: list[str], token_tasks: int, shards_folder: str,
                 work_folder: str, plan_path: str, mixture: MixtureConfig | None, mixture_path: str,
                 tokenizer_path: str, tokenizer_name: str,
                 seq_len: int, rows_per_shard: int, window_rows: int | None, buckets: int | None, index_extra: dict):
        super().__init__()
        self.tokens_folder, self.sources, self.token_tasks = tokens_folder, sorted(sources), token_tasks
        self.shards_folder, self.work_folder, self.plan_path = shards_folder, work_folder, plan_path
        self.mixture, self.mixture_path = mixture, mixture_path
        self.tokenizer_path, self.tokenizer_name = tokenizer_path, tokenizer_name
        self.seq_len, self.rows_per_shard = seq_len, rows_per_shard
        self.window_rows, self.buckets, self.index_extra = window_rows, buckets, index_extra

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if world_size != 1:
            raise ValueError("the mix run is one task: it fixes the global order of sequences")
        for source in self.sources:
            expect_task_files(Path(self.tokens_folder) / source, self.token_tasks)
        if self.mixture is not None:
            mixture = self.mixture
            available = available_tokens(self.tokens_folder, mixture.language_splits())
        else:
            available = available_tokens(self.tokens_folder)
            mixture = natural_mixture(available)
        plan = plan_mixture(mixture, available)
        plan.write(Path(self.plan_path))
        if not plan.ok:
            raise ValueError(f"mixture {self.mixture_path}: {'; '.join(plan.errors)}\n{format_plan(plan)}")
        tokenizer = load_tokenizer(self.tokenizer_path)
        tokenizer.name = self.tokenizer_name
        with self.track_time():
            index = mix_shards(plan, self.tokens_folder, self.shards_folder, tokenizer=tokenizer, seq_len=self.seq_len,
                               rows_per_shard=self.rows_per_shard, work_dir=self.work_folder,
                               buckets=self.buckets, window_rows=self.window_rows, extra_index=self.index_extra)
        self.stat_update("shards", value=len(index["shards"]))
        return
        yield
