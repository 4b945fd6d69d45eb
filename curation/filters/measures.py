"""What the rules measure in a file: byte, line and character statistics computed once and lazily
(`FileStats`), encoded-data runs and the visible text of HTML."""

from __future__ import annotations

import functools
import re
from functools import cached_property
from typing import Callable

import numpy as np

from curation.filters.gates import RunGate, gate_tables, run_gate

# -- measurements ------------------------------------------------------------------------------

# str.isspace() on ASCII also holds for the separators \x1c-\x1f; keep the byte sets equal to it.
_ASCII_SPACE = b" \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f"
_ASCII_DIGIT = b"0123456789"
_ASCII_ALNUM = _ASCII_DIGIT + b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# On str, \s is str.isspace, \d is str.isdecimal and [^\W_] is str.isalnum (sre's definitions).
_SPACE_RUN = re.compile(r"\s+")
_DIGIT_RUN = re.compile(r"\d+")
_ALNUM_RUN = re.compile(r"[^\W_]+")
_HTML_HIDDEN = re.compile(r"<script\b.*?</script\s*>|<style\b.*?</style\s*>|<!--.*?-->|<[^>]*>",
                          re.IGNORECASE | re.DOTALL)
_XML_DECLARATION = "<?xml version="
# Lines over this many characters are "long" for the heuristic score (`long_line_fraction`); the
# compiled pass counts them.
LONG_LINE = 120


@functools.cache
def _compiled_pass() -> Callable[[np.ndarray, int], tuple]:
    """curation.filters.kernel.measure with its tables bound, built on first use (numba is heavy:
    the driver and `curate --help` never load it)."""
    from curation.filters import kernel as K

    rows, collapse, split = gate_tables()
    if len(collapse) > K.MAX_GATES:
        raise ValueError(f"the compiled pass measures up to {K.MAX_GATES} run gates, not {len(collapse)}")
    cls = np.zeros(256, np.uint8)
    for chars, bit in ((_ASCII_SPACE, K.SPACE), (b"\n\r\x0b\x0c\x1c\x1d\x1e", K.BREAK), (_ASCII_DIGIT, K.DIGIT),
                       (_ASCII_ALNUM, K.ALNUM)):
        cls[list(chars)] |= bit
    cls[np.frombuffer(split, np.uint8) == 1] |= K.SPLIT  # the gates' own definition of bytes.split()
    bits = np.zeros(256, np.uint8)
    for g, row in enumerate(np.frombuffer(rows, np.uint8).reshape(-1, 256)):
        bits |= row << g
    raw = sum(1 << g for g, c in enumerate(collapse) if not c)
    return lambda buf, n: K.measure(buf, n, LONG_LINE, cls, bits, raw)


def _measure(data: bytes) -> tuple:
    """The compiled pass over `data` (3 bytes of padding: the loop looks ahead within a character)."""
    return _compiled_pass()(np.frombuffer(data + b"\0\0\0", np.uint8), len(data))


def _count_runs(pattern: re.Pattern, text: str) -> int:
    return len(text) - len(pattern.sub("", text))


class FileStats:
    """Measurements of one file. One compiled pass over the UTF-8 bytes (`curation.filters.kernel`,
    whose docstring gives the exact definitions: `str.splitlines`, `str.split`, `str.strip`,
    `str.isspace`) takes the line, word, character-class and run-gate measures at construction;
    repetition and n-gram signals are derived from them on first use and cached."""

    def __init__(self, text: str):
        self.text = text
        self.n_chars = len(text)
        self.data = text.encode("utf-8", "surrogatepass")
        (counts, self._line_hash, self._line_chars, self._word_hash, self._word_chars, non_ascii,
         self._gate_runs) = _measure(self.data)
        (self.n_lines, self.max_line_length, sum_len, self.long_lines, space, digit, alnum, _,
         self.n_nonblank_lines, self.n_words) = counts.tolist()  # nonblank: lines with more than whitespace
        self.mean_line_length = sum_len / self.n_lines if self.n_lines else 0.0
        self._ascii_counts = space, digit, alnum
        self._non_ascii = non_ascii
        self._ngram_cache: dict[tuple[str, int], float] = {}

    @cached_property
    def lines(self) -> list[str]:
        """`str.splitlines()`, like BigCode: \\r\\n, lone \\r and form feeds end lines too."""
        return self.text.splitlines()

    def gate_passes(self, gate: RunGate) -> bool:
        """`gate.may_match(self.data, ...)`, read off the compiled pass."""
        return int(self._gate_runs[gate.slot]) >= gate.min_len

    @cached_property
    def is_empty(self) -> bool:
        return not self.text or self.text.isspace()

    @property
    def n_bytes(self) -> int:
        return len(self.data)

    @cached_property
    def _char_counts(self) -> tuple[int, int, int]:
        """(whitespace, decimal digits, alphanumerics): ASCII counted in the compiled pass, the
        non-ASCII characters (the pass collects their bytes) by regex runs."""
        space, digit, alnum = self._ascii_counts
        if self._non_ascii.size:
            extra = self._non_ascii.tobytes().decode("utf-8", "surrogatepass")
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
        """Alphanumerics alone (the heuristic score needs nothing else)."""
        if "_char_counts" in self.__dict__ or self._non_ascii.size:
            return self._char_counts[2]
        return self._ascii_counts[2]

    @property
    def alpha_fraction(self) -> float:
        _, digit, alnum = self._char_counts
        return self._fraction(alnum - digit)

    @cached_property
    def dup_line_fraction(self) -> float:
        total = int(self._line_chars.sum())
        if not total:
            return 0.0
        # Each distinct stripped line counts once; every later copy is duplicate mass (Gopher's
        # duplicate-line character fraction), so short lines like "}" weigh little.
        _, first = np.unique(self._line_hash, return_index=True)
        return (total - int(self._line_chars[first].sum())) / total

    @cached_property
    def word_chars(self) -> int:
        return int(self._word_chars.sum())

    def _ngram_hashes(self, n: int) -> np.ndarray:
        """One 64-bit hash per word n-gram (position i covers words i..i+n-1), built with numpy so
        that no Python code runs per n-gram."""
        h = self._word_hash
        m = len(h) - n + 1
        grams = h[:m].copy()
        for k in range(1, n):
            grams *= np.uint64(0x9E3779B97F4A7C15)  # odd multiplier: wraps mod 2**64, keeps order
            grams += h[k:k + m]
        return grams

    def top_ngram_fraction(self, n: int) -> float:
        """Characters of the most frequent word n-gram times its count, over all word characters.
        Of n-grams tied for most frequent, the longest counts: the value does not depend on hashes."""
        key = ("top", n)
        if key not in self._ngram_cache:
            value = 0.0
            if self.n_words >= n and self.word_chars:
                grams = self._ngram_hashes(n)
                _, inverse, counts = np.unique(grams, return_inverse=True, return_counts=True)
                top = counts.max()
                ends = np.cumsum(self._word_chars)
                gram_chars = ends[n - 1:] - np.concatenate(([0], ends[:-n]))
                longest = int(gram_chars[counts[inverse] == top].max())
                value = min(1.0, longest * int(top) / self.word_chars)
            self._ngram_cache[key] = value
        return self._ngram_cache[key]

    def dup_ngram_fraction(self, n: int) -> float:
        """Share of word n-gram positions whose n-gram already occurred earlier in the file.
        (Gopher weighs duplicate n-grams by characters with a greedy scan in Python; counting
        positions runs in numpy and ranks repeated blocks the same way.)"""
        key = ("dup", n)
        if key not in self._ngram_cache:
            value = 0.0
            if self.n_words >= n:
                ordered = np.sort(self._ngram_hashes(n))
                distinct = 1 + int(np.count_nonzero(ordered[1:] != ordered[:-1]))
                value = 1 - distinct / len(ordered)
            self._ngram_cache[key] = value
        return self._ngram_cache[key]


def file_stats(text: str) -> FileStats:
    return FileStats(text)


def encoded_runs(text: str, patterns: dict[str, re.Pattern], data: bytes | None = None,
                 screen: Callable[[RunGate], bool] | None = None) -> tuple[int, str, int]:
    """(longest match, its pattern name, characters covered by the union of all matches).
    `data` (the UTF-8 bytes of `text`) enables the run gates of `RunGate`; `screen(gate)`, when
    given, answers them instead (`FileStats.gate_passes`)."""
    spans = []
    longest, longest_name = 0, ""
    collapsed: list[bytes] = []

    def collapse() -> bytes:
        if not collapsed:
            collapsed.append(b" ".join(data.split()))
        return collapsed[0]

    for name, pattern in patterns.items():
        gate = run_gate(pattern)
        if gate is not None:
            if screen is not None:
                if not screen(gate):
                    continue
            elif data is not None and not gate.may_match(data, collapse):
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


