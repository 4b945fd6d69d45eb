"""Deterministic sampling per the plan, then a global shuffle that never holds the run in memory.

Sampling, per source, with epochs e = target / available: floor(e) full passes over every
document, plus a fractional pass. The fractional pass walks the documents in a seeded order
(a hash of seed, source, pass number and document id) and takes each one that still fits in the
tokens left to reach the target (and then the smallest document left, if overshooting by it
is closer): first fit by tokens rather than a fraction of documents, so a source lands within
half the smallest untaken document of its target and the realized shares match the plan. The order
comes from hashes of ids alone, so the sample does not depend on task count or file order.
Only whole documents are taken; every repeat is counted.

Shuffle: each sampled (document, repeat) goes to one of B buckets by a seeded hash. A scatter
task takes a fixed share of the (source, token file) pairs and writes its rows of every bucket to
`buckets/{b:05d}/{task:05d}.parquet` (atomically). A bucket is then read alone, as the union of
its parts, in the order of a seeded key with a total tie-break, so its order does not depend on
which task scattered which row (curation.mixture.mix packs each bucket into its own shards).
Memory holds one bucket, whatever the size of the run.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xxhash

from curation.mixture.plan import Plan, split_source

BUCKET_BYTES = 256 << 20  # ids are int32: one bucket holds ~64M tokens, what a worker sorts in memory
BUFFER_ROWS = 1024  # rows buffered per bucket before a write: bounded memory, not-too-small row groups
# Default bucket count: at least this many rows of seq_len per bucket, so the padded rows that close
# each bucket (a few of its last best-fit window) stay far below 1% of it; at most MIN_BUCKETS when
# that many fit, so a run of a few GB of tokens is already packed by several tasks.
MIN_BUCKET_ROWS = 1024
MIN_BUCKETS = 16
# Buckets are scratch files written once and read once: LZ4 without dictionaries costs a fraction
# of zstd's CPU (the shards keep their own fixed options; their bytes do not depend on this).
BUCKET_PARQUET_OPTIONS = dict(compression="lz4", use_dictionary=False, write_statistics=False)
SORT_KEYS = [("key", "ascending"), ("source", "ascending"), ("id", "ascending"), ("repeat", "ascending")]


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


def default_buckets(total_tokens: int, seq_len: int) -> int:
    """Enough buckets that one fits in memory (BUCKET_BYTES of ids), and up to MIN_BUCKETS while each
    still holds MIN_BUCKET_ROWS rows: e.g. 40M tokens at 8K -> 4 buckets; 3T tokens -> ~45,000."""
    by_memory = math.ceil(total_tokens * 4 / BUCKET_BYTES)
    by_rows = min(MIN_BUCKETS, total_tokens // (MIN_BUCKET_ROWS * seq_len))
    return max(1, by_memory, by_rows)


def write_samples(samples: list[SourceSample], path: str | Path) -> None:
    """The sample of every source (its chosen hashes included), for the scatter tasks to read."""
    import pyarrow as pa

    from curation.io import write_table_atomic

    table = pa.table({
        "source": [s.source for s in samples], "target_tokens": [s.target_tokens for s in samples],
        "full_passes": [s.full_passes for s in samples], "tokens": [s.tokens for s in samples],
        "documents": [s.documents for s in samples],
        "chosen": pa.array([s.chosen for s in samples], pa.list_(pa.uint64()))})
    write_table_atomic(table, path)


def read_samples(path: str | Path, plan: Plan) -> list[SourceSample]:
    import pyarrow.parquet as pq

    filters = language_filters(plan)
    rows = pq.read_table(path).to_pylist()
    return [SourceSample(source=r["source"], target_tokens=r["target_tokens"], full_passes=r["full_passes"],
                         chosen=np.array(r["chosen"], dtype=np.uint64), tokens=r["tokens"], documents=r["documents"],
                         languages=filters.get(r["source"])) for r in rows]


def bucket_schema():
    import pyarrow as pa

    return pa.schema([("key", pa.uint64()), ("source", pa.string()), ("id", pa.string()), ("repeat", pa.int32()),
                      ("fim", pa.string()), ("cuts", pa.list_(pa.int32())), ("input_ids", pa.list_(pa.int32())),
                      ("loss_mask", pa.list_(pa.int8()))])


def scatter_units(samples: list[SourceSample], tokens_dir: str | Path) -> list[tuple[SourceSample, Path]]:
    """Every (sample, token file) pair, in a fixed order: scatter task t takes pairs t, t + T, ..."""
    return [(sample, path) for sample in samples for path in source_files(tokens_dir, sample.source)]


def bucket_part(bucket_dir: str | Path, bucket: int, task: int) -> Path:
    return Path(bucket_dir) / f"{bucket:05d}" / f"{task:05d}.parquet"


def write_buckets(samples: list[SourceSample], tokens_dir: str | Path, bucket_dir: str | Path, *, seed: int,
                  buckets: int, task: int = 0, tasks: int = 1) -> list[Path]:
    """This task's sampled (document, repeat) rows of every bucket, each with its sort key, into
    `{b:05d}/{task:05d}.parquet` (one file per bucket, empty ones too: a bucket has one part per task)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    finals = [bucket_part(bucket_dir, b, task) for b in range(buckets)]
    tmps = [p.with_name(p.name + ".tmp") for p in finals]
    for p in finals:
        p.parent.mkdir(parents=True, exist_ok=True)
    schema = bucket_schema()
    writers = [pq.ParquetWriter(t, schema, **BUCKET_PARQUET_OPTIONS) for t in tmps]
    pending: list[list[pa.Table]] = [[] for _ in range(buckets)]
    pending_rows = [0] * buckets

    def flush(b: int) -> None:
        if pending[b]:
            writers[b].write_table(pa.concat_tables(pending[b]))
            pending[b], pending_rows[b] = [], 0

    try:
        for sample, path in scatter_units(samples, tokens_dir)[task::tasks]:
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


def read_bucket(bucket_dir: str | Path, bucket: int, tasks: int) -> Iterator[tuple[str, str, np.ndarray, str,
                                                                                   list[int] | None, np.ndarray | None]]:
    """(doc_id, source, ids, fim tag, cut offsets, loss mask or None) of one bucket in shuffled order:
    the union of its parts of all `tasks` scatter tasks, sorted by the seeded key, ties (which a 64-bit
    hash makes rare) by source, id and repeat: a total order, so neither the task count nor which task
    wrote a row changes it. Rows are read in place by sorted index, never copied into a sorted table."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    parts = [bucket_part(bucket_dir, bucket, t) for t in range(tasks)]
    missing = [str(p) for p in parts if not p.exists()]
    if missing:
        raise FileNotFoundError(f"bucket {bucket}: part(s) {missing} missing: the scatter run did not finish")
    table = pa.concat_tables([pq.read_table(p) for p in parts])
    if not table.num_rows:
        return
    order = pc.sort_indices(table.select(["key", "source", "id", "repeat"]), sort_keys=SORT_KEYS).to_numpy()
    ids_col = table.column("input_ids").combine_chunks()
    offsets, values = ids_col.offsets.to_numpy(), ids_col.values.to_numpy(zero_copy_only=False)
    masks = table.column("loss_mask").combine_chunks()
    fims, cuts = table.column("fim").to_pylist(), table.column("cuts").to_pylist()
    doc_ids, sources = table.column("id").to_pylist(), table.column("source").to_pylist()
    del table
    for i in order.tolist():
        mask = masks[i].values.to_numpy(zero_copy_only=False) if masks[i].is_valid else None
        yield doc_ids[i], sources[i], values[offsets[i]:offsets[i + 1]], fims[i] or "", cuts[i], mask
