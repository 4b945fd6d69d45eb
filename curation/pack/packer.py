"""Pack tokenized documents into rows of exactly seq_len tokens (the shard contract).

A row is a list of segments. Each document contributes its ids followed by EOS; a document that
does not fit in the space left is split across rows, and only its last piece carries the EOS.
The tail of the last row is padding, kept as its own final segment (doc_id "", source "") so
that `cu_seqlens` always runs from 0 to seq_len and has len(doc_ids) + 1 entries.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass
class PackedRow:
    input_ids: np.ndarray  # int32, exactly seq_len
    cu_seqlens: list[int]  # segment starts, then seq_len; len == len(doc_ids) + 1
    loss_mask: np.ndarray  # int8: the documents' masks (all ones for plain documents, EOS included), 0 on padding
    doc_ids: list[str]  # one per segment; "" for the padding segment
    sources: list[str]
    fim: list[str]  # "" (plain), "psm" or "spm"


def document_with_eos(doc_id: str, ids: Sequence[int], eos_id: int) -> np.ndarray:
    """A document's ids as int32 with EOS appended: what every packer places."""
    if not doc_id:
        raise ValueError("doc_id must be non-empty: '' marks the padding segment")
    doc = np.empty(len(ids) + 1, dtype=np.int32)
    doc[:-1] = ids
    doc[-1] = eos_id
    return doc


def document_mask(mask: Sequence[int] | None, n_ids: int) -> np.ndarray | None:
    """The loss mask of a document's ids + EOS, or None when it is all ones (plain documents).

    The EOS takes the mask of the token before it: a conversation that ends in the model's own
    words trains its end (the EOS is the closing <_end> of that turn), one that ends in a tool
    response does not.
    """
    if mask is None:
        return None
    if len(mask) != n_ids:
        raise ValueError(f"loss mask has {len(mask)} entries for {n_ids} ids")
    out = np.empty(n_ids + 1, dtype=np.int8)
    out[:-1] = mask
    out[-1] = out[-2] if n_ids else 1
    return out


class ConcatPacker:
    """"concat": documents in the order given, each followed by EOS, cut into rows of seq_len.

    Counters: `tokens_in` (document tokens + one EOS each), `tokens_out` (non-pad tokens in
    emitted rows), `padding`, `rows`, `documents`. After `finish()`, tokens_in == tokens_out.
    """

    def __init__(self, *, seq_len: int, eos_id: int, pad_id: int) -> None:
        if seq_len < 2:
            raise ValueError(f"seq_len must be >= 2, got {seq_len}")
        self.seq_len = seq_len
        self.eos_id = eos_id
        self.pad_id = pad_id
        self.tokens_in = 0
        self.tokens_out = 0
        self.padding = 0
        self.rows = 0
        self.documents = 0
        self._buf = np.empty(seq_len, dtype=np.int32)
        self._mask = np.zeros(seq_len, dtype=np.int8)
        self._fill = 0
        self._starts: list[int] = []
        self._doc_ids: list[str] = []
        self._sources: list[str] = []
        self._fim: list[str] = []

    def add(self, doc_id: str, source: str, ids: Sequence[int], fim: str = "",
            mask: Sequence[int] | None = None) -> Iterator[PackedRow]:
        """Append one document; yields every row it completes. Consume the iterator.
        mask: per-id loss mask (conversations); None means all ones."""
        doc = document_with_eos(doc_id, ids, self.eos_id)
        doc_mask = document_mask(mask, len(ids))
        self.tokens_in += len(doc)
        self.documents += 1
        pos = 0
        while pos < len(doc):
            take = min(len(doc) - pos, self.seq_len - self._fill)
            self._starts.append(self._fill)
            self._doc_ids.append(doc_id)
            self._sources.append(source)
            self._fim.append(fim)
            self._buf[self._fill : self._fill + take] = doc[pos : pos + take]
            self._mask[self._fill : self._fill + take] = 1 if doc_mask is None else doc_mask[pos : pos + take]
            self._fill += take
            pos += take
            if self._fill == self.seq_len:
                yield self._emit(self.seq_len)

    def finish(self) -> Iterator[PackedRow]:
        """Yields the last partial row, padded at the end (nothing if the last row was full)."""
        if self._fill == 0:
            return
        real = self._fill
        self._starts.append(real)
        self._doc_ids.append("")
        self._sources.append("")
        self._fim.append("")
        self._buf[real:] = self.pad_id
        yield self._emit(real)

    def _emit(self, real: int) -> PackedRow:
        loss_mask = np.zeros(self.seq_len, dtype=np.int8)
        loss_mask[:real] = self._mask[:real]
        row = PackedRow(
            input_ids=self._buf.copy(),
            cu_seqlens=[*self._starts, self.seq_len],
            loss_mask=loss_mask,
            doc_ids=self._doc_ids,
            sources=self._sources,
            fim=self._fim,
        )
        self.tokens_out += real
        self.padding += self.seq_len - real
        self.rows += 1
        self._fill = 0
        self._starts, self._doc_ids, self._sources, self._fim = [], [], [], []
        return row
