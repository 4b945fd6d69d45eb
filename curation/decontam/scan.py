"""The per-document hot path: tokens, both n-gram streams and the index prefilter in one pass.

`tokens.tokenize` + `tokens.ngrams` are the readable definition; this computes the same hashes
(the tests check equality) in one compiled loop over the bytes, because the numpy version makes
~15 passes over every byte: benchmarks/bench_decontam.py times both on the same files (`speed`:
`compiled_scan_mb_s` vs `numpy_reference_mb_s` on the same files). The loop
also rolls the n-gram hash (`tokens.ngrams` is a polynomial, so a window's hash follows from
the previous one) and checks each n-gram against the index's bitmap, so only
the few n-grams that may be in the index leave the loop.

numba is imported on first use (`curate --help` stays instant); its compiled code is cached next
to this module when the folder is writable.
"""

from __future__ import annotations

import functools

import numpy as np

from curation.decontam import tokens as T


@functools.cache
def _tables():
    """The kernel and its tables: byte classes, byte masks, kept names (sorted) and the top 16 bits
    of every kept name's hash (most identifiers are rejected by one load)."""
    from curation.decontam import kernel

    keep = T._KEEP_HASHES
    keep_top = np.zeros(1 << 16, np.uint8)
    keep_top[keep >> np.uint64(48)] = 1
    return kernel.scan, (T.BYTE_CLASS, T._LOW_BYTES, keep, keep_top)


class ScanResult:
    """What `scan` found in one text: its tokens and the n-grams that passed the prefilter."""

    __slots__ = ("tokens", "raw_pos", "raw_hash", "norm_pos", "norm_hash", "short_pos", "short_hash")

    def __init__(self, tokens, raw_pos, raw_hash, norm_pos, norm_hash, short_pos, short_hash):
        self.tokens = tokens
        self.raw_pos, self.raw_hash = raw_pos, raw_hash
        self.norm_pos, self.norm_hash = norm_pos, norm_hash
        self.short_pos, self.short_hash = short_pos, short_hash


def scan(text: str | bytes, n: int, m: int, bitmap: np.ndarray, shift: int) -> ScanResult:
    """Tokens of `text` and the (position, hash) of its raw and normalized n-grams and raw m-grams
    whose bit is set in `bitmap` (bit hash >> shift of a little-endian packed bit array)."""
    buf = text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass")
    padded = np.frombuffer(buf + b"\0" * 8, dtype=np.uint8)
    kernel, tables = _tables()
    out = kernel(padded, len(buf), n, m, bitmap, np.uint64(shift), *tables)
    starts, ends, raw, norm, rp, rh, np_, nh, sp, sh = out
    return ScanResult(T.CodeTokens(starts, ends, raw, norm), rp, rh, np_, nh, sp, sh)
