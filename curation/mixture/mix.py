"""Plan → shards: sample per the plan, shuffle in buckets, pack best-fit, write shards + index.json.

index.json records the plan's shares (`mixture`), the tokens realized per source, and how the
sample was drawn; the realized tokens are checked against the sample exactly, so a share that
drifts from the plan is a bug here, never silent.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from curation.mixture.plan import Plan
from curation.mixture.sample import (
    default_buckets,
    read_buckets,
    sample_plan,
    write_buckets,
)
from curation.mixture.shards import ShardWriter
from curation.pack.bestfit import DEFAULT_WINDOW_ROWS, BestFitPacker

if TYPE_CHECKING:
    from curation.tokenize.tokenizer import Tokenizer


def mix_shards(plan: Plan, tokens_dir: str | Path, shards_dir: str | Path, *, tokenizer: Tokenizer, seq_len: int,
               rows_per_shard: int, work_dir: str | Path, buckets: int | None = None,
               window_rows: int | None = None, extra_index: dict[str, Any] | None = None,
               keep_buckets: bool = False, min_cut_gap: int | None = None) -> dict:
    samples = sample_plan(plan, tokens_dir)
    sampled = {s.source: s.tokens for s in samples}
    buckets = buckets or default_buckets(sum(sampled.values()))
    bucket_dir = Path(work_dir) / "buckets"
    if bucket_dir.exists():
        shutil.rmtree(bucket_dir)  # buckets of an earlier, maybe different, plan
    files = write_buckets(samples, tokens_dir, bucket_dir, seed=plan.seed, buckets=buckets)

    window_rows = window_rows or DEFAULT_WINDOW_ROWS
    packer = BestFitPacker(seq_len=seq_len, eos_id=tokenizer.eos_id, pad_id=tokenizer.pad_id, window_rows=window_rows,
                           min_cut_gap=min_cut_gap)
    index_extra = {
        **(extra_index or {}),
        "mixture": plan.shares(),
        "plan": plan.to_json(),
        "sampling": {
            "seed": plan.seed, "buckets": buckets, "pack": "best_fit", "window_rows": window_rows,
            "sources": {s.source: {"target_tokens": s.target_tokens, "tokens": s.tokens, "documents": s.documents,
                                   "full_passes": s.full_passes, "fractional_documents": len(s.chosen)}
                        for s in samples},
        },
    }
    with ShardWriter(Path(shards_dir), seq_len=seq_len, rows_per_shard=rows_per_shard, tokenizer=tokenizer,
                     extra_index=index_extra, overwrite=True) as writer:
        for doc_id, source, ids, fim, cuts, mask in read_buckets(files):
            for row in packer.add(doc_id, source, ids, fim, cuts=cuts, mask=mask):
                writer.write(row)
        for row in packer.finish():
            writer.write(row)
        writer.extra_index["packing"] = {"method": "best_fit", "split_documents": packer.split_documents,
                                         "cut_documents": packer.cut_documents, "inserted_eos": packer.inserted_eos}
        # every cut adds a document that ends in shards: the head piece with its own EOS
        index = writer.finish(tokens_in=packer.tokens_in,
                              documents=packer.documents + sum(packer.inserted_eos.values()))
    # Sampled tokens, plus the EOS that ends each piece cut off a repository chunk to fill a row.
    expected = {s: t + packer.inserted_eos.get(s, 0) for s, t in sampled.items()}
    if index["realized"] != dict(sorted(expected.items())):
        raise AssertionError(f"{shards_dir}: realized tokens {index['realized']} != sampled {expected}")
    if not keep_buckets:
        shutil.rmtree(bucket_dir)
    return index
