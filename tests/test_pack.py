"""Packing real tokenized code into shards: exact rows, exact totals, byte-identical re-runs."""

from __future__ import annotations

import hashlib
import json
import sysconfig
from pathlib import Path

import numpy as np
import pytest

from curation.mixture.shards import ShardWriter, read_shard_docs
from curation.pack.packer import ConcatPacker
from curation.tokenize import load_fallback_tokenizer, load_tokenizer

TELECHAT3 = Path(__file__).resolve().parents[2] / "shared" / "tokenizers" / "telechat3"
SITE_PACKAGES = Path(sysconfig.get_paths()["purelib"])


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    """TeleChat3 when ../shared is there; otherwise the demo fallback (packing does not care)."""
    if (TELECHAT3 / "tokenizer.model").is_file():
        return load_tokenizer(str(TELECHAT3))
    corpus = [p.read_text(encoding="utf-8") for p in sorted((SITE_PACKAGES / "pytest").glob("*.py"))]
    return load_fallback_tokenizer(tmp_path_factory.mktemp("tok"), corpus)


@pytest.fixture(scope="module")
def docs(tokenizer) -> list[tuple[str, str, list[int]]]:
    """(doc_id, source, ids) for ~200 real source files from two packages, as two sources."""
    files = sorted((SITE_PACKAGES / "_pytest").rglob("*.py")) + sorted((SITE_PACKAGES / "pyarrow").glob("*.py"))
    files = [p for p in files if p.stat().st_size > 0][:200]
    texts = [p.read_text(encoding="utf-8") for p in files]
    ids = tokenizer.encode_batch(texts, num_threads=2)
    return [
        (str(p.relative_to(SITE_PACKAGES)), "tests-code" if "_pytest" in p.parts else "lib-code", d)
        for p, d in zip(files, ids)
    ]


def pack(docs, out: Path, tokenizer, *, seq_len: int, rows_per_shard: int = 50) -> dict:
    packer = ConcatPacker(seq_len=seq_len, eos_id=tokenizer.eos_id, pad_id=tokenizer.pad_id)
    writer = ShardWriter(
        out, seq_len=seq_len, rows_per_shard=rows_per_shard, tokenizer=tokenizer,
        extra_index={"stage": "test", "mixture": {"tests-code": 0.5, "lib-code": 0.5}, "code_version": "t"},
    )
    for doc_id, source, ids in docs:
        for row in packer.add(doc_id, source, ids):
            writer.write(row)
    for row in packer.finish():
        writer.write(row)
    return writer.finish(tokens_in=packer.tokens_in, documents=packer.documents)


def shard_rows(out: Path) -> list[dict]:
    import pyarrow.parquet as pq

    return [row for f in sorted(out.glob("part-*.parquet")) for row in pq.read_table(f).to_pylist()]


@pytest.mark.parametrize("seq_len", [64, 8192])
def test_rows_follow_the_shard_contract(tmp_path, tokenizer, docs, seq_len):
    index = pack(docs, tmp_path, tokenizer, seq_len=seq_len)
    rows = shard_rows(tmp_path)
    total_in = sum(len(ids) + 1 for _, _, ids in docs)
    assert index["totals"] == {
        "tokens_in": total_in, "tokens_out": total_in, "padding": len(rows) * seq_len - total_in,
        "rows": len(rows), "documents": len(docs),
    }
    assert 0 <= index["totals"]["padding"] < seq_len  # concat packing pads only the last row
    realized = {}
    for row in rows:
        cu = row["cu_seqlens"]
        assert len(row["input_ids"]) == len(row["loss_mask"]) == seq_len
        assert cu[0] == 0 and cu[-1] == seq_len and cu == sorted(set(cu))
        assert len(cu) == len(row["doc_ids"]) + 1 == len(row["sources"]) + 1 == len(row["fim"]) + 1
        assert set(row["fim"]) == {""}
        real = cu[-2] if row["doc_ids"][-1] == "" else seq_len
        assert row["loss_mask"] == [1] * real + [0] * (seq_len - real)
        assert row["input_ids"][real:] == [tokenizer.pad_id] * (seq_len - real)
        for i, (doc_id, source) in enumerate(zip(row["doc_ids"], row["sources"])):
            if doc_id:
                realized[source] = realized.get(source, 0) + cu[i + 1] - cu[i]
    assert index["realized"] == dict(sorted(realized.items()))
    back = list(read_shard_docs(tmp_path))
    assert back == docs  # same documents, same ids, same order, EOS stripped


def test_index_records_tokenizer_hashes_and_extras(tmp_path, tokenizer, docs):
    index = pack(docs, tmp_path, tokenizer, seq_len=512, rows_per_shard=40)
    assert json.loads((tmp_path / "index.json").read_text()) == index
    assert index["stage"] == "test" and index["code_version"] == "t"
    assert index["tokenizer"] == {
        "name": tokenizer.name, "backend": tokenizer.backend, "vocab_size": tokenizer.vocab_size,
        "eos_id": tokenizer.eos_id, "pad_id": tokenizer.pad_id, "sha256": tokenizer.files_sha256,
    }
    assert len(index["shards"]) > 1
    assert [s["file"] for s in index["shards"]] == [f"part-{i:05d}.parquet" for i in range(len(index["shards"]))]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([s["file"] for s in index["shards"]] + ["index.json"])
    for shard in index["shards"]:
        assert hashlib.sha256((tmp_path / shard["file"]).read_bytes()).hexdigest() == shard["sha256"]
    assert sum(s["rows"] for s in index["shards"]) == index["totals"]["rows"]
    assert sum(s["tokens"] for s in index["shards"]) == index["totals"]["tokens_out"]


def test_two_runs_are_byte_identical(tmp_path, tokenizer, docs):
    pack(docs, tmp_path / "a", tokenizer, seq_len=1024, rows_per_shard=30)
    pack(docs, tmp_path / "b", tokenizer, seq_len=1024, rows_per_shard=30)
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "b").iterdir()) and len(names) > 2
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_long_document_is_split_with_one_eos(tmp_path, tokenizer, docs):
    seq_len = 64
    long_id, _, long_ids = max(docs, key=lambda d: len(d[2]))
    long_ids = long_ids[: 3 * seq_len + 10]
    packer = ConcatPacker(seq_len=seq_len, eos_id=tokenizer.eos_id, pad_id=tokenizer.pad_id)
    rows = list(packer.add("first", "s", docs[0][2][:20]))
    rows += list(packer.add(long_id, "s", long_ids))
    rows += list(packer.finish())
    # 21 tokens of "first" + 3*64+11 of the long one = 224 tokens: 4 rows, 32 of padding.
    assert len(rows) == 4 and (packer.tokens_in, packer.padding) == (224, 32)
    assert rows[0].cu_seqlens == [0, 21, 64] and rows[0].doc_ids == ["first", long_id]
    assert rows[1].cu_seqlens == rows[2].cu_seqlens == [0, 64] and rows[1].doc_ids == [long_id]
    assert rows[3].cu_seqlens == [0, 32, 64] and rows[3].doc_ids == [long_id, ""]
    pieces = np.concatenate([rows[0].input_ids[21:], rows[1].input_ids, rows[2].input_ids, rows[3].input_ids[:32]])
    assert pieces.tolist() == long_ids + [tokenizer.eos_id]
    assert int((np.concatenate([r.input_ids for r in rows[:3]]) == tokenizer.eos_id).sum()) == 1  # "first"'s EOS only
    writer = ShardWriter(tmp_path, seq_len=seq_len, rows_per_shard=10, tokenizer=tokenizer, extra_index={})
    for row in rows:
        writer.write(row)
    writer.finish(tokens_in=packer.tokens_in, documents=packer.documents)
    assert list(read_shard_docs(tmp_path)) == [("first", "s", docs[0][2][:20]), (long_id, "s", long_ids)]


def test_row_boundaries(tokenizer):
    eos, pad = tokenizer.eos_id, tokenizer.pad_id
    packer = ConcatPacker(seq_len=8, eos_id=eos, pad_id=pad)
    # 7 tokens + EOS fill a row exactly: no padding segment.
    [row] = packer.add("a", "s", [100] * 7)
    assert row.cu_seqlens == [0, 8] and row.doc_ids == ["a"] and row.input_ids[-1] == eos
    # 8 tokens fill a row; the EOS alone opens the next one, still as document "b".
    [row] = packer.add("b", "s", [101] * 8)
    assert row.input_ids.tolist() == [101] * 8
    assert list(packer.add("c", "s", [])) == []  # an empty document is just its EOS
    [tail] = packer.finish()
    assert tail.input_ids.tolist() == [eos, eos] + [pad] * 6
    assert tail.cu_seqlens == [0, 1, 2, 8] and tail.doc_ids == ["b", "c", ""] and tail.sources == ["s", "s", ""]
    assert list(packer.finish()) == []
    assert (packer.tokens_in, packer.tokens_out, packer.padding, packer.rows) == (18, 18, 6, 3)


def test_writer_refuses_broken_rows_stale_shards_and_lost_tokens(tmp_path, tokenizer, docs):
    packer = ConcatPacker(seq_len=16, eos_id=tokenizer.eos_id, pad_id=tokenizer.pad_id)
    rows = list(packer.add(*docs[0])) + list(packer.finish())
    writer = ShardWriter(tmp_path, seq_len=32, rows_per_shard=4, tokenizer=tokenizer, extra_index={})
    broken = "row 0 breaks the shard contract: input_ids/loss_mask have 16/16 tokens, not 32"
    with pytest.raises(ValueError, match=broken):
        writer.write(rows[0])
    pack(docs[:20], tmp_path / "run", tokenizer, seq_len=16, rows_per_shard=5)
    with pytest.raises(FileExistsError, match="already holds shards"):
        ShardWriter(tmp_path / "run", seq_len=16, rows_per_shard=5, tokenizer=tokenizer, extra_index={})
    # overwrite clears every old part, so a shorter re-run leaves no stale part-00007 behind.
    writer = ShardWriter(
        tmp_path / "run", seq_len=16, rows_per_shard=5, tokenizer=tokenizer, extra_index={}, overwrite=True
    )
    writer.write(rows[0])
    with pytest.raises(AssertionError, match="tokens in 99 != tokens out 16"):
        writer.finish(tokens_in=99)
    assert list((tmp_path / "run").iterdir()) == []  # nothing written for a run that lost tokens
    with pytest.raises(ValueError, match="may not set .'seq_len'."):
        ShardWriter(tmp_path / "x", seq_len=16, rows_per_shard=5, tokenizer=tokenizer, extra_index={"seq_len": 1})


def test_duckdb_reads_shards_as_written(tmp_path, tokenizer, docs):
    import duckdb

    index = pack(docs, tmp_path, tokenizer, seq_len=256, rows_per_shard=100)
    con = duckdb.connect()
    glob = str(tmp_path / "part-*.parquet")
    rows, bad, real = con.execute(
        f"SELECT count(*), count(*) FILTER (WHERE len(input_ids) != 256), sum(list_sum(loss_mask)) FROM '{glob}'"
    ).fetchone()
    assert (rows, bad, real) == (index["totals"]["rows"], 0, index["totals"]["tokens_out"])
    types = dict(con.execute(f"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM '{glob}')").fetchall())
    assert types == {
        "input_ids": "INTEGER[]", "cu_seqlens": "INTEGER[]", "loss_mask": "TINYINT[]",
        "doc_ids": "VARCHAR[]", "sources": "VARCHAR[]", "fim": "VARCHAR[]",
    }
