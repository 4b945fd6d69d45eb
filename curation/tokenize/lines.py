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
this on real code of every language and on texts made to break it). A line's ids are kept as the
bytes of its int32 ids, so a text's ids are one `bytes.join` of its lines'; the bookkeeping (split,
dict lookups, the join) costs about a third of what it saves on code (30 MB of corpus files:
~1.5 s of it against SentencePiece's 10.3 s becoming ~5 s).

Memory is bounded by `max_lines` (the distinct lines kept) and `MAX_TABLE_BYTES` (the lines'
characters, 4 bytes per id and `ENTRY_OVERHEAD` per line, an upper estimate of what CPython
holds for them); past either, the table starts again. At the default 1M lines a task of the
registry corpus peaked 30 MB above encoding whole texts. Lines longer than `MAX_LINE_CHARS` are
encoded but not kept (minified code and data lines seldom repeat). The arrays returned are
read-only views of bytes. Other tokenizers, and `max_lines=0`, encode whole texts.
"""

from __future__ import annotations

from itertools import chain, islice
from typing import TYPE_CHECKING

import numpy as np

from curation.tokenize.fim import encode_continuation

if TYPE_CHECKING:
    from curation.tokenize.tokenizer import Tokenizer

MAX_LINE_CHARS = 1_000
MAX_TABLE_BYTES = 256 << 20
ENTRY_OVERHEAD = 160  # a str and a bytes object's headers and a dict slot, rounded up


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
            # A text that starts with "\n": only the dummy "▁" before it.
            self._blank_head = np.asarray(self._lead[:1], dtype=np.int32).tobytes()
        self.lines_seen = 0  # line occurrences encoded, and how many of them were new to the table
        self.lines_encoded = 0
        # line -> the bytes of its int32 ids [id("\n"), *cont(line)]: a text's ids are one
        # bytes.join of its lines', with no Python work per token.
        self._index: dict[str, bytes] = {}
        self._bytes = 0

    def encode(self, texts: list[str], *, continuation: bool = False, num_threads: int = 1) -> list[np.ndarray]:
        """continuation: the texts go on a document (no dummy prefix), as `fim.encode_continuation`."""
        if not texts:
            return []
        if not self.by_line:
            if continuation:
                encoded = encode_continuation(self.tokenizer, texts, num_threads=num_threads)
            else:
                encoded = self.tokenizer.encode_batch(texts, num_threads=num_threads)
            return [np.asarray(ids, dtype=np.int32) for ids in encoded]
        if len(self._index) > self.max_lines or self._bytes > MAX_TABLE_BYTES:
            self._index, self._bytes = {}, 0
        index = self._index
        split = [text.split("\n") for text in texts]
        # A plain text's first line carries the dummy prefix: encoded as it is, never kept. Every
        # other line is looked up as "\n" + line; a continuation's first line too, and its
        # leading "\n" id dropped afterwards.
        skip = 0 if continuation else 1
        n_lines = sum(map(len, split)) - skip * len(split)
        new = [line for line in dict.fromkeys(chain.from_iterable(lines[skip:] for lines in split))
               if line not in index]
        heads = [] if continuation else [lines[0] for lines in split if lines[0]]
        encoded = self.tokenizer.encode_batch(heads + ["\n" + line for line in new], num_threads=num_threads)
        self.lines_seen += n_lines
        self.lines_encoded += len(new)
        long: list[str] = []
        if new:
            tail = encoded[len(heads):]
            counts = np.fromiter(map(len, tail), dtype=np.int64, count=len(tail))
            flat = np.fromiter(chain.from_iterable(tail), dtype=np.int32, count=int(counts.sum()))
            starts = np.cumsum(counts) - counts
            if not (np.all(flat[starts] == self._lead[0]) and np.all(flat[starts + 1] == self._lead[1])):
                bad = next(line for line, ids in zip(new, tail) if ids[:2] != self._lead)
                raise ValueError(f"tokenizer {self.tokenizer.name}: '\\n' is not a piece of its own here "
                                 f"(encoding {bad[:40]!r}); encoding by line needs it")
            data = flat.tobytes()
            # Each entry without the dummy "▁": from its second id to its end, in bytes.
            bounds = zip((4 * (starts + 1)).tolist(), (4 * (starts + counts)).tolist())
            index.update(zip(new, [data[a:b] for a, b in bounds]))
            # Long lines are used for this call only (minified code and data lines seldom repeat).
            long = [line for line in new if len(line) > MAX_LINE_CHARS]
            self._bytes += 4 * (len(flat) - len(new)) + ENTRY_OVERHEAD * len(new) + sum(map(len, new))
        get = index.__getitem__
        heads_ids = iter(encoded[:len(heads)])
        out: list[np.ndarray] = []
        for lines in split:
            if continuation:  # no "\n" before the first line
                out.append(np.frombuffer(b"".join(map(get, lines)), dtype=np.int32)[1:])
                continue
            if lines[0]:
                head = np.asarray(next(heads_ids), dtype=np.int32).tobytes()
            elif len(lines) > 1:
                head = self._blank_head  # only the dummy "▁" before the first "\n"
            else:
                head = b""  # the empty text
            out.append(np.frombuffer(b"".join(chain((head,), map(get, islice(lines, 1, None)))), dtype=np.int32))
        for line in long:
            del index[line]
        return out
