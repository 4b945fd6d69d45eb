"""The pack steps: tokenized documents into `seq_len` rows of shards, in units packed by many tasks.

A unit is packed whole by one task into its own shards `part-UUUUU-NNNNN.parquet` (its leftover rows
close in it); pack task r takes the units u with u % P == r and leaves one fragment file
`work/pack/{r:05d}.json` (each unit's shards, realized tokens, totals). The driver's finish() merges
the fragments in unit order into shards/index.json, atomically: so the shards and index.json are
the same for any task count, and index.json appears only once every shard it names is final.

    best_fit  (MixScatterStep, then MixPackStep) a unit is a shuffle bucket (curation.mixture.mix)
    concat    (PackStep) a unit is one token file, in order: sources by name, then tasks by rank;
              its documents in the order the task wrote them, EOS after each, cut into rows
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from curation import __version__
from curation.config.mixture import Group, MixtureConfig, SourceShare
from curation.io import write_json_atomic
from curation.mixture.mix import (
    BUCKETS_DIR,
    MIX_FILE,
    mix_index,
    pack_bucket,
    prepare_mix,
    read_mix,
    scatter,
)
from curation.mixture.plan import available_tokens, format_plan, plan_mixture
from curation.mixture.sample import bucket_part
from curation.mixture.shards import (
    INDEX_FILE,
    ShardWriter,
    packing_tokenizer,
    tokenizer_info,
    write_index,
)
from curation.pack.packer import ConcatPacker
from curation.steps import Described, expect_task_files
from curation.tokenize.tokenizer import load_tokenizer

TOKENIZER_FILE = "tokenizer.json"  # in work/pack: what the pack tasks need of the tokenizer


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


def pack_tasks(cfg) -> int:
    """Tasks of the pack run (default: executor.tasks)."""
    return cfg.pack.tasks or cfg.executor.tasks


def scatter_tasks(cfg) -> int:
    """Tasks of the scatter run (default: executor.tasks)."""
    return cfg.pack.scatter_tasks or cfg.executor.tasks


def pack_settings(ctx) -> dict:
    cfg = ctx.config
    return dict(tokens_folder=str(ctx.layout.tokens), sources=ctx.pipeline.sources, token_tasks=cfg.executor.tasks,
                shards_folder=str(ctx.layout.shards), fragments_folder=str(ctx.layout.work / "pack"),
                tokenizer_path=ctx.tokenizer_path, tokenizer_name=ctx.tokenizer_name, seq_len=cfg.pack.seq_len,
                rows_per_shard=cfg.pack.rows_per_shard, tasks=pack_tasks(cfg))


class UnitPackStep(Described, PipelineStep):
    """Packs units u with u % world_size == rank, each into its own shards; finish() writes index.json."""

    type = "📦 - PACKER"

    def __init__(self, *, tokens_folder: str, sources: list[str], token_tasks: int, shards_folder: str,
                 fragments_folder: str, tokenizer_path: str, tokenizer_name: str, seq_len: int, rows_per_shard: int,
                 tasks: int, index_extra: dict):
        super().__init__()
        self.tasks = tasks  # of the pack run: which task packs which unit
        self.tokens_folder, self.sources, self.token_tasks = tokens_folder, sorted(sources), token_tasks
        self.shards_folder, self.fragments_folder = shards_folder, fragments_folder
        self.tokenizer_path, self.tokenizer_name = tokenizer_path, tokenizer_name
        self.seq_len, self.rows_per_shard, self.index_extra = seq_len, rows_per_shard, index_extra

    def units(self) -> int:
        raise NotImplementedError

    def pack_unit(self, unit: int, tokenizer) -> dict:
        raise NotImplementedError

    def write_index(self, fragments: list[dict]) -> None:
        raise NotImplementedError

    def fragment_file(self, rank: int) -> Path:
        return Path(self.fragments_folder) / f"{rank:05d}.json"

    def tokenizer_file(self) -> Path:
        return Path(self.fragments_folder) / TOKENIZER_FILE

    def prepare(self) -> None:
        # Some pack task runs again: until finish() merges every fragment, no index.json names shards
        # that a task may be rewriting (with the same bytes, but not atomically as a set).
        (Path(self.shards_folder) / INDEX_FILE).unlink(missing_ok=True)
        # Packing needs the tokenizer's ids and hashes, not the tokenizer: loaded once here (it imports
        # transformers, ~3 CPU-s), not in every task.
        tokenizer = load_tokenizer(self.tokenizer_path)
        tokenizer.name = self.tokenizer_name  # what the user asked for, not the folder it resolved to
        write_json_atomic(self.tokenizer_file(), tokenizer_info(tokenizer))

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if world_size != self.tasks:
            raise ValueError(f"the pack run has {self.tasks} tasks (pack.tasks), not {world_size}")
        tokenizer = packing_tokenizer(json.loads(self.tokenizer_file().read_text()))
        self.fragment_file(rank).unlink(missing_ok=True)
        fragments = {}
        for unit in range(rank, self.units(), world_size):
            with self.track_time():
                fragments[str(unit)] = fragment = self.pack_unit(unit, tokenizer)
            self.stat_update("units")
            self.stat_update("shards", value=len(fragment["shards"]))
            self.stat_update("rows", value=fragment["totals"]["rows"])
            self.stat_update("tokens", value=fragment["totals"]["tokens_out"])
            self.stat_update("padding", value=fragment["totals"]["padding"])
        write_json_atomic(self.fragment_file(rank), {"units": fragments})
        return
        yield

    def check(self, rank: int) -> str | None:
        path = self.fragment_file(rank)
        if not path.exists():
            return f"{path} is missing"
        data = json.loads(path.read_text())
        try:
            units = {str(u) for u in range(rank, self.units(), self.tasks)}
        except FileNotFoundError as err:  # the scatter run's mix.json: without it nothing is packed
            return str(err)
        if set(data["units"]) != units:
            return f"{path}: packed units {sorted(data['units'], key=int)}, task {rank} owns {sorted(units, key=int)}"
        for fragment in data["units"].values():
            for shard in fragment["shards"]:
                if not (Path(self.shards_folder) / shard["file"]).exists():
                    return f"{Path(self.shards_folder) / shard['file']} is missing"
        return None

    def finish(self, tasks: int) -> None:
        by_unit = {}
        for rank in range(self.tasks):
            by_unit.update(json.loads(self.fragment_file(rank).read_text())["units"])
        units = self.units()
        if sorted(by_unit, key=int) != [str(u) for u in range(units)]:
            raise RuntimeError(f"{self.fragments_folder}: fragments of units {sorted(by_unit, key=int)}, "
                               f"expected 0..{units - 1}")
        self.write_index([by_unit[str(u)] for u in range(units)])


class PackStep(UnitPackStep):
    """Concatenate-and-chunk (`pack.method: concat`): documents in input order, no mixture. A unit
    is one token file."""

    name = "pack"

    @classmethod
    def from_config(cls, ctx) -> PackStep | None:
        if ctx.config.pack.method != "concat":
            return None
        return cls(**pack_settings(ctx), index_extra={**index_extra(ctx), "mixture": None})

    def units(self) -> int:
        return len(self.sources) * self.token_tasks

    def pack_unit(self, unit: int, tokenizer) -> dict:
        source = self.sources[unit // self.token_tasks]
        path = expect_task_files(Path(self.tokens_folder) / source, self.token_tasks)[unit % self.token_tasks]
        packer = ConcatPacker(seq_len=self.seq_len, eos_id=tokenizer.eos_id, pad_id=tokenizer.pad_id)
        with ShardWriter(Path(self.shards_folder), seq_len=self.seq_len, rows_per_shard=self.rows_per_shard,
                         tokenizer=tokenizer, extra_index={}, overwrite=True, unit=unit) as writer:
            for doc_id, ids, fim, mask in read_token_file(path):
                for row in packer.add(doc_id, source, ids, fim, mask=mask):
                    writer.write(row)
                self.stat_update("documents")
            for row in packer.finish():
                writer.write(row)
            return writer.finish(tokens_in=packer.tokens_in, documents=packer.documents)

    def write_index(self, fragments: list[dict]) -> None:
        write_index(Path(self.shards_folder), seq_len=self.seq_len, fragments=fragments, extra_index=self.index_extra)


def natural_mixture(available: dict[str, dict[str, int]], seed: int = 0):
    """Every source with tokens exactly once, at its natural share: the mixture of a pipeline
    that names none."""
    sources = {s: SourceShare(weight=a["tokens"], max_epochs=1.0) for s, a in sorted(available.items()) if a["tokens"]}
    return MixtureConfig(name="natural", seed=seed, total_tokens=None, groups={"all": Group(weight=1.0, sources=sources)})


class MixScatterStep(Described, PipelineStep):
    """Plan the mixture over the tokens of every task and sample it (prepare(), in the driver, once:
    OUT/plan.json and work/mix/); then task t of T writes its share of the token files into every
    shuffle bucket, `work/mix/buckets/BBBBB/{t:05d}.parquet`."""

    name = "scatter"
    type = "🔀 - SHUFFLE"

    @classmethod
    def from_config(cls, ctx) -> MixScatterStep | None:
        cfg = ctx.config
        if cfg.pack.method != "best_fit":
            return None
        return cls(tokens_folder=str(ctx.layout.tokens), sources=ctx.pipeline.sources, token_tasks=cfg.executor.tasks,
                   work_folder=str(ctx.layout.work / "mix"), plan_path=str(ctx.layout.plan_file),
                   index_path=str(ctx.layout.shards / INDEX_FILE), mixture=ctx.pipeline.mixture,
                   mixture_path=str(ctx.pipeline.mixture_path or ""), seq_len=cfg.pack.seq_len,
                   buckets=cfg.pack.buckets)

    def __init__(self, *, tokens_folder: str, sources: list[str], token_tasks: int, work_folder: str, plan_path: str,
                 index_path: str, mixture: MixtureConfig | None, mixture_path: str, seq_len: int, buckets: int | None):
        super().__init__()
        self.tokens_folder, self.sources, self.token_tasks = tokens_folder, sorted(sources), token_tasks
        self.work_folder, self.plan_path, self.index_path = work_folder, plan_path, index_path
        self.mixture, self.mixture_path = mixture, mixture_path
        self.seq_len, self.buckets = seq_len, buckets

    def prepare(self) -> None:
        """Deterministic: a resumed run computes the same plan and sample, so finished tasks stand."""
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
        prepare_mix(plan, self.tokens_folder, self.work_folder, seq_len=self.seq_len, buckets=self.buckets)

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        with self.track_time():
            parts = scatter(self.tokens_folder, self.work_folder, task=rank, tasks=world_size)
        self.stat_update("buckets", value=len(parts))
        self.stat_update("rows", value=sum(pq.read_metadata(p).num_rows for p in parts))
        return
        yield

    def check(self, rank: int) -> str | None:
        if Path(self.index_path).exists():
            return None  # packed: the buckets were scratch, removed once index.json was written
        mix_file = Path(self.work_folder) / MIX_FILE
        if not mix_file.exists():
            return f"{mix_file} is missing"
        for b in range(read_mix(self.work_folder)["buckets"]):
            if not (part := bucket_part(Path(self.work_folder) / BUCKETS_DIR, b, rank)).exists():
                return f"{part} is missing"
        return None


class MixPackStep(UnitPackStep):
    """Best-fit pack the shuffle buckets (curation.mixture.mix): a unit is one bucket; finish()
    writes index.json with the mixture accounting and removes the buckets."""

    name = "pack"

    @classmethod
    def from_config(cls, ctx) -> MixPackStep | None:
        cfg = ctx.config
        if cfg.pack.method != "best_fit":
            return None
        return cls(**pack_settings(ctx), work_folder=str(ctx.layout.work / "mix"), scatter_tasks=scatter_tasks(cfg),
                   window_rows=cfg.pack.window_rows, index_extra=index_extra(ctx))

    def __init__(self, *, work_folder: str, scatter_tasks: int, window_rows: int | None, **settings):
        super().__init__(**settings)
        self.work_folder, self.scatter_tasks, self.window_rows = work_folder, scatter_tasks, window_rows

    def units(self) -> int:
        return read_mix(self.work_folder)["buckets"]

    def pack_unit(self, unit: int, tokenizer) -> dict:
        return pack_bucket(self.work_folder, unit, self.shards_folder, scatter_tasks=self.scatter_tasks,
                           tokenizer=tokenizer, seq_len=self.seq_len, rows_per_shard=self.rows_per_shard,
                           window_rows=self.window_rows)

    def write_index(self, fragments: list[dict]) -> None:
        mix_index(self.work_folder, self.shards_folder, fragments, seq_len=self.seq_len, window_rows=self.window_rows,
                  extra_index=self.index_extra)
        shutil.rmtree(Path(self.work_folder) / BUCKETS_DIR, ignore_errors=True)  # scratch as large as the sample
