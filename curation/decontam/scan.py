"""The per-document hot path: tokens, both n-gram streams and the index prefilter in one pass.

`tokens.tokenize` + `tokens.ngrams` are the readable definition; this computes the same hashes
(the tests check equality) in one compiled loop over the bytes, because the numpy version needs
~15 passes over every byte and ran at ~10 MB/s here, while this runs at ~20x that (see
benchmarks/bench_decontam.py): decontamination must stay a small share of a stage-1 run whose
floor is tokenization at ~4 MB/s per core. The loop also rolls the n-gram hash (the chain of
`shingles.chain_ngrams` is a polynomial, so a window's hash follows from the previous one) and
checks each n-gram against the index's bitmap, so only the few n-grams that may be in the index
leave the loop.

numba is imported on first use (`curate --help` stays instant); its compiled code is cached next
to this module when the folder is writable.
"""

from __future__ import annotations

import functools

import numpy as np

from curation.decontam import tokens as T

_CHAIN = 0xC2B2AE3D27D4EB4F  # curation.dedup.shingles._CHAIN: n-grams hash as there


@functools.cache
def _kernel():
    import numba

    u64 = np.uint64
    byte_class = T._BYTE_CLASS
    low_bytes = T._LOW_BYTES
    keep = T._KEEP_HASHES
    # the top 16 bits of every kept name's hash: most identifiers are rejected by one load
    keep_top = np.zeros(1 << 16, np.uint8)
    keep_top[keep >> np.uint64(48)] = 1
    s48 = u64(48)
    k_first, k_mid, k_last, k_len = T._K_FIRST, T._K_MID, T._K_LAST, T._K_LEN
    placeholder, dot = T._PLACEHOLDER_HASH, T._DOT_HASH
    m1, m2, s33 = u64(0xFF51AFD7ED558CCD), u64(0xC4CEB9FE1A85EC53), u64(33)
    chain = u64(_CHAIN)

    @numba.njit(cache=True, inline="always")
    def load8(buf, i):
        x = u64(0)
        for k in range(8):
            x |= u64(buf[i + k]) << u64(8 * k)
        return x

    @numba.njit(cache=True, inline="always")
    def fmix(x):
        x ^= x >> s33
        x *= m1
        x ^= x >> s33
        x *= m2
        x ^= x >> s33
        return x

    @numba.njit(cache=True)
    def scan(buf, n_bytes, n, m, bitmap, shift):
        """buf: the text's bytes plus 8 zero bytes. Returns token spans, raw and normalized token
        hashes, and (position, hash) of every raw n-gram, normalized n-gram and raw m-gram (m < n:
        fields shorter than n tokens) whose bitmap bit is set."""
        starts = np.empty(n_bytes, np.int64)
        ends = np.empty(n_bytes, np.int64)
        raw = np.empty(n_bytes, np.uint64)
        norm = np.empty(n_bytes, np.uint64)
        count = 0
        i = 0
        while i < n_bytes:
            c = byte_class[buf[i]]
            if c == 0:
                i += 1
                continue
            s = i
            if c == 1:
                while i < n_bytes and byte_class[buf[i]] == 1:
                    i += 1
            else:
                i += 1
            length = i - s
            h = (load8(buf, s) & low_bytes[min(length, 8)]) * k_first
            h ^= u64(length) * k_len
            if length > 8:
                h ^= load8(buf, i - 8) * k_last + load8(buf, s + max(length // 2 - 4, 0)) * k_mid
            h = fmix(h)
            starts[count] = s
            ends[count] = i
            raw[count] = h
            g = h
            first = buf[s]
            if c == 1 and not (48 <= first <= 57):
                kept = False
                if keep_top[h >> s48]:
                    p = np.searchsorted(keep, h)
                    kept = p < keep.size and keep[p] == h
                after_dot = count > 0 and raw[count - 1] == dot
                if not kept and not after_dot:
                    g = placeholder
            norm[count] = g
            count += 1
        windows = max(count - n + 1, 0)
        raw_pos = np.empty(windows, np.int64)
        raw_hit = np.empty(windows, np.uint64)
        norm_pos = np.empty(windows, np.int64)
        norm_hit = np.empty(windows, np.uint64)
        n_raw = 0
        n_norm = 0
        short_windows = max(count - m + 1, 0)
        short_pos = np.empty(short_windows, np.int64)
        short_hit = np.empty(short_windows, np.uint64)
        n_short = 0
        if short_windows > 0:
            top = u64(1)
            for _ in range(m - 1):
                top *= chain
            acc = u64(0)
            for k in range(m):
                acc = acc * chain + raw[k]
            for w in range(short_windows):
                if w > 0:
                    acc = (acc - raw[w - 1] * top) * chain + raw[w + m - 1]
                h = fmix(acc)
                slot = h >> shift
                if (bitmap[slot >> u64(3)] >> (slot & u64(7))) & 1:
                    short_pos[n_short] = w
                    short_hit[n_short] = h
                    n_short += 1
        if windows > 0:
            top = u64(1)  # chain**(n-1): the weight of the token that leaves the window
            for _ in range(n - 1):
                top *= chain
            acc_r = u64(0)
            acc_n = u64(0)
            for k in range(n):
                acc_r = acc_r * chain + raw[k]
                acc_n = acc_n * chain + norm[k]
            for w in range(windows):
                if w > 0:
                    acc_r = (acc_r - raw[w - 1] * top) * chain + raw[w + n - 1]
                    acc_n = (acc_n - norm[w - 1] * top) * chain + norm[w + n - 1]
                hr = fmix(acc_r)
                slot = hr >> shift
                if (bitmap[slot >> u64(3)] >> (slot & u64(7))) & 1:
                    raw_pos[n_raw] = w
                    raw_hit[n_raw] = hr
                    n_raw += 1
                hn = fmix(acc_n)
                slot = hn >> shift
                if (bitmap[slot >> u64(3)] >> (slot & u64(7))) & 1:
                    norm_pos[n_norm] = w
                    norm_hit[n_norm] = hn
                    n_norm += 1
        return (starts[:count], ends[:count], raw[:count], norm[:count],
                raw_pos[:n_raw], raw_hit[:n_raw], norm_pos[:n_norm], norm_hit[:n_norm],
                short_pos[:n_short], short_hit[:n_short])

    return scan


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
    out = _kernel()(padded, len(buf), n, m, bitmap, np.uint64(shift))
    starts, ends, raw, norm, rp, rh, np_, nh, sp, sh = out
    return ScanResult(T.CodeTokens(starts, ends, raw, norm), rp, rh, np_, nh, sp, sh)
