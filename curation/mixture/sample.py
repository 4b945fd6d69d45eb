"""Deterministic sampling per the plan, then a global shuffle that never holds the run in memory.

Sampling, per source, with epochs e = target / available: floor(e) full passes over every
document, plus a fractional pass. The fractional pass walks the documents in a seeded order
(a hash of seed, source, pass number and document id) and takes each one that still fits in the
tokens left to reach the target (and then the smallest document left, if overshooting by it
is closer): first fit by tokens rather than a fraction of documents, so a source lands within
half the smallest untaken document of its target and the realized shares match the plan. The order
comes from hashes of ids alone, so the sample does not depend on task count or file order.
Only whole documents are taken; every repeat is counted.

Shuffle: each sampled (document, repeat) goes to one of B buckets by a seeded hash, written as
Parquet (atomically); a bucket is then read alone and sorted by a seeded key, and the buckets
are read in order. Memory holds one bucket, whatever the size of the run.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xxhash

from curation.io import PARQUET_OPTIONS
from curation.mixture.plan import Plan, split_source

BUCKET_BYTES = 256 << 20  # ids are int32: one bucket holds ~64M tokens, what a worker sorts in memory
BUFFER_ROWS = 1024  # rows buffered per bucket before a write: bounded memory, not-too-small row groups


def seeded_hash(seed: int, tag: str, source: str, doc_id: str, n: int) -> int:
    return xxhash.xxh3_64_intdigest(f"{seed}\x1f{tag}\x1f{source}\x1f{n}\x1f{doc_id}".encode())


@dataclass
class SourceSample:
    source: str
    target_tokens: int
    full_passes: int
    chosen: np.ndarray  # sorted uint64 hashes of the documents in the fractional pass
    tokens: int  # sampled tokens (ids + EOS), repeats included
    documents: int  # sampled documents, repeats included
    languages: LanguageFilter | None = None  # a sub-source `{source}:{lang}` takes only its rows

    def copies(self, hashes: np.ndarray, langs: list | None = None) -> np.ndarray:
        """How many times each document (by its fractional-pass hash) is taken; 0 for rows of
        other languages when this is a language sub-source."""
        extra = np.zeros(len(hashes), dtype=np.int64)
        if len(self.chosen):
            at = np.searchsorted(self.chosen, hashes).clip(max=len(self.chosen) - 1)
            extra = (self.chosen[at] == hashes).astype(np.int64)
        copies = self.full_passes + extra
        if self.languages is not None:
            copies = np.where(self.languages.mask(langs), copies, 0)
        return copies


@dataclass
class LanguageFilter:
    """The rows of a sub-source: `lang` itself, or for '*' every language not listed."""

    lang: str
    listed: tuple[str, ...]

    def mask(self, langs: list) -> np.ndarray:
        values = np.array([x if x is not None else "" for x in langs], dtype=object)
        if self.lang == "*":
            return ~np.isin(values, list(self.listed))
        return values == self.lang


def source_files(tokens_dir: str | Path, source: str) -> list[Path]:
    source = split_source(source)[0]  # a language sub-source reads its source's files
    files = sorted((Path(tokens_dir) / source).glob("*.parquet"))
    if not files:
        raise FileNotFoundError(f"{Path(tokens_dir) / source}: no token files for source {source!r}")
    return files


def _hashes_and_tokens(files: list[Path], seed: int, source: str, n: int,
                       languages: LanguageFilter | None = None) -> tuple[np.ndarray, np.ndarray]:
    import pyarrow.parquet as pq

    hashes, tokens = [], []
    for path in files:
        table = pq.read_table(path, columns=["id", "n_tokens"] + (["lang"] if languages else []))
        ids, n_tokens = table.column("id").to_pylist(), table.column("n_tokens").to_numpy() + 1  # + EOS
        if languages is not None:
            keep = languages.mask(table.column("lang").to_pylist())
            ids, n_tokens = [i for i, k in zip(ids, keep) if k], n_tokens[keep]
        hashes.extend(seeded_hash(seed, "sample", source, i, n) for i in ids)
        tokens.append(n_tokens)
    return np.array(hashes, dtype=np.uint64), np.concatenate(tokens).astype(np.int64)


def sample_source(tokens_dir: str | Path, source: str, *, target_tokens: int, available_tokens: int,
                  seed: int, languages: LanguageFilter | None = None) -> SourceSample:
    files = source_files(tokens_dir, source)
    full = target_tokens // available_tokens
    rest = target_tokens - full * available_tokens
    hashes, tokens = _hashes_and_tokens(files, seed, source, full, languages)
    if int(tokens.sum()) != available_tokens:
        raise ValueError(f"{Path(tokens_dir) / source}: holds {int(tokens.sum())} tokens, the plan says "
                         f"{available_tokens}: re-run `curate plan` on these tokens")
    chosen = np.empty(0, dtype=np.uint64)
    taken = 0
    if rest:
        order = np.argsort(hashes, kind="stable")
        cum = np.cumsum(tokens[order])
        k = int(np.searchsorted(cum, rest, side="right"))  # the longest prefix that fits
        picked = list(order[:k])
        taken = int(cum[k - 1]) if k else 0
        smallest = int(tokens.min())
        # First fit over the rest of the seeded order: close the gap with the documents that still fit.
        for i in order[k:]:
            if rest - taken < smallest:
                break
            if taken + tokens[i] <= rest:
                picked.append(i)
                taken += int(tokens[i])
        # Then one more document if overshooting by it is closer to the target than the gap left.
        left = np.ones(len(tokens), dtype=bool)
        left[np.array(picked, dtype=np.int64)] = False
        if left.any():
            i = int(np.flatnonzero(left)[np.argmin(tokens[left])])
            if taken + tokens[i] - rest < rest - taken:
                picked.append(i)
                taken += int(tokens[i])
        chosen = np.sort(hashes[np.array(picked, dtype=np.int64)])
    return SourceSample(source=source, target_tokens=target_tokens, full_passes=full, chosen=chosen,
                        tokens=full * available_tokens + taken, documents=full * len(hashes) + len(chosen),
                        languages=languages)


def language_filters(plan: Plan) -> dict[str, LanguageFilter]:
    """sub-source -> its rows, for the sources the plan splits by language."""
    listed: dict[str, list[str]] = {}
    for s in plan.sources:
        base, lang = split_source(s.source)
        if lang is not None:
            listed.setdefault(base, []).append(lang)
    return {f"{base}:{lang}": LanguageFilter(lang, tuple(x for x in langs if x != "*"))
            for base, langs in listed.items() for lang in langs}


def sample_plan(plan: Plan, tokens_dir: str | Path) -> list[SourceSample]:
    if not plan.ok:
        raise ValueError(f"plan {plan.mixture!r} has errors: " + "; ".join(plan.errors))
    filters = language_filters(plan)
    return [sample_source(tokens_dir, s.source, target_tokens=s.target_tokens, available_tokens=s.available_tokens,
                          seed=plan.seed, languages=filters.get(s.source))
            for s in sorted(plan.sources, key=lambda s: s.source) if s.target_tokens > 0]


def default_buckets(total_tokens: int) -> int:
    return max(1, math.ceil(total_tokens * 4 / BUCKET_BYTES))


def bucket_schema():
    import pyarrow as pa

    return pa.schema([("key", pa.uint64()), ("source", pa.string()), ("id", pa.string()), ("repeat", pa.int32()),
                      ("fim", pa.string()), ("cuts", pa.list_(pa.int32())), ("input_ids", pa.list_(pa.int32())),
                      ("loss_mask", pa.list_(pa.int8()))])


def write_buckets(samples: list[SourceSample], tokens_dir: str | Path, bucket_dir: str | Path, *, seed: int,
                  buckets: int) -> list[Path]:
    """Every sampled (document, repeat) into bucket files `{b:05d}.parquet`, each with a sort key."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    bucket_dir = Path(bucket_dir)
    bucket_dir.mkdir(parents=True, exist_ok=True)
    finals = [bucket_dir / f"{b:05d}.parquet" for b in range(buckets)]
    tmps = [p.with_name(p.name + ".tmp") for p in finals]
    schema = bucket_schema()
    writers = [pq.ParquetWriter(t, schema, **PARQUET_OPTIONS) for t in tmps]
    pending: list[list[pa.Table]] = [[] for _ in range(buckets)]
    pending_rows = [0] * buckets

    def flush(b: int) -> None:
        if pending[b]:
            writers[b].write_table(pa.concat_tables(pending[b]))
            pending[b], pending_rows[b] = [], 0

    try:
        for sample in samples:
            for path in source_files(tokens_dir, sample.source):
                parquet = pq.ParquetFile(path)
                has_mask = "loss_mask" in parquet.schema_arrow.names  # token files of older runs have none
                columns = ["id", "lang", "fim", "cuts", "input_ids"] + (["loss_mask"] if has_mask else [])
                for batch in parquet.iter_batches(batch_size=BUFFER_ROWS, columns=columns):
                    masks = batch.column("loss_mask") if has_mask else pa.nulls(batch.num_rows, pa.list_(pa.int8()))
                    ids = batch.column("id").to_pylist()
                    langs = batch.column("lang").to_pylist()
                    hashes = np.array([seeded_hash(seed, "sample", sample.source, i, sample.full_passes) for i in ids],
                                      dtype=np.uint64)
                    rows, repeats, keys, bucket_of = [], [], [], []
                    for row, (doc_id, n) in enumerate(zip(ids, sample.copies(hashes, langs))):
                        for r in range(int(n)):
                            rows.append(row)
                            repeats.append(r)
                            keys.append(seeded_hash(seed, "order", sample.source, doc_id, r))
                            bucket_of.append(seeded_hash(seed, "bucket", sample.source, doc_id, r) % buckets)
                    if not rows:
                        continue
                    rows_a, bucket_a = np.array(rows), np.array(bucket_of)
                    keys_a, repeats_a = np.array(keys, dtype=np.uint64), np.array(repeats, dtype=np.int32)
                    for b in np.unique(bucket_a):
                        sel = np.flatnonzero(bucket_a == b)
                        take = pa.array(rows_a[sel])
                        pending[b].append(pa.Table.from_arrays([
                            pa.array(keys_a[sel]), pa.array([sample.source] * len(sel)),
                            batch.column("id").take(take), pa.array(repeats_a[sel]),
                            batch.column("fim").take(take), batch.column("cuts").take(take),
                            batch.column("input_ids").take(take), masks.take(take)], schema=schema))
                        pending_rows[b] += len(sel)
                        if pending_rows[b] >= BUFFER_ROWS:
                            flush(b)
        for b in range(buckets):
            flush(b)
            writers[b].close()
    except BaseException:
        for w, t in zip(writers, tmps):
            w.close()
            t.unlink(missing_ok=True)
        raise
    for t, f in zip(tmps, finals):
        os.replace(t, f)
    return finals


def read_buckets(bucket_files: list[Path]) -> Iterator[tuple[str, str, np.ndarray, str, list[int] | None,
                                                            np.ndarray | None]]:
    """(doc_id, source, ids, fim tag, cut offsets, loss mask or None) in shuffled order: bucket after bucket, each sorted by its seeded key
    (ties, which a 64-bit hash makes rare, by source, id and repeat: still deterministic)."""
    import pyarrow.parquet as pq

    for path in bucket_files:
        table = pq.read_table(path).sort_by([("key", "ascending"), ("source", "ascending"), ("id", "ascending"),
                                             ("repeat", "ascending")])
        ids_col = table.column("input_ids")
        fims, cuts = table.column("fim").to_pylist(), table.column("cuts").to_pylist()
        masks = table.column("loss_mask")
        for i, (doc_id, source) in enumerate(zip(table.column("id").to_pylist(), table.column("source").to_pylist())):
            mask = masks[i].values.to_numpy(zero_copy_only=False) if masks[i].is_valid else None
            yield doc_id, source, ids_col[i].values.to_numpy(zero_copy_only=False), fims[i] or "", cuts[i], mask
        del table, ids_col, masks
