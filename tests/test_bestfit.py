"""Best-fit decreasing packing on real tokenized code: fill, exact totals, the shard contract."""

from __future__ import annotations

import math
from collections import Counter

import pytest
from realcode import real_code_docs

from curation.mixture.shards import ShardWriter, read_shard_docs
from curation.pack.bestfit import BestFitPacker
from curation.pack.packer import ConcatPacker
from curation.tokenize import load_tokenizer

EOS, PAD = 2, 3


@pytest.fixture(scope="module")
def docs(telechat3):
    """~3 MB of real Python: ~1M tokens, median ~2K tokens a file, ~40 files above 8K, a few above 32K."""
    return [(doc_id, src, list(ids)) for doc_id, src, ids in real_code_docs(str(telechat3), 3_000_000)]


def pack_all(packer, docs):
    rows = []
    for doc_id, source, ids in docs:
        rows.extend(packer.add(doc_id, source, ids))
    rows.extend(packer.finish())
    return rows


def check_rows(rows, seq_len):
    for row in rows:
        cu = row.cu_seqlens
        assert len(row.input_ids) == seq_len and cu[0] == 0 and cu[-1] == seq_len
        assert all(b > a for a, b in zip(cu, cu[1:]))
        assert len(cu) == len(row.doc_ids) + 1 == len(row.sources) + 1 == len(row.fim) + 1
        assert "" not in row.doc_ids[:-1]
        real = cu[-2] if row.doc_ids[-1] == "" else seq_len
        assert row.loss_mask.tolist() == [1] * real + [0] * (seq_len - real)
        assert (row.input_ids[real:] == PAD).all()


@pytest.mark.parametrize(("seq_len", "repeats"), [(8192, 1), (32768, 2), (131072, 8)])
def test_fill_at_each_stage_length(docs, seq_len, repeats):
    """>= 99% fill. The sample is repeated (as epochs of the mixer would) so that 32K and 128K get
    enough rows for fill to mean something: 128K x 8 passes is ~8M tokens, ~63 rows. The stream's
    last row cannot be filled by anything, so fill is also stated without it, and the row count
    against the lower bound ceil(tokens / seq_len)."""
    stream = [(f"{d}#{r}", s, ids) for r in range(repeats) for d, s, ids in docs]
    packer = BestFitPacker(seq_len=seq_len, eos_id=EOS, pad_id=PAD)
    rows = pack_all(packer, stream)
    check_rows(rows, seq_len)
    tokens_in = sum(len(ids) + 1 for _, _, ids in stream)
    assert packer.tokens_in == packer.tokens_out == tokens_in
    assert packer.rows == len(rows) and len(rows) * seq_len == packer.tokens_out + packer.padding
    assert len(rows) <= math.ceil(tokens_in / seq_len) + 1
    fill = packer.tokens_out / (len(rows) * seq_len)
    fill_but_last = sum(int(r.loss_mask.sum()) for r in rows[:-1]) / ((len(rows) - 1) * seq_len)
    assert fill_but_last >= 0.99, (fill, fill_but_last)
    if seq_len == 8192:
        assert fill >= 0.985  # ~120 rows: one partly filled row is 0.8%
    assert packer.split_documents == sum(1 for _, _, ids in stream if len(ids) + 1 > seq_len)


def test_only_documents_longer_than_seq_len_are_cut(tmp_path, docs, telechat3):
    seq_len = 2048
    tokenizer = load_tokenizer(str(telechat3))
    packer = BestFitPacker(seq_len=seq_len, eos_id=tokenizer.eos_id, pad_id=tokenizer.pad_id, window_rows=16)
    rows = pack_all(packer, docs)
    check_rows(rows, seq_len)
    rows_of = Counter(d for row in rows for d in set(row.doc_ids) if d)
    long_docs = {d for d, _, ids in docs if len(ids) + 1 > seq_len}
    assert long_docs and {d for d, n in rows_of.items() if n > 1} == long_docs
    for d, _, ids in docs:
        assert rows_of[d] == math.ceil((len(ids) + 1) / seq_len) if d in long_docs else rows_of[d] == 1
    concat = ConcatPacker(seq_len=seq_len, eos_id=tokenizer.eos_id, pad_id=tokenizer.pad_id)
    concat_rows = pack_all(concat, docs)
    concat_cut = {d for row in concat_rows for d in row.doc_ids if d and sum(d in r.doc_ids for r in concat_rows) > 1}
    assert len(concat_cut) > len(long_docs)  # concat-and-chunk cuts documents that would have fit
    # Through the shard writer: same contract, and every document comes back whole.
    writer = ShardWriter(tmp_path, seq_len=seq_len, rows_per_shard=100, tokenizer=tokenizer,
                         extra_index={"stage": "test"})
    for row in rows:
        writer.write(row)
    index = writer.finish(tokens_in=packer.tokens_in, documents=packer.documents)
    assert index["totals"]["rows"] * seq_len == index["totals"]["tokens_out"] + index["totals"]["padding"]
    back = sorted(read_shard_docs(tmp_path))
    assert back == sorted(docs)


def test_best_fit_decreasing_layout_is_exact():
    # Lengths with EOS: 7, 5, 3, 3, 2 into rows of 10. Longest first: 7 opens row 0, 5 opens row 1,
    # 3 fits row 0 exactly (space 3 < 5), the next 3 goes to row 1 (space 5 -> 2), 2 fills row 1.
    docs = [("c", "s", [5] * 2), ("a", "s", [5] * 6), ("d", "s", [6] * 2), ("b", "s", [7] * 4), ("e", "s", [8])]
    packer = BestFitPacker(seq_len=10, eos_id=EOS, pad_id=PAD, window_rows=100)
    rows = pack_all(packer, docs)
    assert [r.doc_ids for r in rows] == [["a", "c"], ["b", "d", "e"]]
    assert [r.cu_seqlens for r in rows] == [[0, 7, 10], [0, 5, 8, 10]]
    assert rows[0].input_ids.tolist() == [5] * 6 + [EOS] + [5] * 2 + [EOS]
    assert packer.padding == 0 and packer.tokens_in == 20


def test_split_document_pieces_follow_each_other():
    # 23 tokens + EOS at seq_len 10: two full rows, then the 4-token remainder leads the next row.
    docs = [("x", "s", list(range(100, 105))), ("long", "s", list(range(200, 223))), ("y", "s", [9, 9])]
    packer = BestFitPacker(seq_len=10, eos_id=EOS, pad_id=PAD, window_rows=100)
    rows = pack_all(packer, docs)
    assert [r.doc_ids for r in rows] == [["long"], ["long"], ["long", "x"], ["y", ""]]
    assert rows[2].input_ids.tolist() == [220, 221, 222, EOS, 100, 101, 102, 103, 104, EOS]
    assert rows[3].cu_seqlens == [0, 3, 10] and rows[3].loss_mask.tolist() == [1] * 3 + [0] * 7
    assert packer.split_documents == 1 and packer.tokens_in == packer.tokens_out == 6 + 24 + 3


def test_remainders_of_split_documents_are_placed_before_whole_documents():
    # With EOS at seq_len 100: whole documents of 46 and 44, split documents of 136 (1 full row and
    # a remainder of 36) and 225 (2 full rows, remainder 25): 451 tokens, 5 rows at the least. Only
    # one remainder may lead a row. Longest first alone puts 46 and 44 in one row, 36 in a second,
    # and 25, barred from that one, opens a sixth row. Remainders first: 36 and 25 lead a row
    # each, 46 and 44 fill them.
    docs = [("w46", "s", [5] * 45), ("s136", "s", [6] * 135), ("w44", "s", [7] * 43), ("s225", "s", [8] * 224)]
    packer = BestFitPacker(seq_len=100, eos_id=EOS, pad_id=PAD, window_rows=100)
    rows = pack_all(packer, docs)
    check_rows(rows, 100)
    assert len(rows) == 5 == math.ceil(packer.tokens_in / 100)
    assert [r.doc_ids for r in rows] == [["s136"], ["s136", "w46", ""], ["s225"], ["s225"], ["s225", "w44", ""]]


def test_same_input_same_rows(docs):
    def run():
        return [(r.input_ids.tobytes(), tuple(r.cu_seqlens), tuple(r.doc_ids))
                for r in pack_all(BestFitPacker(seq_len=4096, eos_id=EOS, pad_id=PAD, window_rows=8), docs)]

    assert run() == run()


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="seq_len"):
        BestFitPacker(seq_len=1, eos_id=EOS, pad_id=PAD)
    with pytest.raises(ValueError, match="doc_id"):
        list(BestFitPacker(seq_len=8, eos_id=EOS, pad_id=PAD).add("", "s", [1]))


def test_a_document_with_cut_points_fills_a_gap_at_a_declared_boundary():
    seq_len, eos, pad = 100, 2, 3
    packer = BestFitPacker(seq_len=seq_len, eos_id=eos, pad_id=pad, window_rows=1, max_open_rows=4, min_cut_gap=10)
    # first window: rows with 39 and 54 tokens free stay open
    rows = list(packer.add("a", "s", list(range(100, 160)))) + list(packer.add("b", "s", list(range(300, 345))))
    # second window: the repository chunk (91 tokens) fits no open row, so it is cut at 50, the
    # largest declared boundary whose head (50 ids + its own EOS) fits the roomiest row (54 free)
    rows += list(packer.add("repo#0", "s", list(range(200, 290)), cuts=[20, 35, 50]))
    rows += list(packer.add("c", "s", list(range(400, 420)))) + list(packer.finish())
    segments = {d: r.input_ids[r.cu_seqlens[k]:r.cu_seqlens[k + 1]].tolist()
                for r in rows for k, d in enumerate(r.doc_ids) if d}
    assert segments["repo#0"] == list(range(200, 250)) + [eos]
    assert segments["repo#0~1"] == list(range(250, 290)) + [eos]
    assert packer.cut_documents == 1 and packer.inserted_eos == {"s": 1}
    assert packer.tokens_in == packer.tokens_out == 61 + 46 + 91 + 21 + 1
    assert packer.rows * seq_len == packer.tokens_out + packer.padding


def test_no_cut_without_declared_points_or_below_the_gap():
    for cuts, gap in ((None, 10), ([20, 35, 50], 60)):
        packer = BestFitPacker(seq_len=100, eos_id=2, pad_id=3, window_rows=1, max_open_rows=4, min_cut_gap=gap)
        rows = list(packer.add("a", "s", list(range(100, 160)))) + list(packer.add("b", "s", list(range(300, 345))))
        rows += list(packer.add("repo#0", "s", list(range(200, 290)), cuts=cuts))
        rows += list(packer.add("c", "s", list(range(400, 420)))) + list(packer.finish())
        assert packer.cut_documents == 0
        assert sorted(d for r in rows for d in r.doc_ids if d) == ["a", "b", "c", "repo#0"]
