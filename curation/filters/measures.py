"""What the rules measure in a file: byte, line and character statistics computed once and lazily
(`FileStats`), encoded-data runs and the visible text of HTML."""

from __future__ import annotations

import re
from functools import cached_property

from curation.filters.gates import run_gate

# -- measurements ------------------------------------------------------------------------------

# str.isspace() on ASCII also holds for the separators \x1c-\x1f; keep the byte sets equal to it.
_ASCII_SPACE = b" \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f"
_ASCII_DIGIT = b"0123456789"
_ASCII_ALNUM = _ASCII_DIGIT + b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_NON_ASCII_RUN = re.compile(r"[^\x00-\x7f]+")
# On str, \s is str.isspace, \d is str.isdecimal and [^\W_] is str.isalnum (sre's definitions).
_SPACE_RUN = re.compile(r"\s+")
_DIGIT_RUN = re.compile(r"\d+")
_ALNUM_RUN = re.compile(r"[^\W_]+")
_HTML_HIDDEN = re.compile(r"<script\b.*?</script\s*>|<style\b.*?</style\s*>|<!--.*?-->|<[^>]*>",
                          re.IGNORECASE | re.DOTALL)
_XML_DECLARATION = "<?xml version="


def _count_bytes(data: bytes, members: bytes) -> int:
    # bytes.translate deletes in one C pass: the shrinkage is the count (10x faster than map(isalnum)).
    return len(data) - len(data.translate(None, members))


def _count_runs(pattern: re.Pattern, text: str) -> int:
    return len(text) - len(pattern.sub("", text))


class FileStats:
    """Measurements of one file. Line statistics are taken at construction (one pass over the lines);
    character classes, repetition and n-gram signals are computed on first use and cached."""

    def __init__(self, text: str):
        self.text = text
        self.n_chars = len(text)
        # splitlines, like BigCode: \r\n, lone \r and form feeds end lines too.
        self.lines = text.splitlines()
        self.n_lines = len(self.lines)
        lengths = list(map(len, self.lines))
        self.max_line_length = max(lengths, default=0)
        self.mean_line_length = sum(lengths) / self.n_lines if self.n_lines else 0.0
        self._ngram_cache: dict[tuple[str, int], float] = {}

    @cached_property
    def is_empty(self) -> bool:
        return not self.text or self.text.isspace()

    @cached_property
    def n_bytes(self) -> int:
        return self.n_chars if self.text.isascii() else len(self.data)

    @cached_property
    def data(self) -> bytes:
        """The UTF-8 bytes; non-ASCII characters become bytes >= 0x80, outside every ASCII class."""
        return self.text.encode("utf-8", "surrogatepass")

    @cached_property
    def _char_counts(self) -> tuple[int, int, int]:
        """(whitespace, decimal digits, alphanumerics); ASCII via bytes, the rest via regex runs."""
        text, data = self.text, self.data
        extra = "" if text.isascii() else "".join(_NON_ASCII_RUN.findall(text))
        space = _count_bytes(data, _ASCII_SPACE)
        digit = _count_bytes(data, _ASCII_DIGIT)
        alnum = _count_bytes(data, _ASCII_ALNUM)
        if extra:
            space += _count_runs(_SPACE_RUN, extra)
            digit += _count_runs(_DIGIT_RUN, extra)
            alnum += _count_runs(_ALNUM_RUN, extra)
        return space, digit, alnum

    def _fraction(self, count: int) -> float:
        return count / self.n_chars if self.n_chars else 0.0

    @property
    def whitespace_fraction(self) -> float:
        return self._fraction(self._char_counts[0])

    @property
    def digit_fraction(self) -> float:
        return self._fraction(self._char_counts[1])

    @property
    def alnum_fraction(self) -> float:
        return self._fraction(self._alnum_count)

    @cached_property
    def _alnum_count(self) -> int:
        """Alphanumerics alone, for callers that need nothing else (the heuristic score): one pass
        instead of three when `_char_counts` has not run."""
        if "_char_counts" in self.__dict__:
            return self._char_counts[2]
        count = _count_bytes(self.data, _ASCII_ALNUM)
        if not self.text.isascii():
            count += _count_runs(_ALNUM_RUN, "".join(_NON_ASCII_RUN.findall(self.text)))
        return count

    @property
    def alpha_fraction(self) -> float:
        _, digit, alnum = self._char_counts
        return self._fraction(alnum - digit)

    @cached_property
    def dup_line_fraction(self) -> float:
        stripped = [line for line in map(str.strip, self.lines) if line]
        total = sum(map(len, stripped))
        if not total:
            return 0.0
        # Each distinct line counts once; every later copy is duplicate mass (Gopher's
        # duplicate-line character fraction), so short lines like "}" weigh little.
        return (total - sum(map(len, set(stripped)))) / total

    @cached_property
    def words(self) -> list[str]:
        """Whitespace-separated tokens: 5x cheaper than a \\w+ regex, and as good for spotting repeats."""
        return self.text.split()

    @cached_property
    def word_chars(self) -> int:
        return sum(map(len, self.words))

    @cached_property
    def _word_hashes(self):
        import numpy as np

        return np.fromiter(map(hash, self.words), dtype=np.int64, count=len(self.words)).view(np.uint64)

    def _ngram_hashes(self, n: int):
        """One 64-bit hash per word n-gram (position i covers words i..i+n-1), built with numpy so
        that no Python code runs per n-gram. Only equality within one file matters, so the
        per-process salt of hash() is harmless."""
        import numpy as np

        h = self._word_hashes
        m = len(h) - n + 1
        grams = h[:m].copy()
        for k in range(1, n):
            grams *= np.uint64(0x9E3779B97F4A7C15)  # odd multiplier: wraps mod 2**64, keeps order
            grams += h[k:k + m]
        return grams

    def top_ngram_fraction(self, n: int) -> float:
        """Characters of the most frequent word n-gram times its count, over all word characters."""
        key = ("top", n)
        if key not in self._ngram_cache:
            import numpy as np

            value = 0.0
            if len(self.words) >= n and self.word_chars:
                grams = self._ngram_hashes(n)
                ordered = np.sort(grams)
                starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
                counts = np.diff(np.append(starts, len(ordered)))
                top = int(counts.argmax())
                at = int(np.flatnonzero(grams == ordered[starts[top]])[0])
                gram_chars = sum(map(len, self.words[at:at + n]))
                value = min(1.0, gram_chars * int(counts[top]) / self.word_chars)
            self._ngram_cache[key] = value
        return self._ngram_cache[key]

    def dup_ngram_fraction(self, n: int) -> float:
        """Share of word n-gram positions whose n-gram already occurred earlier in the file.
        (Gopher weighs duplicate n-grams by characters with a greedy scan in Python; counting
        positions runs in numpy and ranks repeated blocks the same way.)"""
        key = ("dup", n)
        if key not in self._ngram_cache:
            import numpy as np

            value = 0.0
            if len(self.words) >= n:
                ordered = np.sort(self._ngram_hashes(n))
                distinct = 1 + int(np.count_nonzero(ordered[1:] != ordered[:-1]))
                value = 1 - distinct / len(ordered)
            self._ngram_cache[key] = value
        return self._ngram_cache[key]


def file_stats(text: str) -> FileStats:
    return FileStats(text)


def encoded_runs(text: str, patterns: dict[str, re.Pattern], data: bytes | None = None) -> tuple[int, str, int]:
    """(longest match, its pattern name, characters covered by the union of all matches).
    `data` (the UTF-8 bytes of `text`) enables the run gates of `RunGate`."""
    spans = []
    longest, longest_name = 0, ""
    collapsed: list[bytes] = []

    def collapse() -> bytes:
        if not collapsed:
            collapsed.append(b" ".join(data.split()))
        return collapsed[0]

    for name, pattern in patterns.items():
        gate = run_gate(pattern)
        if data is not None and gate is not None and not gate.may_match(data, collapse):
            continue
        for match in pattern.finditer(text):
            start, end = match.span()
            spans.append((start, end))
            if end - start > longest:
                longest, longest_name = end - start, name
    covered, reach = 0, 0
    for start, end in sorted(spans):  # union, since base64 and hex matches can overlap
        if end > reach:
            covered += end - max(start, reach)
            reach = end
    return longest, longest_name, covered


def visible_text_chars(text: str) -> int:
    """HTML text a browser would show: outside tags, <script>, <style> and comments; whitespace runs
    count as one character."""
    return len(" ".join(_HTML_HIDDEN.sub(" ", text).split()))


