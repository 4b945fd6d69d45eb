"""Code-aware shingles for near-duplicate detection, hashed without per-token Python work.

A token is a run of word bytes (identifier or number, kept exactly as written), or one
punctuation/operator byte; whitespace separates tokens and is dropped, so re-indenting,
re-wrapping or re-spacing code leaves its shingles unchanged while `a+b` and `a-b`, or `x = 1`
and `x = 2`, stay different. Punctuation is one token per byte rather than a multi-char operator:
the order of the bytes is kept by the n-gram either way, and per-byte tokens survive reformatting
that splits `})` across lines or adds spaces inside `( )`.

`code_tokens` is the readable definition (one compiled regex); `shingle_hashes` computes the same
tokens' hashes straight from the UTF-8 bytes in one compiled loop (`curation.dedup.kernel`): a
byte-class lookup, Horner's rule over each token's bytes, fmix64. Regex `findall` alone ran ~29
MB/s on code here (DESIGN.md "Speed budget"). The tests check that both give identical hashes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

_MASK64 = (1 << 64) - 1
# Polynomial base for token hashes (odd).
_BASE = 0x100000001B3
_LEN_MIX = 0x9E3779B97F4A7C15
# Odd multiplier that chains n token hashes into one shingle hash.
_CHAIN = 0xC2B2AE3D27D4EB4F

# Word bytes: ASCII letters, digits, `_`, `$` (JS/PHP/shell identifiers) and every non-ASCII byte,
# so a UTF-8 identifier (or a word of a comment in any script) stays one token.
_WORD_CLASS = "A-Za-z0-9_$\\x80-\\xff"
_TOKEN_RE = re.compile(rb"[" + _WORD_CLASS.encode() + rb"]+|[^" + _WORD_CLASS.encode() + rb"\s]")

SPACE, WORD, PUNCT = 0, 1, 2
BYTE_CLASS = np.full(256, PUNCT, dtype=np.uint8)
for _c in b" \t\n\r\x0b\x0c":
    BYTE_CLASS[_c] = SPACE
for _lo, _hi in ((ord("0"), ord("9")), (ord("A"), ord("Z")), (ord("a"), ord("z")), (0x80, 0xFF)):
    BYTE_CLASS[_lo : _hi + 1] = WORD
BYTE_CLASS[ord("_")] = WORD
BYTE_CLASS[ord("$")] = WORD
IS_DIGIT = np.zeros(256, dtype=bool)
IS_DIGIT[ord("0") : ord("9") + 1] = True

# Keywords and a few builtins of the common languages survive identifier normalization: a renamed
# clone keeps its control flow, so `if`/`return`/`self` must still tell code apart.
KEYWORDS = frozenset(
    """
    and as assert async await break case catch class const continue def default del delete do elif
    else enum except export extends false final finally fn for from func function global go goto if
    impl import in instanceof interface is lambda let loop match mod module mut new nil nonlocal
    not null or package pass private protected pub public raise return self Self static struct super
    switch this throw throws trait true try type typeof undefined union unsafe use var void while
    with yield None True False int char float double long short unsigned signed bool string str
    sizeof typedef extern register volatile inline namespace template typename using virtual
    override chan defer fallthrough map range select where crate ref dyn move val fun object when
    """.split()
)
IDENTIFIER_PLACEHOLDER = "ID"

_33 = np.uint64(33)
_FMIX_1 = np.uint64(0xFF51AFD7ED558CCD)
_FMIX_2 = np.uint64(0xC4CEB9FE1A85EC53)


def fmix64(x: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finalizer: a bijection that spreads every input bit over the output."""
    x = x ^ (x >> _33)  # a new array: the argument is never modified
    x *= _FMIX_1
    x ^= x >> _33
    x *= _FMIX_2
    x ^= x >> _33
    return x


def token_hash(token: bytes) -> int:
    """Reference (pure Python) hash of one token; `shingle_hashes` computes the same, vectorized."""
    poly = 0
    for byte in token:
        poly = (poly * _BASE + byte) & _MASK64
    x = np.array([poly ^ ((len(token) * _LEN_MIX) & _MASK64)], dtype=np.uint64)
    with np.errstate(over="ignore"):
        return int(fmix64(x)[0])


def _encode(text: str | bytes) -> bytes:
    return text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass")


def code_tokens(text: str | bytes, normalize_identifiers: bool = False) -> list[str]:
    """Tokens of `text` as `shingle_hashes` sees them (identifiers become "ID" if normalized)."""
    tokens = [t.decode("utf-8", "surrogateescape") for t in _TOKEN_RE.findall(_encode(text))]
    if normalize_identifiers:
        tokens = [
            IDENTIFIER_PLACEHOLDER if _is_identifier(t) and t not in KEYWORDS else t for t in tokens
        ]
    return tokens


def _is_identifier(token: str) -> bool:
    first = token[0]
    return first not in "0123456789" and (ord(first) >= 0x80 or BYTE_CLASS[ord(first)] == WORD)


_KEYWORD_HASHES = np.array(sorted(token_hash(k.encode()) for k in KEYWORDS), dtype=np.uint64)
_PLACEHOLDER_HASH = np.uint64(token_hash(IDENTIFIER_PLACEHOLDER.encode()))


def token_hashes(text: str | bytes, normalize_identifiers: bool = False) -> np.ndarray:
    """uint64 hash of every token of `text`, in order, equal to `token_hash` of `code_tokens`
    (one compiled pass over the bytes: `curation.dedup.kernel`)."""
    from curation.dedup import kernel

    data = np.frombuffer(_encode(text), dtype=np.uint8)
    return kernel.token_hashes(data, BYTE_CLASS, IS_DIGIT, _KEYWORD_HASHES, normalize_identifiers, np.uint64(_BASE),
                               np.uint64(_LEN_MIX), _PLACEHOLDER_HASH)


def chain_ngrams(hashes: np.ndarray, n: int) -> np.ndarray:
    """One uint64 per window of n consecutive hashes (a sequence shorter than n is one window).

    The chain is order-sensitive (`a b` and `b a` differ) and finished by fmix64, so every bit
    of the result, including the top bits that choose a MinHash bin, is well mixed.
    """
    if n < 1:
        raise ValueError(f"n-gram size must be >= 1, got {n}")
    hashes = np.asarray(hashes, dtype=np.uint64)
    if hashes.size == 0:
        return np.empty(0, dtype=np.uint64)
    windows = max(hashes.size - n + 1, 1)
    with np.errstate(over="ignore"):
        acc = hashes[:windows].copy()
        for k in range(1, min(n, hashes.size)):
            acc *= np.uint64(_CHAIN)
            acc += hashes[k : k + windows]
        return fmix64(acc)


def shingle_hashes(
    text_or_tokens: str | bytes | Sequence[str], n: int, normalize_identifiers: bool = False
) -> np.ndarray:
    """uint64 hashes of the n-token shingles of a text, or of a list of `code_tokens` (which then
    carries its own normalization: `normalize_identifiers` applies to text only)."""
    if isinstance(text_or_tokens, str | bytes):
        hashes = token_hashes(text_or_tokens, normalize_identifiers)
    else:
        hashes = np.array([token_hash(_encode(t)) for t in text_or_tokens], dtype=np.uint64)
    return chain_ngrams(hashes, n)


def shingle_hashes_from_ids(ids: np.ndarray, n: int) -> np.ndarray:
    """uint64 hashes of the n-grams of tokenizer ids (the pipeline tokenizes every document early).

    BPE pieces are shorter than code tokens, so callers may want a larger n than for text.
    """
    ids = np.asarray(ids)
    if ids.dtype.kind not in "iu":
        raise TypeError(f"token ids must be an integer array, got dtype {ids.dtype}")
    with np.errstate(over="ignore"):
        return chain_ngrams(fmix64(ids.astype(np.uint64) + np.uint64(_LEN_MIX)), n)
