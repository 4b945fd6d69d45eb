"""Plan → shards in three parts that the pipeline runs as separate tasks:

    prepare_mix   (driver, once)  sample per the plan, choose the bucket count -> work/mix/mix.json, samples
    scatter       (T tasks)       task t writes its rows of every bucket -> work/mix/buckets/BBBBB/TTTTT
    pack_bucket   (P tasks)       one bucket, best-fit, into its own shards part-BBBBB-NNNNN + a fragment
    mix_index     (driver, once)  the fragments in bucket order -> shards/index.json

Each bucket is packed alone (its leftovers close in it), so the shards depend on the bucket count,
never on T or P. index.json records the plan's shares (`mixture`), the tokens realized per source,
and how the sample was drawn; the realized tokens are checked against the sample exactly, so a
share that drifts from the plan is a bug here, never silent. `mix_shards` runs the four in one
process (tests, notebooks).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from curation.io import write_json_atomic
from curation.mixture.plan import Plan
from curation.mixture.sample import (
    default_buckets,
    read_bucket,
    read_samples,
    sample_plan,
    write_buckets,
    write_samples,
)
from curation.mixture.shards import ShardWriter, write_index
from curation.pack.bestfit import DEFAULT_WINDOW_ROWS, BestFitPacker

if TYPE_CHECKING:
    from curation.tokenize.tokenizer import Tokenizer

MIX_FILE = "mix.json"  # in the mix work folder: the plan, the bucket count and the sampling summary
SAMPLES_FILE = "samples.parquet"  # the chosen documents of every source's fractional pass
BUCKETS_DIR = "buckets"


def prepare_mix(plan: Plan, tokens_dir: str | Path, work_dir: str | Path, *, seq_len: int,
                buckets: int | None = None) -> dict:
    """Sample every source per the plan (it needs every document's hash: done once, not per task),
    fix the bucket count and write both where the scatter tasks read them."""
    work_dir = Path(work_dir)
    samples = sample_plan(plan, tokens_dir)
    buckets = buckets or default_buckets(sum(s.tokens for s in samples), seq_len)
    write_samples(samples, work_dir / SAMPLES_FILE)
    mix = {"plan": plan.to_json(), "buckets": buckets,
           "sources": {s.source: {"target_tokens": s.target_tokens, "tokens": s.tokens, "documents": s.documents,
                                  "full_passes": s.full_passes, "fractional_documents": len(s.chosen)}
                       for s in samples}}
    write_json_atomic(work_dir / MIX_FILE, mix)
    return mix


def read_mix(work_dir: str | Path) -> dict:
    path = Path(work_dir) / MIX_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path}: missing; the scatter run's prepare writes it")
    return json.loads(path.read_text())


def scatter(tokens_dir: str | Path, work_dir: str | Path, *, task: int = 0, tasks: int = 1) -> list[Path]:
    """Scatter task `task` of `tasks`: its share of the token files into every bucket."""
    mix = read_mix(work_dir)
    plan = Plan.from_json(mix["plan"])
    samples = read_samples(Path(work_dir) / SAMPLES_FILE, plan)
    return write_buckets(samples, tokens_dir, Path(work_dir) / BUCKETS_DIR, seed=plan.seed, buckets=mix["buckets"],
                         task=task, tasks=tasks)


def pack_bucket(work_dir: str | Path, bucket: int, shards_dir: str | Path, *, scatter_tasks: int,
                tokenizer: Tokenizer, seq_len: int, rows_per_shard: int, window_rows: int | None = None,
                min_cut_gap: int | None = None) -> dict:
    """Best-fit pack one bucket into its own shards; returns its fragment (shards, realized, totals)
    plus the packer's counters."""
    packer = BestFitPacker(seq_len=seq_len, eos_id=tokenizer.eos_id, pad_id=tokenizer.pad_id,
                           window_rows=window_rows or DEFAULT_WINDOW_ROWS, min_cut_gap=min_cut_gap)
    with ShardWriter(Path(shards_dir), seq_len=seq_len, rows_per_shard=rows_per_shard, tokenizer=tokenizer,
                     extra_index={}, overwrite=True, unit=bucket) as writer:
        for doc_id, source, ids, fim, cuts, mask in read_bucket(Path(work_dir) / BUCKETS_DIR, bucket, scatter_tasks):
            for row in packer.add(doc_id, source, ids, fim, cuts=cuts, mask=mask):
                writer.write(row)
        for row in packer.finish():
            writer.write(row)
        # every cut adds a document that ends in shards: the head piece with its own EOS
        fragment = writer.finish(tokens_in=packer.tokens_in,
                                 documents=packer.documents + sum(packer.inserted_eos.values()))
    fragment["packing"] = {"split_documents": packer.split_documents, "cut_documents": packer.cut_documents,
                           "inserted_eos": packer.inserted_eos}
    return fragment


def mix_index(work_dir: str | Path, shards_dir: str | Path, fragments: list[dict], *, seq_len: int,
              window_rows: int | None = None, extra_index: dict[str, Any] | None = None) -> dict:
    """index.json over the fragments of every bucket (in bucket order), with the mixture accounting."""
    mix = read_mix(work_dir)
    if len(fragments) != mix["buckets"]:
        raise ValueError(f"{shards_dir}: {len(fragments)} packed buckets, the mix has {mix['buckets']}")
    plan = Plan.from_json(mix["plan"])
    inserted: dict[str, int] = {}
    packing = {"method": "best_fit", "split_documents": 0, "cut_documents": 0}
    for f in fragments:
        packing["split_documents"] += f["packing"]["split_documents"]
        packing["cut_documents"] += f["packing"]["cut_documents"]
        for source, n in f["packing"]["inserted_eos"].items():
            inserted[source] = inserted.get(source, 0) + n
    packing["inserted_eos"] = dict(sorted(inserted.items()))
    extra = {
        **(extra_index or {}),
        "mixture": plan.shares(),
        "plan": plan.to_json(),
        "sampling": {"seed": plan.seed, "buckets": mix["buckets"], "pack": "best_fit",
                     "window_rows": window_rows or DEFAULT_WINDOW_ROWS, "sources": mix["sources"]},
        "packing": packing,
    }
    # Sampled tokens, plus the EOS that ends each piece cut off a repository chunk to fill a row.
    expected = {s: v["tokens"] + inserted.get(s, 0) for s, v in mix["sources"].items()}
    merged_realized: dict[str, int] = {}
    for f in fragments:
        for source, n in f["realized"].items():
            merged_realized[source] = merged_realized.get(source, 0) + n
    if dict(sorted(merged_realized.items())) != dict(sorted(expected.items())):
        raise AssertionError(f"{shards_dir}: realized tokens {merged_realized} != sampled {expected}")
    return write_index(Path(shards_dir), seq_len=seq_len, fragments=fragments, extra_index=extra)


def mix_shards(plan: Plan, tokens_dir: str | Path, shards_dir: str | Path, *, tokenizer: Tokenizer, seq_len: int,
               rows_per_shard: int, work_dir: str | Path, buckets: int | None = None,
               window_rows: int | None = None, extra_index: dict[str, Any] | None = None,
               keep_buckets: bool = False, min_cut_gap: int | None = None, scatter_tasks: int = 1) -> dict:
    """The whole mix in this process: the same functions, and so the same bytes, as the pipeline's tasks."""
    work_dir, shards_dir = Path(work_dir), Path(shards_dir)
    if (work_dir / BUCKETS_DIR).exists():
        shutil.rmtree(work_dir / BUCKETS_DIR)  # buckets of an earlier, maybe different, plan
    mix = prepare_mix(plan, tokens_dir, work_dir, seq_len=seq_len, buckets=buckets)
    for task in range(scatter_tasks):
        scatter(tokens_dir, work_dir, task=task, tasks=scatter_tasks)
    for old in sorted(shards_dir.glob("part-*.parquet*")):
        old.unlink()
    fragments = [pack_bucket(work_dir, b, shards_dir, scatter_tasks=scatter_tasks, tokenizer=tokenizer,
                             seq_len=seq_len, rows_per_shard=rows_per_shard, window_rows=window_rows,
                             min_cut_gap=min_cut_gap) for b in range(mix["buckets"])]
    index = mix_index(work_dir, shards_dir, fragments, seq_len=seq_len, window_rows=window_rows,
                      extra_index=extra_index)
    if not keep_buckets:
        shutil.rmtree(work_dir / BUCKETS_DIR)
    return index
