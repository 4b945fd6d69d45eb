"""Which benchmark fields a text contains, and where: a pure function of the index and the text.

A segment (one field of one item) is matched when the text holds, within one region:
- `exact`: every kept raw n-gram of the field, in one contiguous run (the field as written, up
  to whitespace: an exact substring after whitespace normalization);
- `overlap`: at least `min_overlap` of its kept raw n-grams (and `min_ngrams`, or all of them
  when it has fewer): a copy with some lines edited, added or removed;
- `normalized`: at least `min_normalized_overlap` of its identifier-normalized n-grams, for
  fields with at least `min_normalized_ngrams` of them: a copy with renamed identifiers.
- `exact` also for a field shorter than n tokens (but at least `short_n`): all its raw m-grams
  (m = short_n) in one contiguous run, i.e. the whole field as written. Shorter fields are never
  matched alone (the `code` field, prompt and solution together, covers HumanEval's one-line
  solutions).

The region is the densest run of the segment's hits: hits further apart than the segment's own
length belong to different regions, so scattered boilerplate does not add up to a match.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from curation.decontam.index import SHIFT, BenchmarkIndex
from curation.decontam.scan import scan
from curation.decontam.tokens import CodeTokens, char_offsets


@dataclass(frozen=True)
class MatchSettings:
    min_overlap: float = 0.5
    min_ngrams: int = 3
    min_normalized_overlap: float = 0.8
    min_normalized_ngrams: int = 3


@dataclass(frozen=True)
class Match:
    benchmark: str
    item_id: str
    field: str
    kind: str  # exact | overlap | normalized
    hits: int  # distinct n-grams of the field found in the region
    total: int  # kept n-grams of the field
    start: int  # char span of the region in the text
    end: int

    def describe(self) -> str:
        return (f"{self.benchmark} {self.item_id} {self.field} {self.kind} {self.hits}/{self.total} "
                f"n-grams chars {self.start}-{self.end}")


def _lookup(keys: np.ndarray, segs: np.ndarray, pos: np.ndarray, hashes: np.ndarray):
    """(segment, position, hash) for every candidate n-gram that is in the index."""
    lo = np.searchsorted(keys, hashes, side="left")
    hi = np.searchsorted(keys, hashes, side="right")
    width = hi - lo
    found = width > 0
    if not found.any():
        return None
    lo, width, pos, hashes = lo[found], width[found], pos[found], hashes[found]
    rep = np.repeat(np.arange(lo.size), width)
    offsets = np.arange(rep.size) - np.repeat(np.cumsum(width) - width, width)
    return segs[lo[rep] + offsets], pos[rep], hashes[rep]


def _regions(pos: np.ndarray, hashes: np.ndarray, gap: int):
    """Split sorted hit positions into runs whose neighbours are at most `gap` apart; yields
    (first position, last position, distinct hashes, positions are one contiguous run)."""
    order = np.argsort(pos, kind="stable")
    pos, hashes = pos[order], hashes[order]
    breaks = np.flatnonzero(np.diff(pos) > gap) + 1
    for p, h in zip(np.split(pos, breaks), np.split(hashes, breaks)):
        distinct = np.unique(h).size
        contiguous = np.unique(p).size == int(p[-1] - p[0]) + 1
        yield int(p[0]), int(p[-1]), distinct, contiguous


def _needs(index: BenchmarkIndex, settings: MatchSettings, stream: str) -> np.ndarray:
    """Per segment: distinct n-grams a region needs to match (int64 max: never)."""
    cache = index.needs_cache
    key = (stream, settings)
    if key not in cache:
        if stream == "short":
            total = index.seg_short_total
            share, floor = 1.0, 1
        elif stream == "raw":
            total = index.seg_raw_total
            share, floor = settings.min_overlap, settings.min_ngrams
        else:
            total = index.seg_norm_total
            share, floor = settings.min_normalized_overlap, settings.min_normalized_ngrams
        need = np.maximum(np.ceil(share * total).astype(np.int64), np.minimum(floor, total))
        need = np.maximum(need, 1)
        if stream == "short":
            need[total == 0] = np.iinfo(np.int64).max
        if stream == "norm":
            need[total < settings.min_normalized_ngrams] = np.iinfo(np.int64).max
        cache[key] = need
    return cache[key]


def find_matches(index: BenchmarkIndex, text: str, settings: MatchSettings,
                 tokens_out: list | None = None) -> list[Match]:
    """Every matched region of every segment in `text` (empty for almost every document).
    `tokens_out`, when given, receives the text's CodeTokens (to count removed tokens)."""
    found = scan(text, index.n, index.short_n, index.bitmap, SHIFT)
    if tokens_out is not None:
        tokens_out.append(found.tokens)
    if found.raw_pos.size == 0 and found.norm_pos.size == 0 and found.short_pos.size == 0:
        return []
    candidates = []
    raw = _lookup(index.raw_keys, index.raw_seg, found.raw_pos, found.raw_hash)
    if raw is not None:
        candidates.append(("raw", raw))
    norm = _lookup(index.norm_keys, index.norm_seg, found.norm_pos, found.norm_hash)
    if norm is not None:
        candidates.append(("norm", norm))
    short = _lookup(index.short_keys, index.short_seg, found.short_pos, found.short_hash)
    if short is not None:
        candidates.append(("short", short))
    regions = []  # (segment, kind, hits, total, first token, last token)
    for stream, (segs, pos, hashes) in candidates:
        # Most candidate n-grams are boilerplate found in a few segments each: a segment whose hits,
        # counted with repeats, cannot reach its threshold is dropped before any per-segment work.
        need_all = _needs(index, settings, stream)
        seg_ids, counts = np.unique(segs, return_counts=True)
        enough = seg_ids[counts >= need_all[seg_ids]]
        if enough.size == 0:
            continue
        keep = np.isin(segs, enough)
        segs, pos, hashes = segs[keep], pos[keep], hashes[keep]
        order = np.argsort(segs, kind="stable")
        segs, pos, hashes = segs[order], pos[order], hashes[order]
        bounds = np.flatnonzero(np.diff(segs)) + 1
        for s_pos, s_hash, seg in zip(np.split(pos, bounds), np.split(hashes, bounds), segs[np.r_[0, bounds]]):
            seg = int(seg)
            gap = max(int(index.seg_tokens[seg]), index.n)
            total = int({"raw": index.seg_raw_total, "norm": index.seg_norm_total,
                         "short": index.seg_short_total}[stream][seg])
            need = int(need_all[seg])
            width = index.short_n if stream == "short" else index.n
            for first, last, hits, contiguous in _regions(s_pos, s_hash, gap):
                if hits < need:
                    continue
                if stream == "short":
                    # the whole field, window after window: as many windows as the field has
                    if not contiguous or last - first + 1 != int(index.seg_tokens[seg]) - width + 1:
                        continue
                    kind = "exact"
                else:
                    kind = "normalized" if stream == "norm" else ("exact" if hits == total and contiguous else "overlap")
                regions.append((seg, kind, hits, total, first, last + width - 1))
    return _to_matches(index, text, found.tokens, regions)


def _to_matches(index: BenchmarkIndex, text: str, tokens: CodeTokens, regions) -> list[Match]:
    if not regions:
        return []
    # one match per (segment, region): a raw match wins over the normalized one of the same place
    rank = {"exact": 0, "overlap": 1, "normalized": 2}
    regions.sort(key=lambda r: (r[0], r[4], rank[r[1]]))
    byte_spans = np.array([[tokens.starts[r[4]], tokens.ends[r[5]]] for r in regions], dtype=np.int64)
    chars = char_offsets(text, byte_spans.ravel()).reshape(-1, 2)
    out, seen = [], []
    for (seg, kind, hits, total, _, _), (start, end) in zip(regions, chars):
        if any(s == seg and start < e and b < end for s, b, e in seen):
            continue
        seen.append((seg, int(start), int(end)))
        item = int(index.seg_item[seg])
        out.append(Match(benchmark=index.benchmarks[item], item_id=index.item_ids[item], field=index.seg_field[seg],
                         kind=kind, hits=hits, total=total, start=int(start), end=int(end)))
    out.sort(key=lambda m: (m.start, m.benchmark, m.item_id, m.field))
    return out


def cut_spans(text: str, matches: list[Match], margin: int) -> list[tuple[int, int]]:
    """Char ranges to remove: each match widened by `margin` and then to whole lines, merged."""
    spans = []
    for m in sorted(matches, key=lambda m: m.start):
        start = max(m.start - margin, 0)
        end = min(m.end + margin, len(text))
        start = text.rfind("\n", 0, start) + 1
        nl = text.find("\n", end)
        end = len(text) if nl < 0 else nl + 1
        if spans and start <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], end))
        else:
            spans.append((start, end))
    return spans


def apply_cuts(text: str, spans: list[tuple[int, int]]) -> str:
    pieces, last = [], 0
    for start, end in spans:
        pieces.append(text[last:start])
        last = end
    pieces.append(text[last:])
    return "".join(pieces)
