"""Best-fit decreasing packing (Ding et al. 2024, "Fewer Truncations Improve Language Modeling").

Documents (ids + EOS) are buffered until the window holds `window_rows * seq_len` tokens. Then:
a document longer than seq_len is cut into full seq_len rows first and its remainder (which carries
the EOS) is packed like any other document, except that it becomes its row's first segment (one
such remainder per row) and its full rows are emitted right before that row: the pieces of a
split document follow each other, as `read_shard_docs` expects. The remainders are placed first,
longest first, then the other pieces, longest first; each goes into the open row with the least
space left that still fits it (a sorted list of (space left, row number), searched with bisect),
or a new row. Remainders first: each needs a row without one, and while whole documents have
not yet been placed every row qualifies; placed last, a short remainder finds the rows with
room all holding a remainder already and opens a row of its own that nothing fills. On 100
random samples of the registry corpus at 8K this took the rows above the lower bound from 22
to 9, and no sample got worse (at 32K both reach the bound). Rows
that are full are emitted; rows with space left stay open for the next window, up to
`max_open_rows`, beyond which the fullest are emitted padded. So only whole documents share rows
and no document is cut except those longer than seq_len.

Same input, same rows: ties are broken by arrival order, never by anything else. The row layout
(segments, EOS, padding last, cu_seqlens from 0 to seq_len) is ConcatPacker's, so ShardWriter
checks and writes both.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Sequence

import numpy as np

from curation.pack.packer import PackedRow, document_mask, document_with_eos

# 64 rows of look-ahead reaches >= 99% fill on real code at 8K-128K (benchmarks/bench_packing.py).
DEFAULT_WINDOW_ROWS = 64


class _Row:
    __slots__ = ("number", "space", "pieces")

    def __init__(self, number: int, seq_len: int) -> None:
        self.number = number  # creation order: the tie-break, and the emission order within a window
        self.space = seq_len
        self.pieces: list[_Piece] = []


class _Piece:
    __slots__ = ("doc_id", "source", "fim", "tokens", "lead", "cuts", "part", "mask")

    def __init__(self, doc_id: str, source: str, fim: str, tokens: np.ndarray, lead: list[_Piece],
                 cuts: list[int] | None = None, part: int = 0, mask: np.ndarray | None = None) -> None:
        self.doc_id, self.source, self.fim, self.tokens = doc_id, source, fim, tokens
        self.mask = mask  # loss mask of `tokens`; None: all ones
        self.lead = lead  # full seq_len rows of the same document that come before `tokens`
        self.cuts = cuts or []  # offsets in `tokens` where it may become two documents
        self.part = part  # pieces already cut off this document


class BestFitPacker:
    """Counters as ConcatPacker: `tokens_in`, `tokens_out`, `padding`, `rows`, `documents`; plus
    `split_documents` (documents longer than seq_len, the only ones cut). After `finish()`,
    tokens_in == tokens_out and rows * seq_len == tokens_out + padding."""

    def __init__(self, *, seq_len: int, eos_id: int, pad_id: int, window_rows: int = DEFAULT_WINDOW_ROWS,
                 max_open_rows: int | None = None, min_cut_gap: int | None = None) -> None:
        """min_cut_gap: a document with declared cut points that fits no open row is cut to fill
        the roomiest open row when that row has at least this much space (default seq_len / 32)."""
        if seq_len < 2:
            raise ValueError(f"seq_len must be >= 2, got {seq_len}")
        if window_rows < 1:
            raise ValueError(f"window_rows must be >= 1, got {window_rows}")
        self.seq_len = seq_len
        self.eos_id = eos_id
        self.pad_id = pad_id
        self.window_tokens = window_rows * seq_len
        self.max_open_rows = window_rows if max_open_rows is None else max_open_rows
        self.tokens_in = 0
        self.tokens_out = 0
        self.padding = 0
        self.rows = 0
        self.documents = 0
        self.split_documents = 0
        self.cut_documents = 0  # documents cut at a declared point to fill a row
        self.inserted_eos: dict[str, int] = {}  # source -> EOS ending a cut-off head piece
        # 1/32 of a row: on stage 2 over the registry corpus (32K) a gap of 1/8 gave 98.1% fill, 1/16 99.1%,
        # 1/32 99.4%, and smaller gaps no more (tests/test_stages.py asserts >= 99% at 32K and 128K)
        self.min_cut_gap = max(1, seq_len // 32) if min_cut_gap is None else min_cut_gap
        self._window: list[_Piece] = []
        self._window_tokens = 0
        self._open: list[_Row] = []  # by row number
        self._space: list[tuple[int, int]] = []  # sorted (space left, row number) of open rows
        self._by_number: dict[int, _Row] = {}
        self._next_number = 0

    def add(self, doc_id: str, source: str, ids: Sequence[int], fim: str = "",
            cuts: Sequence[int] | None = None, mask: Sequence[int] | None = None) -> Iterator[PackedRow]:
        """Buffer one document; yields the rows that a full window completes. Consume the iterator.

        cuts: offsets in `ids` where the document may be divided into separate training documents
        (a repository chunk's file boundaries). A document that fits no open row is cut at the
        largest such point that fills the roomiest row: the head gets an EOS of its own (counted
        in `tokens_in` and `inserted_eos`) and the rest is packed on as `{doc_id}~{k}`.
        mask: per-id loss mask (conversations); None means all ones."""
        doc = document_with_eos(doc_id, ids, self.eos_id)
        doc_mask = document_mask(mask, len(ids))
        self.tokens_in += len(doc)
        self.documents += 1
        n_full = (len(doc) - 1) // self.seq_len  # full rows cut off the front; the rest is >= 1 token
        lead = [_Piece(doc_id, source, fim, doc[k * self.seq_len : (k + 1) * self.seq_len], [],
                       mask=None if doc_mask is None else doc_mask[k * self.seq_len : (k + 1) * self.seq_len])
                for k in range(n_full)]
        self.split_documents += bool(lead)
        offset = n_full * self.seq_len
        usable = sorted(c - offset for c in (cuts or ()) if offset < c < len(doc) - 1)
        self._window.append(_Piece(doc_id, source, fim, doc[offset:], lead, usable if not lead else None,
                                   mask=None if doc_mask is None else doc_mask[offset:]))
        self._window_tokens += len(doc)
        if self._window_tokens >= self.window_tokens:
            yield from self._pack_window(flush=False)

    def finish(self) -> Iterator[PackedRow]:
        """Packs what is buffered and emits every open row (padded at the end).

        The open rows are taken apart and their pieces packed again together with the last
        window, longest first: rows filled across windows are good enough to carry, not to end
        on, and at the end of the stream nothing else will fill them.
        """
        for row in sorted(self._open, key=lambda r: r.number):
            self._window.extend(row.pieces)
            self._window_tokens += sum(len(p.tokens) for p in row.pieces)
        self._open, self._space, self._by_number = [], [], {}
        yield from self._pack_window(flush=True)

    def _pack_window(self, *, flush: bool) -> Iterator[PackedRow]:
        # Remainders of split documents first, then the rest; longest first within each. sorted() is
        # stable, so equal lengths keep arrival order.
        pieces = sorted(self._window, key=lambda p: (not p.lead, -len(p.tokens)))
        self._window, self._window_tokens = [], 0
        for piece in pieces:
            self._place(piece)
        full = [r for r in self._open if r.space == 0]
        for row in full:
            self._close(row)
        closing = list(self._open) if flush else self._fullest_beyond_limit()
        for row in closing:
            self._close(row)
        for row in sorted(full + closing, key=lambda r: r.number):
            for chunk in row.pieces[0].lead:
                yield self._emit([chunk])
            yield self._emit(row.pieces)

    def _place(self, piece: _Piece) -> None:
        n = len(piece.tokens)
        at = bisect.bisect_left(self._space, (n, -1))
        if piece.lead:
            # The remainder of a split document goes first in its row, right after its full rows:
            # so one such remainder per row. Rows that hold one are rare; skipping them is short.
            while at < len(self._space) and self._by_number[self._space[at][1]].pieces[0].lead:
                at += 1
        if at >= len(self._space) and piece.cuts and self._space and self._space[-1][0] >= self.min_cut_gap:
            head, tail = self._cut(piece, self._space[-1][0])
            if head is not None:
                self._place(head)
                self._place(tail)
                return
        if at < len(self._space):
            _, number = self._space.pop(at)
            row = self._by_number[number]
        else:
            row = _Row(self._next_number, self.seq_len)
            self._next_number += 1
            self._open.append(row)
            self._by_number[row.number] = row
        if piece.lead:
            row.pieces.insert(0, piece)
        else:
            row.pieces.append(piece)
        row.space -= n
        if row.space > 0:
            bisect.insort(self._space, (row.space, row.number))

    def _cut(self, piece: _Piece, room: int) -> tuple[_Piece | None, _Piece | None]:
        """Head (ids up to the largest cut that leaves room for its EOS, plus that EOS) and tail."""
        k = bisect.bisect_right(piece.cuts, room - 1) - 1
        if k < 0:
            return None, None
        at = piece.cuts[k]
        head_tokens = np.empty(at + 1, dtype=np.int32)
        head_tokens[:at] = piece.tokens[:at]
        head_tokens[at] = self.eos_id
        self.tokens_in += 1
        self.inserted_eos[piece.source] = self.inserted_eos.get(piece.source, 0) + 1
        if piece.part == 0:
            self.cut_documents += 1
        head_id = piece.doc_id if piece.part == 0 else f"{piece.doc_id}~{piece.part}"
        base_id = piece.doc_id
        # fim stays the document's tag on every piece: "one file of this document is FIM-arranged"
        head_mask = tail_mask = None
        if piece.mask is not None:  # the inserted EOS takes the mask of the token before it, as in document_mask
            head_mask = np.append(piece.mask[:at], piece.mask[at - 1] if at else 1).astype(np.int8)
            tail_mask = piece.mask[at:]
        head = _Piece(head_id, piece.source, piece.fim, head_tokens, [], mask=head_mask)
        tail = _Piece(base_id, piece.source, piece.fim, piece.tokens[at:], [], [c - at for c in piece.cuts[k + 1:]],
                      piece.part + 1, mask=tail_mask)
        return head, tail

    def _fullest_beyond_limit(self) -> list[_Row]:
        excess = len(self._open) - self.max_open_rows
        if excess <= 0:
            return []
        return [self._by_number[number] for _, number in self._space[:excess]]

    def _close(self, row: _Row) -> None:
        if row.space > 0:
            self._space.remove((row.space, row.number))
        self._open.remove(row)
        del self._by_number[row.number]

    def _emit(self, pieces: list[_Piece]) -> PackedRow:
        ids = np.full(self.seq_len, self.pad_id, dtype=np.int32)
        loss_mask = np.zeros(self.seq_len, dtype=np.int8)
        starts, doc_ids, sources, fims = [], [], [], []
        pos = 0
        for piece in pieces:
            starts.append(pos)
            doc_ids.append(piece.doc_id if piece.part == 0 else f"{piece.doc_id}~{piece.part}")
            sources.append(piece.source)
            fims.append(piece.fim)
            ids[pos : pos + len(piece.tokens)] = piece.tokens
            loss_mask[pos : pos + len(piece.tokens)] = 1 if piece.mask is None else piece.mask
            pos += len(piece.tokens)
        if pos < self.seq_len:
            starts.append(pos)
            doc_ids.append("")
            sources.append("")
            fims.append("")
        self.tokens_out += pos
        self.padding += self.seq_len - pos
        self.rows += 1
        return PackedRow(input_ids=ids, cu_seqlens=[*starts, self.seq_len], loss_mask=loss_mask,
                         doc_ids=doc_ids, sources=sources, fim=fims)
