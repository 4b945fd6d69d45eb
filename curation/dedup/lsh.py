"""LSH bucketing, clustering and the keep rule for near-duplicates.

The chain, as the pipeline runs it: band keys per document (`minhash.band_keys`) -> documents
that share a key in any band are candidate pairs (`candidate_pairs`, one band at a time, so a
worker needs only one band's keys in memory) -> a candidate pair counts only if its estimated
Jaccard reaches the threshold (`verified_pairs`: a band collision alone lets through pairs far
below it) -> connected components (`UnionFind`) -> one document kept per cluster
(`curation.dedup.keep`), every other one removed with the id kept and its similarity to it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from curation.dedup.keep import KeepCandidate, choose_kept, keep_order_key  # noqa: F401 - the rule lives in keep.py
from curation.dedup.minhash import band_keys, estimate_jaccard, is_empty_signature


class UnionFind:
    """Disjoint sets over 0..size-1, with path halving and union by size."""

    def __init__(self, size: int):
        self.parent = list(range(size))
        self.size = [1] * size

    def find(self, x: int) -> int:
        parent = self.parent
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(self, a: int, b: int) -> int:
        root_a, root_b = self.find(a), self.find(b)
        if root_a == root_b:
            return root_a
        if self.size[root_a] < self.size[root_b]:
            root_a, root_b = root_b, root_a
        self.parent[root_b] = root_a
        self.size[root_a] += self.size[root_b]
        return root_a

    def union_pairs(self, left: np.ndarray, right: np.ndarray) -> None:
        for a, b in zip(np.asarray(left).tolist(), np.asarray(right).tolist(), strict=True):
            self.union(a, b)

    def roots(self) -> np.ndarray:
        """The root of every element: equal roots mean the same cluster."""
        return np.array([self.find(x) for x in range(len(self.parent))], dtype=np.int64)


def candidate_pairs_in_band(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (i < j) of rows with equal key in one band: each member of a bucket is paired with
    the bucket's first member and with its neighbour in key order. That is linear in the bucket
    size (a bucket of 10,000 copies of a license header gives ~20,000 pairs, not 50 million) and
    still connects the bucket when one member is unlike the first."""
    keys = np.asarray(keys)
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    same = sorted_keys[1:] == sorted_keys[:-1]
    if not same.any():
        empty = np.empty(0, dtype=np.int64)
        return empty, empty
    run_start = np.flatnonzero(np.concatenate(([True], ~same)))
    run_of = np.cumsum(np.concatenate(([True], ~same))) - 1
    later = np.flatnonzero(same) + 1  # positions in sorted order that repeat the key before them
    first = order[run_start[run_of[later]]]
    neighbour = order[later - 1]
    member = order[later]
    left = np.concatenate((first, neighbour))
    right = np.concatenate((member, member))
    return _unique_pairs(left, right)


def _unique_pairs(left: np.ndarray, right: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = np.minimum(left, right).astype(np.int64), np.maximum(left, right).astype(np.int64)
    keep = lo != hi
    packed = np.unique((lo[keep] << 32) | hi[keep])
    return packed >> 32, packed & 0xFFFFFFFF


def candidate_pairs(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unique pairs (i < j) of rows of `keys` (n_docs x bands) that share a key in any band."""
    lefts, rights = [], []
    for band in range(keys.shape[1]):
        left, right = candidate_pairs_in_band(keys[:, band])
        lefts.append(left)
        rights.append(right)
    if not lefts:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty
    return _unique_pairs(np.concatenate(lefts), np.concatenate(rights))


def verified_pairs(
    signatures: np.ndarray, left: np.ndarray, right: np.ndarray, threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The candidate pairs whose estimated Jaccard is >= threshold, with that estimate."""
    if left.size == 0:
        return left, right, np.empty(0, dtype=np.float64)
    similarity = np.atleast_1d(estimate_jaccard(signatures[left], signatures[right]))
    keep = similarity >= threshold
    return left[keep], right[keep], similarity[keep]


def near_duplicate_clusters(signatures: np.ndarray, bands: int, rows: int, threshold: float) -> np.ndarray:
    """Cluster label (a member's row index) for every row of `signatures` (n_docs x num_perm).

    Rows of shingle-less documents are left alone: their signatures are all equal and mean
    nothing. Holds every signature in memory; the pipeline streams bands instead.
    """
    signatures = np.asarray(signatures)
    keys = band_keys(signatures, bands, rows)
    real = np.flatnonzero(~is_empty_signature(signatures))
    left, right = candidate_pairs(keys[real])
    left, right, _ = verified_pairs(signatures, real[left], real[right], threshold)
    clusters = UnionFind(len(signatures))
    clusters.union_pairs(left, right)
    return clusters.roots()


def removals(
    labels: np.ndarray, members: Sequence[KeepCandidate], signatures: np.ndarray | None = None
) -> list[tuple[str, str, float | None]]:
    """(id removed, id kept, estimated similarity to the kept one) for every non-kept member of
    every cluster of more than one document; sorted by id removed."""
    if len(labels) != len(members):
        raise ValueError(f"{len(labels)} cluster labels for {len(members)} documents")
    labels = np.asarray(labels)
    order = np.argsort(labels, kind="stable")
    boundaries = np.flatnonzero(np.diff(labels[order])) + 1
    out = []
    for group in np.split(order, boundaries):
        if group.size < 2:
            continue
        rows = group.tolist()
        kept_row = min(rows, key=lambda row: keep_order_key(members[row]))
        for row in rows:
            if row == kept_row:
                continue
            similarity = None if signatures is None else estimate_jaccard(signatures[row], signatures[kept_row])
            out.append((members[row].id, members[kept_row].id, similarity))
    return sorted(out)
