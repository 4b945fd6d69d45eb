"""MinHash signatures for code near-dedup: the user states threshold, n-grams and permutations;
bands and rows are derived. Shingling lives in `shingles.py`, bucketing and the keep rule in
`lsh.py`; this module is the sketch itself.

Why one-permutation hashing (OPH) with optimal densification (Shrivastava, ICML 2017) and not
k independent permutations: k-permutation MinHash evaluates num_perm hash functions per shingle,
an (n_shingles x 256) matrix per document; numpy does that at a few MB/s (datatrove ran 3.4 MB/s
here), far from the speed budget. OPH hashes each shingle once: the top bits of its mixed hash
choose one of num_perm bins, the low 32 bits are its value, and each bin keeps its minimum, one
`np.minimum.at` per document. Bins left empty (documents with few shingles) borrow the value of
a non-empty bin picked by a fixed per-(bin, attempt) hash, the same in every document; that
keeps P[sig_a[i] == sig_b[i]] = J(a, b) for every bin, so `estimate_jaccard` is unbiased with
variance close to k-permutation MinHash (test_minhash.py checks both against exact Jaccard and
against datasketch).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from curation.dedup.shingles import (  # noqa: F401  (the public API of near-dedup, in one place)
    chain_ngrams,
    code_tokens,
    fmix64,
    shingle_hashes,
    shingle_hashes_from_ids,
    token_hashes,
)

SIGNATURE_DTYPE = np.uint32
# What an empty bin holds until densification fills it; a document with no shingle at all keeps
# it in every bin (see `is_empty_signature`).
EMPTY_BIN = np.uint32(0xFFFFFFFF)
_SEED_MIX = 0x2545F4914F6CDD1D
_ATTEMPT_MIX = 0x9E3779B97F4A7C15
_BIN_MIX = 0xD6E8FEB86659FD93


def lsh_false_positive_area(threshold: float, b: np.ndarray, r: np.ndarray, grid: int = 2001) -> np.ndarray:
    """Integral over s in [0, threshold] of P[candidate | J = s] = 1 - (1 - s**r)**b."""
    s = np.linspace(0.0, threshold, grid)[:, None]
    return np.trapezoid(1 - (1 - s**r) ** b, s, axis=0)


def lsh_false_negative_area(threshold: float, b: np.ndarray, r: np.ndarray, grid: int = 2001) -> np.ndarray:
    """Integral over s in [threshold, 1] of P[not candidate | J = s] = (1 - s**r)**b."""
    s = np.linspace(threshold, 1.0, grid)[:, None]
    return np.trapezoid((1 - s**r) ** b, s, axis=0)


@lru_cache(maxsize=64)
def derive_bands(
    threshold: float,
    num_perm: int,
    false_positive_weight: float = 0.5,
    false_negative_weight: float = 0.5,
) -> tuple[int, int]:
    """(bands, rows) with bands * rows <= num_perm minimizing the weighted areas of false positives
    below `threshold` and false negatives above it: datasketch's `_optimal_param`, evaluated on
    one grid for every (b, r) at once instead of one `quad` call per pair. 0.7/256 gives (25, 10).
    """
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be in (0, 1), got {threshold}")
    if num_perm < 1:
        raise ValueError(f"num_perm must be >= 1, got {num_perm}")
    pairs = np.array([(b, r) for b in range(1, num_perm + 1) for r in range(1, num_perm // b + 1)], dtype=np.float64)
    b, r = pairs[:, 0], pairs[:, 1]
    error = false_positive_weight * lsh_false_positive_area(threshold, b, r) + false_negative_weight * (
        lsh_false_negative_area(threshold, b, r)
    )
    best = int(np.argmin(error))  # first minimum, in datasketch's (b, then r) scan order
    return int(b[best]), int(r[best])


@lru_cache(maxsize=64)
def _seed_mix(seed: int) -> np.uint64:
    return fmix64(np.array([(seed * _SEED_MIX + 1) & 0xFFFFFFFFFFFFFFFF], dtype=np.uint64))[0]


def _fast_range(h: np.ndarray, size: int) -> np.ndarray:
    """Map uint64 hashes to [0, size) from their top 32 bits (Lemire), without a modulo bias."""
    return ((h >> np.uint64(32)) * np.uint64(size)) >> np.uint64(32)


_DENSIFY_BLOCK = 64


@lru_cache(maxsize=256)
def _densify_choices(num_perm: int, seed: int, block: int) -> np.ndarray:
    """Row a, column i: the bin that empty bin i borrows from at attempt block*64 + a + 1,
    the same in every document (so two documents borrow alike and estimates stay unbiased)."""
    bins = np.arange(num_perm, dtype=np.uint64)[None, :]
    tries = np.arange(block * _DENSIFY_BLOCK + 1, (block + 1) * _DENSIFY_BLOCK + 1, dtype=np.uint64)[:, None]
    keys = bins * np.uint64(_BIN_MIX) + tries * np.uint64(_ATTEMPT_MIX) + _seed_mix(seed)
    choices = _fast_range(fmix64(keys), num_perm).astype(np.intp)
    choices.setflags(write=False)
    return choices


def _densify(sig: np.ndarray, filled: np.ndarray, seed: int) -> None:
    """Fill every empty bin from the first non-empty bin of its fixed sequence of choices,
    64 attempts at a time for all empty bins together."""
    pending = np.flatnonzero(~filled)
    block = 0
    while pending.size:
        choices = _densify_choices(sig.size, seed, block)[:, pending]
        hit = filled[choices]
        found = hit.any(axis=0)
        first = hit.argmax(axis=0)[found]
        sig[pending[found]] = sig[choices[first, np.flatnonzero(found)]]
        pending = pending[~found]
        block += 1


def raw_signature(shingles: np.ndarray, num_perm: int = 256, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(bins, filled) before densification. The raw bins of a union of shingle sets are the
    elementwise minimum of the sets' raw bins, so a repository's signature can be built from its
    files' without holding all their shingles (`merge_raw`, then `densified`)."""
    shingles = np.asarray(shingles, dtype=np.uint64)
    sig = np.full(num_perm, EMPTY_BIN, dtype=SIGNATURE_DTYPE)
    filled = np.zeros(num_perm, dtype=bool)
    if shingles.size == 0:
        return sig, filled
    h = fmix64(shingles ^ _seed_mix(seed))
    bins = _fast_range(h, num_perm).astype(np.intp)
    np.minimum.at(sig, bins, h.astype(SIGNATURE_DTYPE))  # low 32 bits: independent of the bin
    filled[bins] = True
    return sig, filled


def merge_raw(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    return np.minimum(a[0], b[0]), a[1] | b[1]


def densified(sig: np.ndarray, filled: np.ndarray, seed: int = 1) -> np.ndarray:
    """The signature of raw bins: empty bins borrow from filled ones; all empty stays EMPTY_BIN."""
    sig = sig.copy()
    if filled.any() and not filled.all():
        _densify(sig, filled, seed)
    return sig


def signature(shingles: np.ndarray, num_perm: int = 256, seed: int = 1) -> np.ndarray:
    """uint32[num_perm] one-permutation MinHash signature of a set of uint64 shingle hashes.

    Deterministic for (shingle set, num_perm, seed); duplicates in `shingles` do not matter. A
    document without shingles gets EMPTY_BIN everywhere: do not band it (`is_empty_signature`).
    """
    return densified(*raw_signature(shingles, num_perm, seed), seed)


def text_signature(
    text: str | bytes, n_grams: int = 5, num_perm: int = 256, seed: int = 1, normalize_identifiers: bool = False
) -> np.ndarray:
    return signature(shingle_hashes(text, n_grams, normalize_identifiers), num_perm, seed)


def is_empty_signature(sig: np.ndarray) -> np.ndarray:
    """True for the signature of a shingle-less document (per row, for a 2-D array)."""
    return np.all(np.asarray(sig) == EMPTY_BIN, axis=-1)


def estimate_jaccard(sig_a: np.ndarray, sig_b: np.ndarray) -> float | np.ndarray:
    """Fraction of equal bins; for 2-D inputs one estimate per row pair. Standard error is
    sqrt(J (1 - J) / num_perm): 0.029 at J = 0.7 with 256 bins."""
    sig_a, sig_b = np.asarray(sig_a), np.asarray(sig_b)
    if sig_a.shape[-1] != sig_b.shape[-1]:
        raise ValueError(f"signatures differ in length: {sig_a.shape[-1]} vs {sig_b.shape[-1]}")
    estimate = np.mean(sig_a == sig_b, axis=-1)
    return float(estimate) if np.ndim(estimate) == 0 else estimate


def band_keys(sig: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """uint64 key per band: a hash of its `rows` values and of the band index, so keys of all
    bands can share one table. Shape (..., bands) for signatures of shape (..., num_perm)."""
    sig = np.asarray(sig)
    if bands * rows > sig.shape[-1]:
        raise ValueError(f"{bands} bands x {rows} rows need {bands * rows} values; signatures have {sig.shape[-1]}")
    values = sig[..., : bands * rows].reshape(*sig.shape[:-1], bands, rows).astype(np.uint64)
    with np.errstate(over="ignore"):
        key = np.arange(1, bands + 1, dtype=np.uint64) * np.uint64(_BIN_MIX)
        key = np.broadcast_to(key, values.shape[:-1]).copy()
        for row in range(rows):
            key = fmix64(key ^ values[..., row]) + np.uint64(_ATTEMPT_MIX)
    return key


def bands_rows(near) -> tuple[int, int]:
    """Bands x rows of a `dedup.near` config section: its threshold and the weight of missed pairs."""
    return derive_bands(near.threshold, near.num_perm, 1 - near.false_negative_weight, near.false_negative_weight)

