"""Code tokens for decontamination: byte spans plus two hash streams, computed with numpy.

A token is a run of word bytes (identifier, keyword or number) or one punctuation byte;
whitespace separates tokens and is dropped. This is the tokenization of `curation.dedup.shingles`
(one definition of "a code token" in the project: `shingles.code_tokens` is its readable form),
but decontamination needs what near-dedup does not: where each token is (to cut a matched span)
and two hashes per token:

- `raw`: the token as written. Re-indenting or re-wrapping code leaves raw n-grams unchanged.
- `norm`: identifiers replaced by one placeholder, so a solution whose variables and functions
  were renamed still has the same normalized n-grams. Kept as written: keywords and common
  builtins (`KEEP_NAMES`, they carry the control flow and the library calls), and names right
  after `.` (attribute and method names belong to the library used, which a rename leaves alone).

Token hashes are read from at most 24 bytes of the token (the first 8, 8 from the middle, the
last 8) plus its length, through overlapping 8-byte windows of the text, so the compiled scan
(`scan.py`) hashes a token with three loads instead of a loop over its bytes. Two tokens longer
than 24 bytes that differ only outside those windows share a hash; that can only make an n-gram
match when its 12 other tokens agree as well, and the planted-recall and false-positive figures
of benchmarks/bench_decontam.py are measured with it. This numpy version is the readable
definition (and builds the index); the scan must give identical hashes (tests check it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# the byte classes of code tokens are shingling's own: the same token boundaries for both
from curation.dedup.shingles import (
    BYTE_CLASS,
    IS_DIGIT,
    KEYWORDS,
    SPACE,
    WORD,
    fmix64,
)

# Builtins and standard-library names of the benchmark languages. A renamed solution still calls
# `len`, `range`, `sorted`, `push_back`, `Math.abs` ...: keeping them makes normalized n-grams far
# more specific than "ID ( ID ) ..." while a rename (which only touches the solution's own names)
# cannot change them.
KEEP_NAMES = KEYWORDS | frozenset(
    """
    len range enumerate zip sorted reversed sum min max abs map filter list dict set tuple print
    isinstance ord chr any all round divmod pow open input hex bin oct format join split strip
    append extend insert pop remove sort count index keys values items get update lower upper
    replace startswith endswith isdigit isalpha isupper islower math sqrt floor ceil collections
    Counter defaultdict deque heapq itertools functools re typing List Dict Tuple Optional Any
    std vector size push_back begin end length substr find std cout endl include stdio stdlib
    math string algorithm fmt Println Sprintf strings strconv Itoa Atoi append make new sort
    Math Arrays ArrayList HashMap List Map Set String Integer System out println console log
    push slice splice Object Array Number parseInt toString Vec String usize i32 i64 f32 f64 iter
    collect unwrap clone into to_string chars as_str contains
    """.split()
)
PLACEHOLDER = b"ID"


@dataclass(frozen=True)
class CodeTokens:
    """The tokens of one text: byte spans [starts, ends) and the raw and normalized hashes."""

    starts: np.ndarray  # int64 byte offset of each token
    ends: np.ndarray  # int64 byte offset just past each token
    raw: np.ndarray  # uint64
    norm: np.ndarray  # uint64

    def __len__(self) -> int:
        return int(self.raw.size)


_K_FIRST = np.uint64(0x9E3779B97F4A7C15)
_K_MID = np.uint64(0xC2B2AE3D27D4EB4F)
_K_LAST = np.uint64(0x165667B19E3779F9)
_K_LEN = np.uint64(0x27D4EB2F165667C5)
# mask of the low k bytes, k = 0..8 (little-endian: the token's first k bytes)
_LOW_BYTES = np.array([(1 << (8 * k)) - 1 for k in range(8)] + [(1 << 64) - 1], dtype=np.uint64)
_EMPTY_I = np.empty(0, dtype=np.int64)
_EMPTY_U = np.empty(0, dtype=np.uint64)


def _hash_spans(buf: bytes, n: int, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Hash of each token from its first, middle and last 8 bytes and its length."""
    padded = buf + b"\0" * 8
    # windows[i] = the 8 bytes at offset i, read as one little-endian uint64 (overlapping views)
    windows = np.ndarray(shape=(n + 1,), dtype="<u8", buffer=padded, strides=(1,))
    clipped = np.minimum(lengths, 8)
    first = windows[starts] & _LOW_BYTES[clipped]
    long = lengths > 8
    h = first * _K_FIRST
    h ^= lengths.astype(np.uint64) * _K_LEN
    if long.any():
        s, ln = starts[long], lengths[long]
        last = windows[s + ln - 8]
        mid = windows[s + np.maximum(ln // 2 - 4, 0)]
        h[long] ^= last * _K_LAST + mid * _K_MID
    return fmix64(h)


def token_hash(token: bytes) -> int:
    """The raw hash of a single token (used for the keep list; equals what `tokenize` computes)."""
    arr = np.frombuffer(token, dtype=np.uint8)
    with np.errstate(over="ignore"):
        return int(_hash_spans(token, arr.size, np.array([0]), np.array([arr.size]))[0])


with np.errstate(over="ignore"):
    _KEEP_HASHES = np.array(sorted({token_hash(w.encode()) for w in KEEP_NAMES}), dtype=np.uint64)
    _PLACEHOLDER_HASH = np.uint64(token_hash(PLACEHOLDER))
    _DOT_HASH = np.uint64(token_hash(b"."))


def tokenize(text: str | bytes) -> CodeTokens:
    """Tokens of `text` (str is encoded as UTF-8; offsets are byte offsets)."""
    buf = text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass")
    data = np.frombuffer(buf, dtype=np.uint8)
    n = data.size
    if n == 0:
        return CodeTokens(_EMPTY_I, _EMPTY_I, _EMPTY_U, _EMPTY_U)
    cls = BYTE_CLASS[data]
    word = cls == WORD
    # a token starts at every punctuation byte and at a word byte not preceded by a word byte
    start_mask = cls != SPACE
    start_mask[1:] &= ~(word[1:] & word[:-1])
    end_mask = cls != SPACE
    end_mask[:-1] &= ~(word[:-1] & word[1:])
    starts = np.flatnonzero(start_mask)
    ends = np.flatnonzero(end_mask) + 1
    lengths = ends - starts
    with np.errstate(over="ignore"):
        raw = _hash_spans(buf, n, starts, lengths)
    first_bytes = data[starts]
    identifier = word[starts] & ~IS_DIGIT[first_bytes]
    pos = np.searchsorted(_KEEP_HASHES, raw)
    pos[pos == _KEEP_HASHES.size] = 0
    identifier &= _KEEP_HASHES[pos] != raw
    identifier[1:] &= raw[:-1] != _DOT_HASH
    norm = raw.copy()
    norm[identifier] = _PLACEHOLDER_HASH
    return CodeTokens(starts, ends, raw, norm)


# Odd multiplier chaining n token hashes into one n-gram hash (as curation.dedup.shingles does).
CHAIN = 0xC2B2AE3D27D4EB4F


def ngrams(hashes: np.ndarray, n: int) -> np.ndarray:
    """One uint64 per window of n consecutive token hashes; none when there are fewer than n.

    The polynomial sum(h[i+k] * CHAIN**(n-1-k)) without a finalizer: its token hashes are already
    mixed, so every bit of the sum is, and the compiled scan saves a finalizer per window (it rolls
    the sum from one window to the next and tests its top bits against the index bitmap)."""
    if hashes.size < n:
        return _EMPTY_U
    windows = hashes.size - n + 1
    with np.errstate(over="ignore"):
        acc = hashes[:windows].copy()
        for k in range(1, n):
            acc *= np.uint64(CHAIN)
            acc += hashes[k : k + windows]
    return acc


def char_offsets(text: str, byte_offsets: np.ndarray) -> np.ndarray:
    """Byte offsets into text's UTF-8 encoding -> offsets into the str (same for ASCII text)."""
    buf = text.encode("utf-8", "surrogatepass")
    if len(buf) == len(text):
        return byte_offsets
    data = np.frombuffer(buf, dtype=np.uint8)
    # a char starts at every byte that is not a UTF-8 continuation byte (10xxxxxx)
    char_start = np.concatenate(([0], np.cumsum((data & 0xC0) != 0x80)))
    return char_start[byte_offsets]
