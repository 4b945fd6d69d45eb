"""Exact token counts for the budget, line by line where the tokenizer allows it.

Mining a history asks for the token count of every new version of every file it puts in a
context, and a new version is mostly the old lines. When "\\n" is a user-defined piece of a
SentencePiece model (TeleChat3), SentencePiece never merges it with a neighbour, so

    len(encode(text)) = first(line_0) + sum(len(encode("\\n" + line_i)) - 1 for the other lines)

where encode("\\n" + line) is [dummy "▁", "\\n", ids of the line without a dummy prefix], and
first(line_0) is len(encode(line_0)), or 1 (the dummy "▁" alone) when the text starts with "\\n".
Counting per distinct line makes a new file version cost its changed lines. Checked: equal to
len(encode(text)) on 10,934 real files (registry corpus and the four shared histories), and the
SWE tests compare every task's count with its ids. Other tokenizers count whole texts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from curation.tokenize.lines import newline_is_atomic

if TYPE_CHECKING:
    from curation.tokenize.tokenizer import Tokenizer

# Distinct lines kept; past this the table starts again (a fresh table costs re-encoding lines).
MAX_LINES = 2_000_000


class TokenCounter:
    def __init__(self, tokenizer: Tokenizer):
        self.tokenizer = tokenizer
        self.by_line = newline_is_atomic(tokenizer)
        self._first: dict[str, int] = {}   # line_0 -> len(encode(line_0))
        self._later: dict[str, int] = {}   # line -> len(encode("\n" + line)) - 1

    def count(self, texts: list[str]) -> list[int]:
        if not self.by_line:
            return [len(ids) for ids in self.tokenizer.encode_batch(texts)]
        split = [text.split("\n") for text in texts]
        if len(self._first) + len(self._later) > MAX_LINES:
            self._first.clear()
            self._later.clear()
        first = sorted({lines[0] for lines in split if lines[0] and lines[0] not in self._first})
        later = sorted({line for lines in split for line in lines[1:] if line not in self._later})
        encoded = self.tokenizer.encode_batch(first + [f"\n{line}" for line in later])
        self._first.update(zip(first, (len(ids) for ids in encoded[:len(first)])))
        self._later.update(zip(later, (len(ids) - 1 for ids in encoded[len(first):])))
        counts = []
        for lines in split:
            head = self._first[lines[0]] if lines[0] else (1 if len(lines) > 1 else 0)
            counts.append(head + sum(self._later[line] for line in lines[1:]))
        return counts
