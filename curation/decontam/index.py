"""The benchmark index: every benchmark field's n-grams, built once per run, saved to one file.

Fields shorter than n tokens (CRUXEval's `def f(s): return s.upper()`) are indexed by their
m-grams (m = `short_n` < n tokens, raw only, no frequency filter) and match only as a whole,
exactly: the exact-substring rule for what is too short for n-gram overlap.

A field (an item's prompt, solution, code or test) is a *segment*. The index maps each n-gram
hash to the segments that contain it, twice: raw n-grams (tokens as written) and normalized ones
(identifiers replaced, see `tokens`). An n-gram found in more than `max_item_frequency` items of
one benchmark (HumanEval's `from typing import List`, HumanEval-X's `#include` lines, MBPP's
`assert`) says nothing about which item a document copies, so it is left out; each segment's
totals count only the n-grams kept. A bitmap over the top bits of every kept hash lets the scan
reject almost every document n-gram with one memory load.

The driver builds the index and writes `work/decontam_index.npz` (temp + rename); every task
loads that file, so the benchmarks are read and hashed once per run, not per task.
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from curation.decontam.benchmarks import BenchmarkItem
from curation.decontam.tokens import ngrams, tokenize

# A bit per slot, 2**27 slots (16 MiB): the ~750K kept n-grams of the shared benchmarks set 0.6%
# of them, so 1 document n-gram in ~180 reaches the exact lookup (a byte per slot in 16 MiB set
# 4.5%, and the lookups behind it took most of the time).
BITMAP_BITS = 27
SHIFT = 64 - BITMAP_BITS


_EMPTY = np.empty(0, dtype=np.uint64)


def field_kind(name: str) -> str:
    """The config's field names: `declaration_code` (HumanEval-X) is a kind of `code`."""
    return "code" if name.endswith("code") else name


@dataclass
class BenchmarkIndex:
    n: int
    short_n: int
    benchmarks: list[str]  # per item
    item_ids: list[str]
    seg_item: np.ndarray  # int32, per segment
    seg_field: list[str]
    seg_tokens: np.ndarray  # int64: tokens of the segment text
    seg_raw_total: np.ndarray  # int64: distinct kept raw n-grams
    seg_norm_total: np.ndarray
    seg_short_total: np.ndarray  # int64: m-grams of a field shorter than n tokens (else 0)
    raw_keys: np.ndarray  # uint64 sorted; raw_seg[i] is a segment containing raw_keys[i]
    raw_seg: np.ndarray
    norm_keys: np.ndarray
    norm_seg: np.ndarray
    short_keys: np.ndarray
    short_seg: np.ndarray
    swe: list[dict]  # SWE-bench instances: benchmark, item_id, repo, base_commit, date
    notes: list[str]
    _bitmap: np.ndarray | None = None
    needs_cache: dict = field(default_factory=dict, repr=False)  # match thresholds per segment, per settings

    @property
    def bitmap(self) -> np.ndarray:
        if self._bitmap is None:
            slots = np.concatenate([self.raw_keys, self.norm_keys, self.short_keys]) >> np.uint64(SHIFT)
            bitmap = np.zeros(1 << (BITMAP_BITS - 3), dtype=np.uint8)
            np.bitwise_or.at(bitmap, slots >> np.uint64(3), (1 << (slots & np.uint64(7))).astype(np.uint8))
            self._bitmap = bitmap
        return self._bitmap

    def summary(self) -> dict:
        per = {}
        for b in self.benchmarks:
            per[b] = per.get(b, 0) + 1
        return {"n": self.n, "short_n": self.short_n, "items": per, "segments": int(self.seg_item.size),
                "raw_ngrams": _distinct_sorted(self.raw_keys), "normalized_ngrams": _distinct_sorted(self.norm_keys),
                "short_segments": int((self.seg_short_total > 0).sum()),
                "unmatchable_segments": int(((self.seg_raw_total == 0) & (self.seg_norm_total == 0)
                                             & (self.seg_short_total == 0)).sum()),
                "swe_instances": len(self.swe), "notes": self.notes}

    # -- build ---------------------------------------------------------------------------------
    @classmethod
    def build(cls, items: list[BenchmarkItem], *, n: int, short_n: int, fields: list[str], max_item_frequency: int,
              swe_benchmarks: Collection[str] = (), notes: list[str] | None = None) -> "BenchmarkIndex":
        seg_item, seg_field, seg_tokens, raw_sets, norm_sets, short_sets = [], [], [], [], [], []
        for i, item in enumerate(items):
            for name, text in item.fields.items():
                if field_kind(name) not in fields:
                    continue
                toks = tokenize(text)
                seg_item.append(i)
                seg_field.append(name)
                seg_tokens.append(len(toks))
                raw_sets.append(np.unique(ngrams(toks.raw, n)))
                norm_sets.append(np.unique(ngrams(toks.norm, n)))
                short_sets.append(np.unique(ngrams(toks.raw, short_n)) if len(toks) < n else _EMPTY)
        benchmarks = [it.benchmark for it in items]
        seg_item_arr = np.array(seg_item, dtype=np.int32)
        raw_sets = _drop_frequent(raw_sets, seg_item_arr, benchmarks, max_item_frequency)
        norm_sets = _drop_frequent(norm_sets, seg_item_arr, benchmarks, max_item_frequency)
        raw_keys, raw_seg = _postings(raw_sets)
        norm_keys, norm_seg = _postings(norm_sets)
        short_keys, short_seg = _postings(short_sets)
        swe = [{"benchmark": it.benchmark, "item_id": it.item_id, "repo": it.repo, "base_commit": it.base_commit,
                "date": it.date} for it in items if it.benchmark in swe_benchmarks]
        return cls(n=n, short_n=short_n, benchmarks=benchmarks, item_ids=[it.item_id for it in items], seg_item=seg_item_arr,
                   seg_field=seg_field, seg_tokens=np.array(seg_tokens, dtype=np.int64),
                   seg_raw_total=np.array([s.size for s in raw_sets], dtype=np.int64),
                   seg_norm_total=np.array([s.size for s in norm_sets], dtype=np.int64),
                   seg_short_total=np.array([s.size for s in short_sets], dtype=np.int64),
                   raw_keys=raw_keys, raw_seg=raw_seg, norm_keys=norm_keys, norm_seg=norm_seg,
                   short_keys=short_keys, short_seg=short_seg,
                   swe=swe, notes=list(notes or []))

    # -- file ----------------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {"n": self.n, "short_n": self.short_n, "benchmarks": self.benchmarks, "item_ids": self.item_ids,
                "seg_field": self.seg_field, "swe": self.swe, "notes": self.notes}
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as f:
            np.savez(f, meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
                     seg_item=self.seg_item, seg_tokens=self.seg_tokens, seg_raw_total=self.seg_raw_total,
                     seg_norm_total=self.seg_norm_total, seg_short_total=self.seg_short_total,
                     short_keys=self.short_keys, short_seg=self.short_seg, raw_keys=self.raw_keys, raw_seg=self.raw_seg,
                     norm_keys=self.norm_keys, norm_seg=self.norm_seg, bitmap=self.bitmap)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | Path) -> "BenchmarkIndex":
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"{path}: the benchmark index is missing; the driver builds it before "
                                    f"the decontaminate step runs")
        with np.load(path) as z:
            meta = json.loads(z["meta"].tobytes())
            arrays = {k: z[k] for k in z.files if k not in ("meta", "bitmap")}
            # saved with the index: every task would otherwise spend ~0.15 s of CPU rebuilding it
            bitmap = z["bitmap"] if "bitmap" in z.files else None
        return cls(n=meta["n"], short_n=meta["short_n"], benchmarks=meta["benchmarks"], item_ids=meta["item_ids"],
                   seg_field=meta["seg_field"], swe=meta["swe"], notes=meta["notes"], _bitmap=bitmap, **arrays)


def _drop_frequent(sets: list[np.ndarray], seg_item: np.ndarray, benchmarks: list[str],
                   max_items: int) -> list[np.ndarray]:
    """Each set without the n-grams found in more than `max_items` distinct items of one benchmark."""
    sizes = [s.size for s in sets]
    if sum(sizes) == 0:
        return sets
    hashes = np.concatenate(sets)
    items = np.repeat(seg_item.astype(np.int64), sizes)
    bench_codes = {b: k for k, b in enumerate(dict.fromkeys(benchmarks))}
    bench_of_item = np.array([bench_codes[b] for b in benchmarks], dtype=np.int64)
    # distinct (hash, item) pairs, then items per (hash, benchmark)
    order = np.lexsort((items, hashes))
    h, it = hashes[order], items[order]
    first = np.r_[True, (h[1:] != h[:-1]) | (it[1:] != it[:-1])]
    h, b = h[first], bench_of_item[it[first]]
    order = np.lexsort((b, h))
    h, b = h[order], b[order]
    group_start = np.flatnonzero(np.r_[True, (h[1:] != h[:-1]) | (b[1:] != b[:-1])])
    counts = np.diff(np.r_[group_start, h.size])
    frequent = np.unique(h[group_start[counts > max_items]])
    keep = ~np.isin(hashes, frequent)
    return np.split(hashes[keep], np.cumsum([k.sum() for k in np.split(keep, np.cumsum(sizes)[:-1])])[:-1])


def _distinct_sorted(keys: np.ndarray) -> int:
    """Distinct values of a sorted array (postings keys are sorted: np.unique would sort again)."""
    return int(keys.size and 1 + np.count_nonzero(keys[1:] != keys[:-1]))


def _postings(sets: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    if not sets:
        return np.empty(0, dtype=np.uint64), np.empty(0, dtype=np.int32)
    keys = np.concatenate(sets)
    segs = np.repeat(np.arange(len(sets), dtype=np.int32), [s.size for s in sets])
    order = np.argsort(keys, kind="stable")
    return keys[order], segs[order]
