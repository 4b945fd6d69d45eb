"""The compiled loop of `scan` (imported on first use: numba is heavy, `curate --help` is not).

Module-level functions without closures, tables passed as arguments: that is what lets numba
reuse its on-disk cache (next to this file, when writable) instead of compiling in every
process (~10 s on a loaded machine).
"""

import numba
import numpy as np

from curation.decontam import tokens as T

u64 = np.uint64
s48 = u64(48)
k_first, k_mid, k_last, k_len = T._K_FIRST, T._K_MID, T._K_LAST, T._K_LEN
placeholder, dot = T._PLACEHOLDER_HASH, T._DOT_HASH
m1, m2, s33 = u64(0xFF51AFD7ED558CCD), u64(0xC4CEB9FE1A85EC53), u64(33)
chain = u64(T.CHAIN)


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
def scan(buf, n_bytes, n, m, bitmap, shift, byte_class, low_bytes, keep, keep_top):
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
            h = acc
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
            hr = acc_r
            slot = hr >> shift
            if (bitmap[slot >> u64(3)] >> (slot & u64(7))) & 1:
                raw_pos[n_raw] = w
                raw_hit[n_raw] = hr
                n_raw += 1
            hn = acc_n
            slot = hn >> shift
            if (bitmap[slot >> u64(3)] >> (slot & u64(7))) & 1:
                norm_pos[n_norm] = w
                norm_hit[n_norm] = hn
                n_norm += 1
    return (starts[:count], ends[:count], raw[:count], norm[:count],
            raw_pos[:n_raw], raw_hit[:n_raw], norm_pos[:n_norm], norm_hit[:n_norm],
            short_pos[:n_short], short_hit[:n_short])
