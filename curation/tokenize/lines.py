"""Exact SentencePiece ids with each distinct line encoded once per task.

When "\\n" is a user-defined piece of a SentencePiece model, and no other user-defined piece
holds a newline (TeleChat3), SentencePiece cuts every "\\n" out as a frozen symbol before any
merge and never merges a frozen symbol. So no token spans a line break, and the lines of a text
are encoded independently:

    encode(text) = encode(line_0) + sum over the later lines of ([id("\\n")] + cont(line_i))

cont(line) is the ids of the line without the dummy-prefix "▁": encode("\\n" + line) is
["▁", "\\n", *cont(line)]. A continuation (the middle and suffix of a FIM cut,
`fim.encode_continuation`) is cont(line_0) followed by the later lines in the same way.

Code repeats lines: blank and closing lines, imports, license headers, generated tables. A task
keeps [id("\\n"), *cont(line)] for each distinct line it met and sends SentencePiece only the lines
it has not seen. The ids are the same as encoding each text whole (test_tokenize_lines.py checks
this on real code of every language and on texts made to break it). The cost is Python
bookkeeping per line (split, dict lookups, numpy gathers), about a sixth of what it saves on code.

Memory is bounded by `max_lines` (the distinct lines kept) and `MAX_CACHED_TOKENS`; past either,
the table starts again. Lines longer than `MAX_LINE_CHARS` are encoded but not kept (minified
code and data lines seldom repeat). Other tokenizers, and `max_lines=0`, encode whole texts.
"""

from __future__ import annotations

from itertools import chain
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from curation.tokenize.tokenizer import Tokenizer

MAX_LINE_CHARS = 1_000
MAX_CACHED_TOKENS = 32_000_000  # int32 ids: 128 MB


def newline_is_atomic(tokenizer: Tokenizer) -> bool:
    """True when the tokenizer is SentencePiece, "\\n" is a user-defined piece, and no other
    user-defined piece holds a newline (a longer one would be matched across the line break)."""
    sp = getattr(tokenizer, "_sp", None)  # the Tokenizer keeps its SentencePiece processor here
    if sp is None:
        return False
    from sentencepiece import sentencepiece_model_pb2

    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString(sp.serialized_model_proto())
    user = sentencepiece_model_pb2.ModelProto.SentencePiece.USER_DEFINED
    newline = sp.piece_to_id("\n")
    if sp.id_to_piece(newline) != "\n" or proto.pieces[newline].type != user:
        return False
    return not any(p.type == user and "\n" in p.piece and p.piece != "\n" for p in proto.pieces)


class _Grow:
    """A numpy vector with amortised appends."""

    def __init__(self, dtype) -> None:
        self.data = np.empty(1 << 16, dtype)
        self.size = 0

    def extend(self, values: np.ndarray) -> None:
        end = self.size + len(values)
        if end > len(self.data):
            grown = np.empty(max(end, 2 * len(self.data)), self.data.dtype)
            grown[:self.size] = self.data[:self.size]
            self.data = grown
        self.data[self.size:end] = values
        self.size = end

    def view(self) -> np.ndarray:
        return self.data[:self.size]


class LineEncoder:
    """encode(texts) -> one int32 array per text, equal to the tokenizer's ids of the whole text."""

    def __init__(self, tokenizer: Tokenizer, max_lines: int) -> None:
        self.tokenizer = tokenizer
        self.max_lines = max_lines
        self.by_line = max_lines > 0 and newline_is_atomic(tokenizer)
        if self.by_line:
            self._lead = tokenizer.encode_batch(["\n"])[0]  # ["▁", "\n"]
            if len(self._lead) != 2:
                self.by_line = False
        self.lines_seen = 0  # line occurrences encoded, and how many of them were new to the table
        self.lines_encoded = 0
        self._reset()

    def _reset(self) -> None:
        self._index: dict[str, int] = {}
        self._ids = _Grow(np.int32)    # [id("\n"), *cont(line)] of every kept line, back to back
        self._start = _Grow(np.int64)  # per kept line: where its ids start, and how many
        self._count = _Grow(np.int64)

    def encode(self, texts: list[str], *, continuation: bool = False, num_threads: int = 1) -> list[np.ndarray]:
        """continuation: the texts go on a document (no dummy prefix), as `fim.encode_continuation`."""
        if not texts:
            return []
        if not self.by_line:
            if continuation:
                from curation.tokenize.fim import encode_continuation

                encoded = encode_continuation(self.tokenizer, texts, num_threads=num_threads)
            else:
                encoded = self.tokenizer.encode_batch(texts, num_threads=num_threads)
            return [np.asarray(ids, dtype=np.int32) for ids in encoded]
        if len(self._index) > self.max_lines or self._ids.size > MAX_CACHED_TOKENS:
            self._reset()
        split = [text.split("\n") for text in texts]
        # A plain text's first line carries the dummy prefix: encoded as it is, never kept. Every
        # other line is looked up as "\n" + line; a continuation's first line too, and its
        # leading "\n" id dropped afterwards.
        skip = 0 if continuation else 1
        heads = [] if continuation else [lines[0] for lines in split]
        later = list(chain.from_iterable(lines[skip:] for lines in split))
        index = self._index
        new = [line for line in dict.fromkeys(later) if line not in index]
        encoded = self.tokenizer.encode_batch([h for h in heads if h] + ["\n" + line for line in new],
                                              num_threads=num_threads)
        n_heads = len(encoded) - len(new)
        self.lines_seen += len(later)
        self.lines_encoded += len(new)
        # New lines go into the table (all of them for this call; long ones are not indexed, so
        # they are encoded again when they come back).
        if new:
            lead = self._lead
            tail = encoded[n_heads:]
            counts = np.fromiter(map(len, tail), dtype=np.int64, count=len(tail))
            flat = np.fromiter(chain.from_iterable(tail), dtype=np.int32, count=int(counts.sum()))
            starts = np.cumsum(counts) - counts
            if not (np.array_equal(flat[starts], np.full(len(tail), lead[0]))
                    and np.array_equal(flat[starts + 1], np.full(len(tail), lead[1]))):
                bad = next(line for line, ids in zip(new, tail) if ids[:2] != lead)
                raise ValueError(f"tokenizer {self.tokenizer.name}: '\\n' is not a piece of its own here "
                                 f"(encoding {bad[:40]!r}); encoding by line needs it")
            keep = np.ones(len(flat), dtype=bool)
            keep[starts] = False  # the dummy "▁"
            base = self._ids.size
            self._ids.extend(flat[keep])
            self._count.extend(counts - 1)
            self._start.extend(base + np.cumsum(counts - 1) - (counts - 1))
            first = len(self._count.view()) - len(new)
            index.update((line, first + k) for k, line in enumerate(new) if len(line) <= MAX_LINE_CHARS)
            long_at = {line: first + k for k, line in enumerate(new) if len(line) > MAX_LINE_CHARS}
        else:
            long_at = {}
        lookup = index.__getitem__ if not long_at else (lambda line: long_at.get(line) if line in long_at
                                                        else index[line])
        rows = np.fromiter(map(lookup, later), dtype=np.int64, count=len(later))
        lengths = self._count.view()[rows]
        ends = np.cumsum(lengths)
        gathered = self._ids.view()[np.arange(int(ends[-1]) if len(ends) else 0)
                                    + np.repeat(self._start.view()[rows] - (ends - lengths), lengths)]
        # Where each text's lines end in `gathered`.
        per_text = np.fromiter((len(lines) - skip for lines in split), dtype=np.int64, count=len(split))
        line_end = np.cumsum(per_text)
        token_end = np.concatenate(([0], ends))[line_end]
        out: list[np.ndarray] = []
        head_ids = iter(encoded[:n_heads])
        blank_head = np.asarray(self._lead[:1], dtype=np.int32)
        empty = np.empty(0, dtype=np.int32)
        begin = 0
        for k, lines in enumerate(split):
            body = gathered[begin:token_end[k]]
            begin = token_end[k]
            if continuation:
                out.append(body[1:].copy())  # no "\n" before the first line
            elif lines[0]:
                out.append(np.concatenate((np.asarray(next(head_ids), dtype=np.int32), body)))
            else:  # a text that starts with "\n" (or is empty): only the dummy "▁" before it
                out.append(np.concatenate((blank_head, body)) if len(lines) > 1 else empty)
        return out
