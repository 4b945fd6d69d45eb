"""The trainer's loader over real packed shards: exact batches, exact resume, rank coverage."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest
from realcode import real_code_docs

import curation.mixture.shards as shards_mod
from curation.loader import ShardLoader
from curation.mixture.shards import ShardWriter
from curation.pack.bestfit import BestFitPacker
from curation.tokenize import load_tokenizer

SEQ_LEN = 1024


@pytest.fixture(scope="module")
def shards(tmp_path_factory, telechat3):
    """~1M real tokens in ~1000 rows of 1024, 37 rows a shard, 10 rows a row group: batches cross
    row groups and shards."""
    tokenizer = load_tokenizer(str(telechat3))
    out = tmp_path_factory.mktemp("shards")
    mp = pytest.MonkeyPatch()
    mp.setattr(shards_mod, "ROW_GROUP_BYTES", 10 * SEQ_LEN * shards_mod.BYTES_PER_TOKEN)
    packer = BestFitPacker(seq_len=SEQ_LEN, eos_id=tokenizer.eos_id, pad_id=tokenizer.pad_id, window_rows=16)
    writer = ShardWriter(out, seq_len=SEQ_LEN, rows_per_shard=37, tokenizer=tokenizer, extra_index={"stage": "t"})
    for doc_id, source, ids in real_code_docs(str(telechat3), 3_000_000):
        for row in packer.add(doc_id, source, ids):
            writer.write(row)
    for row in packer.finish():
        writer.write(row)
    writer.finish(tokens_in=packer.tokens_in, documents=packer.documents)
    mp.undo()
    assert pq.ParquetFile(out / "part-00000.parquet").metadata.num_row_groups == 4
    return out


@pytest.fixture(scope="module")
def rows(shards):
    """Every row, read independently of the loader."""
    tables = [pq.read_table(p) for p in sorted(shards.glob("part-*.parquet"))]
    return [r for t in tables for r in t.select(["input_ids", "loss_mask", "cu_seqlens"]).to_pylist()]


def positions(cu: list[int]) -> list[int]:
    return [p for a, b in zip(cu, cu[1:]) for p in range(b - a)]


def collect(loader):
    return [b for b in loader]


def test_batches_match_the_shards_exactly(shards, rows):
    loader = ShardLoader(shards, batch_size=8)
    assert loader.num_samples == len(rows) and len(loader) == -(-len(rows) // 8)
    seen = 0
    for batch in loader:
        n = len(batch["sample_index"])
        assert batch["input_ids"].shape == batch["position_ids"].shape == batch["loss_mask"].shape == (n, SEQ_LEN)
        assert batch["input_ids"].dtype == np.int32 and batch["loss_mask"].dtype == np.int8
        flat = [0]
        for k, i in enumerate(batch["sample_index"]):
            row = rows[i]
            assert batch["input_ids"][k].tolist() == row["input_ids"]
            assert batch["loss_mask"][k].tolist() == row["loss_mask"]
            assert batch["cu_seqlens"][k].tolist() == row["cu_seqlens"]
            assert batch["position_ids"][k].tolist() == positions(row["cu_seqlens"])
            flat += [c + k * SEQ_LEN for c in row["cu_seqlens"][1:]]
        assert batch["cu_seqlens_flat"].tolist() == flat
        assert batch["max_seqlen"] == max(np.diff(flat))
        assert batch["sample_index"].tolist() == list(range(seen, seen + n))
        seen += n
    assert seen == len(rows)


@pytest.mark.parametrize("world_size", [1, 3])
def test_resume_mid_epoch_reproduces_the_remaining_batches(shards, world_size):
    for rank in range(world_size):
        full = collect(ShardLoader(shards, batch_size=5, rank=rank, world_size=world_size, start_sample=3))
        loader = ShardLoader(shards, batch_size=5, rank=rank, world_size=world_size, start_sample=3)
        it = iter(loader)
        for _ in range(7):
            next(it)
        state = loader.state_dict()
        assert state["next_sample"] == 3 + 7 * 5 * world_size  # the same on every rank
        resumed = ShardLoader(shards, batch_size=5, rank=rank, world_size=world_size)
        resumed.load_state_dict(state)
        rest = collect(resumed)
        assert len(rest) == len(full) - 7 and len(resumed) == 0
        for a, b in zip(rest, full[7:]):
            assert a["sample_index"].tolist() == b["sample_index"].tolist()
            assert np.array_equal(a["input_ids"], b["input_ids"])
            assert np.array_equal(a["position_ids"], b["position_ids"])


def test_ranks_cover_every_sequence_exactly_once(shards, rows):
    world_size = 4
    seen = []
    for rank in range(world_size):
        for batch in ShardLoader(shards, batch_size=6, rank=rank, world_size=world_size):
            assert all(i % world_size == rank for i in batch["sample_index"].tolist())
            seen += batch["sample_index"].tolist()
    assert sorted(seen) == list(range(len(rows)))
    # drop_last keeps only full batches, the same count on every rank.
    counts = {len(collect(ShardLoader(shards, batch_size=6, rank=r, world_size=world_size, drop_last=True)))
              for r in range(world_size)}
    assert counts == {len(rows) // world_size // 6}


def test_torch_tensors_only_when_asked(shards):
    loader = ShardLoader(shards, batch_size=2, return_tensors="pt")
    try:
        import torch
    except ImportError:
        with pytest.raises(ImportError, match="return_tensors='pt' needs torch"):
            next(iter(loader))
        return
    batch = next(iter(loader))
    assert batch["input_ids"].dtype == torch.int64 and tuple(batch["input_ids"].shape) == (2, SEQ_LEN)
    assert batch["cu_seqlens_flat"].dtype == torch.int32


def test_clear_errors(tmp_path, shards):
    with pytest.raises(FileNotFoundError, match="no index.json"):
        ShardLoader(tmp_path, batch_size=1)
    with pytest.raises(ValueError, match="rank"):
        ShardLoader(shards, batch_size=1, rank=2, world_size=2)
