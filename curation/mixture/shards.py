"""Write packed rows as Parquet shards plus index.json, and read documents back out of them.

Shards are `part-00000.parquet`, ... in the shards folder (OUT/shards), each written to a
`.tmp` name and renamed, so a reader never sees half a file. A pipeline packs in units (a shuffle
bucket, a token file), each by one task into its own shards `part-UUUUU-NNNNN.parquet`; the units'
fragments (shards, realized tokens, totals) are merged into one index.json in unit order
(`merge_fragments`, `write_index`), so the shards do not depend on how many tasks packed them. The bytes are deterministic (fixed
zstd level, fixed row-group size, no timestamps in Parquet or index.json): two runs over the same
input give byte-identical files, and index.json records every file's sha256.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import numpy as np

from curation.io import atomic_path
from curation.pack.packer import PackedRow

if TYPE_CHECKING:
    from curation.tokenize.tokenizer import Tokenizer

SHARD_PATTERN = "part-{:05d}.parquet"
UNIT_SHARD_PATTERN = "part-{:05d}-{:05d}.parquet"  # unit (bucket or token file), then shard within it
INDEX_FILE = "index.json"
ZSTD_LEVEL = 3  # fixed: the level is part of the bytes, and 3 is zstd's own default
# Row groups are the trainer's unit of reading; ~32 MiB of token data per group whatever seq_len.
ROW_GROUP_BYTES = 32 << 20
BYTES_PER_TOKEN = 5  # int32 input_ids + int8 loss_mask
COMPUTED_KEYS = ("seq_len", "tokenizer", "realized", "totals", "shards")


def parquet_schema():
    import pyarrow as pa

    return pa.schema([
        ("input_ids", pa.list_(pa.int32())),
        ("cu_seqlens", pa.list_(pa.int32())),
        ("loss_mask", pa.list_(pa.int8())),
        ("doc_ids", pa.list_(pa.string())),
        ("sources", pa.list_(pa.string())),
        ("fim", pa.list_(pa.string())),
    ])


class ShardWriter:
    """Collects rows into shards of `rows_per_shard`; `finish()` writes the tail and index.json.

    Use it as a context manager: a block that raises before `finish()` removes the shards this
    writer wrote, so a folder never holds part-*.parquet without the index.json that describes them.

    `out_dir` is the shards folder itself. It must not hold shards of an earlier run unless
    `overwrite=True`, which deletes them first: a stale part-00007 would otherwise be picked up
    by `shards/*.parquet`. With `unit`, the writer names its shards `part-{unit:05d}-NNNNN`, clears
    only that unit's, and `finish()` returns the unit's fragment instead of writing index.json.
    """

    def __init__(
        self,
        out_dir: Path,
        *,
        seq_len: int,
        rows_per_shard: int,
        tokenizer: Tokenizer,
        extra_index: dict[str, Any],
        overwrite: bool = False,
        unit: int | None = None,
    ) -> None:
        if seq_len < 2 or rows_per_shard < 1:
            raise ValueError(f"need seq_len >= 2 and rows_per_shard >= 1, got {seq_len}, {rows_per_shard}")
        if seq_len * rows_per_shard >= 2**31:
            # list<int32> uses 32-bit offsets: one shard holds fewer than 2**31 tokens.
            raise ValueError(
                f"rows_per_shard * seq_len = {rows_per_shard * seq_len} must be < 2**31; lower rows_per_shard"
            )
        clash = sorted(set(COMPUTED_KEYS) & set(extra_index))
        if clash:
            raise ValueError(f"extra_index may not set {clash}: the writer computes them")
        self.out_dir = Path(out_dir)
        self.seq_len = seq_len
        self.rows_per_shard = rows_per_shard
        self.tokenizer = tokenizer
        self.extra_index = dict(extra_index)
        self.unit = unit
        self.row_group_rows = max(1, ROW_GROUP_BYTES // (seq_len * BYTES_PER_TOKEN))
        self._prepare_dir(overwrite)
        self._rows: list[PackedRow] = []
        self._shards: list[dict[str, Any]] = []
        self._realized: dict[str, int] = {}
        self.tokens_out = 0
        self.padding = 0
        self.rows = 0
        self.documents = 0  # segments that end a document (end with EOS)
        self.finished = False

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is not None or not self.finished:
            for shard in self._shards:
                (self.out_dir / shard["file"]).unlink(missing_ok=True)
            if exc_type is None:
                raise RuntimeError(f"{self.out_dir}: the shard writer was closed without finish(); shards removed")
        return False

    def _prepare_dir(self, overwrite: bool) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        if self.unit is None:
            old = sorted(self.out_dir.glob("part-*.parquet*")) + sorted(self.out_dir.glob(INDEX_FILE + "*"))
        else:
            old = sorted(self.out_dir.glob(f"part-{self.unit:05d}-*.parquet*"))
        if old and not overwrite:
            raise FileExistsError(
                f"{self.out_dir}: already holds shards ({old[0].name}, ...); pass overwrite=True to replace them"
            )
        for path in old:
            path.unlink()

    def write(self, row: PackedRow) -> None:
        self._check(row)
        cu = row.cu_seqlens
        for i, (doc_id, source) in enumerate(zip(row.doc_ids, row.sources)):
            if doc_id:
                n = cu[i + 1] - cu[i]
                self._realized[source] = self._realized.get(source, 0) + n
                self.tokens_out += n
                if row.input_ids[cu[i + 1] - 1] == self.tokenizer.eos_id:
                    self.documents += 1
            else:
                self.padding += cu[i + 1] - cu[i]
        self.rows += 1
        self._rows.append(row)
        if len(self._rows) == self.rows_per_shard:
            self._flush()

    def _check(self, row: PackedRow) -> None:
        """The shard contract, enforced where rows become files."""
        cu, n = row.cu_seqlens, self.seq_len
        problems = []
        if len(row.input_ids) != n or len(row.loss_mask) != n:
            problems.append(f"input_ids/loss_mask have {len(row.input_ids)}/{len(row.loss_mask)} tokens, not {n}")
        if not cu or cu[0] != 0 or cu[-1] != n or any(b <= a for a, b in zip(cu, cu[1:])):
            problems.append(f"cu_seqlens must rise strictly from 0 to {n}: {cu[:5]}...{cu[-3:]}")
        if not len(cu) == len(row.doc_ids) + 1 == len(row.sources) + 1 == len(row.fim) + 1:
            problems.append("cu_seqlens must have one entry more than doc_ids, sources and fim")
        if "" in row.doc_ids[:-1]:
            problems.append("padding (doc_id '') may only be the last segment")
        if not problems:
            # Real tokens may be masked too (e.g. tool observations); padding never is trained on.
            real = cu[-2] if row.doc_ids[-1] == "" else n
            if np.asarray(row.loss_mask)[real:].any():
                problems.append("loss_mask must be 0 on padding")
        if problems:
            raise ValueError(f"row {self.rows} breaks the shard contract: " + "; ".join(problems))

    def _flush(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        rows, self._rows = self._rows, []
        n = len(rows)
        fixed_offsets = pa.array(np.arange(n + 1, dtype=np.int32) * self.seq_len)

        def fixed(column: list[np.ndarray], dtype) -> pa.Array:
            return pa.ListArray.from_arrays(fixed_offsets, pa.array(np.concatenate(column).astype(dtype, copy=False)))

        table = pa.Table.from_arrays(
            [
                fixed([r.input_ids for r in rows], np.int32),
                pa.array([r.cu_seqlens for r in rows], pa.list_(pa.int32())),
                fixed([np.asarray(r.loss_mask) for r in rows], np.int8),
                pa.array([r.doc_ids for r in rows], pa.list_(pa.string())),
                pa.array([r.sources for r in rows], pa.list_(pa.string())),
                pa.array([r.fim for r in rows], pa.list_(pa.string())),
            ],
            schema=parquet_schema(),
        )
        k = len(self._shards)
        name = SHARD_PATTERN.format(k) if self.unit is None else UNIT_SHARD_PATTERN.format(self.unit, k)
        final = self.out_dir / name
        with atomic_path(final) as tmp:
            pq.write_table(table, tmp, compression="zstd", compression_level=ZSTD_LEVEL,
                           row_group_size=self.row_group_rows)
            sha = hashlib.sha256(tmp.read_bytes()).hexdigest()
        tokens = sum(r.cu_seqlens[-2] if r.doc_ids[-1] == "" else self.seq_len for r in rows)
        self._shards.append({"file": name, "rows": n, "tokens": tokens, "sha256": sha})

    def finish(self, *, tokens_in: int | None = None, documents: int | None = None) -> dict[str, Any]:
        """Flush the tail shard; write index.json and return it (a unit writer: return its fragment).

        Pass the packer's `tokens_in` and `documents` so the totals are checked against an
        independent count; without them the writer's own counts stand in.
        """
        tokens_in = self.tokens_out if tokens_in is None else tokens_in
        documents = self.documents if documents is None else documents
        if tokens_in != self.tokens_out or documents != self.documents:
            raise AssertionError(
                f"{self.out_dir}: tokens in {tokens_in} != tokens out {self.tokens_out} or documents "
                f"{documents} != {self.documents} ended in shards: tokens were lost or a row was not written"
            )
        assert self.rows * self.seq_len == self.tokens_out + self.padding
        if self._rows:
            self._flush()
        assert sum(s["tokens"] for s in self._shards) == self.tokens_out
        fragment = {
            "tokenizer": tokenizer_info(self.tokenizer),
            "realized": dict(sorted(self._realized.items())),
            "totals": {"tokens_in": tokens_in, "tokens_out": self.tokens_out, "padding": self.padding,
                       "rows": self.rows, "documents": documents},
            "shards": self._shards,
        }
        self.finished = True
        if self.unit is not None:
            return fragment
        return write_index(self.out_dir, seq_len=self.seq_len, fragments=[fragment], extra_index=self.extra_index)


def tokenizer_info(tok: Tokenizer) -> dict[str, Any]:
    return {"name": tok.name, "backend": tok.backend, "vocab_size": tok.vocab_size, "eos_id": tok.eos_id,
            "pad_id": tok.pad_id, "sha256": tok.files_sha256}


def packing_tokenizer(info: dict[str, Any]) -> SimpleNamespace:
    """What packing and index.json need of a tokenizer (ids, name, hashes), from `tokenizer_info`:
    a pack task need not load the tokenizer itself."""
    return SimpleNamespace(name=info["name"], backend=info["backend"], vocab_size=info["vocab_size"],
                           eos_id=info["eos_id"], pad_id=info["pad_id"], files_sha256=info["sha256"])


def merge_fragments(fragments: list[dict[str, Any]]) -> dict[str, Any]:
    """The fragments of every unit, in unit order, as one: shards concatenated, counts summed."""
    if not fragments:
        raise ValueError("no packed unit to index")
    tokenizers = {json.dumps(f["tokenizer"], sort_keys=True) for f in fragments}
    if len(tokenizers) != 1:
        raise ValueError(f"units were packed with different tokenizers: {sorted(tokenizers)}")
    realized: dict[str, int] = {}
    totals = dict.fromkeys(fragments[0]["totals"], 0)
    for f in fragments:
        for source, n in f["realized"].items():
            realized[source] = realized.get(source, 0) + n
        for key, n in f["totals"].items():
            totals[key] += n
    return {"tokenizer": fragments[0]["tokenizer"], "realized": dict(sorted(realized.items())), "totals": totals,
            "shards": [s for f in fragments for s in f["shards"]]}


def write_index(out_dir: Path, *, seq_len: int, fragments: list[dict[str, Any]],
                extra_index: dict[str, Any]) -> dict[str, Any]:
    """index.json over the shards of `fragments` (in that order), written atomically; returns it."""
    clash = sorted(set(COMPUTED_KEYS) & set(extra_index))
    if clash:
        raise ValueError(f"extra_index may not set {clash}: the writer computes them")
    merged = merge_fragments(fragments)
    extra = dict(extra_index)
    index = {
        "stage": extra.pop("stage", None),
        "seq_len": seq_len,
        "tokenizer": merged["tokenizer"],
        "mixture": extra.pop("mixture", {}),
        "realized": merged["realized"],
        "totals": merged["totals"],
        "shards": merged["shards"],
        **extra,
    }
    with atomic_path(Path(out_dir) / INDEX_FILE) as tmp:
        tmp.write_text(json.dumps(index, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return index


def read_shard_docs(shards_dir: Path) -> Iterator[tuple[str, str, list[int]]]:
    """Reassemble documents from shards: (doc_id, source, ids without the EOS), in packed order.

    A document ends at the segment whose last token is EOS (raw text never produces EOS), so a
    document packed twice in a row still comes out twice. A split document whose pieces do not
    follow each other, or that never reaches its EOS, is a broken shard and raises ValueError.
    """
    import pyarrow.parquet as pq

    shards_dir = Path(shards_dir)
    index_path = shards_dir / INDEX_FILE
    if not index_path.is_file():
        raise FileNotFoundError(f"{shards_dir}: no {INDEX_FILE}; it names the EOS id needed to split documents")
    index = json.loads(index_path.read_text(encoding="utf-8"))
    eos, seq_len = index["tokenizer"]["eos_id"], index["seq_len"]
    pending: tuple[str, str, list[np.ndarray]] | None = None
    for shard in index["shards"]:
        path = shards_dir / shard["file"]
        columns = ["input_ids", "cu_seqlens", "doc_ids", "sources"]
        for batch in pq.ParquetFile(path).iter_batches(columns=columns):
            tokens = batch.column("input_ids").flatten().to_numpy().reshape(-1, seq_len)
            cus = batch.column("cu_seqlens").to_pylist()
            doc_idss = batch.column("doc_ids").to_pylist()
            sourcess = batch.column("sources").to_pylist()
            for row, cu, doc_ids, sources in zip(tokens, cus, doc_idss, sourcess):
                for i, (doc_id, source) in enumerate(zip(doc_ids, sources)):
                    if not doc_id:
                        if pending:
                            raise ValueError(f"{path}: padding inside document {pending[0]!r}")
                        continue
                    if pending and pending[0] != doc_id:
                        raise ValueError(f"{path}: document {pending[0]!r} has no EOS before {doc_id!r} starts")
                    if not pending:
                        pending = (doc_id, source, [])
                    segment = row[cu[i] : cu[i + 1]]
                    pending[2].append(segment)
                    if segment[-1] == eos:
                        yield doc_id, source, np.concatenate(pending[2])[:-1].tolist()
                        pending = None
    if pending:
        raise ValueError(f"{shards_dir}: last document {pending[0]!r} never reaches its EOS")
