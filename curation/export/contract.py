"""Read a run's shards and token files for export, checking the shard contract on the way.

An exporter writes what it reads here and nothing else, so a shard that breaks the contract (a
row of the wrong length, cu_seqlens that do not cover the row, a loss mask on padding, a document
that never reaches its EOS, a file whose hash is not the one index.json recorded, totals that do
not add up) stops the export with an `ExportError` naming the file and row, before a trainer
ever sees it. Token files are checked against plan.json: the documents and tokens per source are
the ones the plan was made from.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from curation.mixture.plan import Plan, split_source
from curation.mixture.sample import LanguageFilter, language_filters, source_files
from curation.mixture.shards import INDEX_FILE

HASH_CHUNK = 8 << 20


class ExportError(ValueError):
    """The input breaks the shard contract (or the plan): nothing is exported from it."""


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(HASH_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def read_index(shards_dir: Path) -> dict[str, Any]:
    path = Path(shards_dir) / INDEX_FILE
    if not path.is_file():
        raise ExportError(f"{shards_dir}: no {INDEX_FILE}; is this the shards folder of a finished `curate run`?")
    return json.loads(path.read_text(encoding="utf-8"))


def read_plan(out: Path) -> Plan:
    path = Path(out) / "plan.json"
    if not path.is_file():
        raise ExportError(f"{out}: no plan.json; the per-source export needs the mixture plan of the run")
    return Plan.from_json(json.loads(path.read_text(encoding="utf-8")))


@dataclass
class ShardRow:
    sample: int  # global sample index: the row's position over the shards in index.json order
    input_ids: np.ndarray  # int32 [seq_len]
    loss_mask: np.ndarray  # int8 [seq_len]
    cu_seqlens: np.ndarray  # int32, 0 .. seq_len
    doc_ids: list[str]
    sources: list[str]


class ShardReader:
    """Rows of OUT/shards in index.json order, each checked against the contract.

    Iterate once; after the last row the totals are compared with index.json (rows, tokens per
    source, padding, documents), so a reader that got through the loop read a consistent set.
    """

    def __init__(self, shards_dir: Path) -> None:
        self.shards_dir = Path(shards_dir)
        self.index = read_index(self.shards_dir)
        self.seq_len = int(self.index["seq_len"])
        tok = self.index["tokenizer"]
        self.eos_id, self.pad_id, self.vocab_size = int(tok["eos_id"]), int(tok["pad_id"]), int(tok["vocab_size"])

    @property
    def rows(self) -> int:
        return int(self.index["totals"]["rows"])

    def fingerprint(self) -> dict[str, Any]:
        """What the export's outputs depend on: the shard files, by their recorded hashes."""
        return {"seq_len": self.seq_len, "shards": [[s["file"], s["sha256"]] for s in self.index["shards"]]}

    def __iter__(self) -> Iterator[ShardRow]:
        import pyarrow.parquet as pq

        realized: dict[str, int] = {}
        padding = documents = sample = 0
        pending: tuple[str, str] | None = None  # (doc_id, where) of a document continued in the next row
        for shard in self.index["shards"]:
            path = self.shards_dir / shard["file"]
            if not path.is_file():
                raise ExportError(f"{path}: listed in {INDEX_FILE} but missing")
            if (sha := file_sha256(path)) != shard["sha256"]:
                raise ExportError(f"{path}: sha256 {sha[:12]}... is not the {shard['sha256'][:12]}... that "
                                  f"{INDEX_FILE} recorded; the shard changed after the run")
            rows_in_shard = 0
            columns = ["input_ids", "loss_mask", "cu_seqlens", "doc_ids", "sources"]
            for batch in pq.ParquetFile(path).iter_batches(columns=columns):
                ids_col, mask_col = batch.column("input_ids"), batch.column("loss_mask")
                n = batch.num_rows
                lengths = np.diff(ids_col.offsets.to_numpy()), np.diff(mask_col.offsets.to_numpy())
                for name, lens in zip(("input_ids", "loss_mask"), lengths):
                    if (bad := np.flatnonzero(lens != self.seq_len)).size:
                        raise ExportError(f"{path} row {rows_in_shard + int(bad[0])}: {name} has "
                                          f"{int(lens[bad[0]])} tokens, not seq_len {self.seq_len}")
                ids = ids_col.values.to_numpy(zero_copy_only=False).reshape(n, self.seq_len)
                masks = mask_col.values.to_numpy(zero_copy_only=False).reshape(n, self.seq_len)
                for k, (cu, doc_ids, sources) in enumerate(zip(batch.column("cu_seqlens").to_pylist(),
                                                               batch.column("doc_ids").to_pylist(),
                                                               batch.column("sources").to_pylist())):
                    where = f"{path} row {rows_in_shard + k}"
                    row = ShardRow(sample, ids[k], masks[k], np.asarray(cu, dtype=np.int32), doc_ids, sources)
                    pending = self._check(row, where, pending)
                    for i, (doc_id, source) in enumerate(zip(doc_ids, sources)):
                        length = cu[i + 1] - cu[i]
                        if doc_id:
                            realized[source] = realized.get(source, 0) + length
                            documents += int(row.input_ids[cu[i + 1] - 1] == self.eos_id)
                        else:
                            padding += length
                    sample += 1
                    yield row
                rows_in_shard += n
            if rows_in_shard != shard["rows"]:
                raise ExportError(f"{path}: {rows_in_shard} rows, {INDEX_FILE} says {shard['rows']}")
        if pending:
            raise ExportError(f"{pending[1]}: document {pending[0]!r} never reaches its EOS")
        self._check_totals(sample, realized, padding, documents)

    def _check(self, row: ShardRow, where: str, pending: tuple[str, str] | None) -> tuple[str, str] | None:
        cu, L = row.cu_seqlens, self.seq_len
        if len(cu) < 2 or cu[0] != 0 or cu[-1] != L or np.any(np.diff(cu) <= 0):
            raise ExportError(f"{where}: cu_seqlens must rise strictly from 0 to {L}, got {cu.tolist()[:6]}...")
        if not len(cu) == len(row.doc_ids) + 1 == len(row.sources) + 1:
            raise ExportError(f"{where}: {len(cu)} cu_seqlens for {len(row.doc_ids)} doc_ids, "
                              f"{len(row.sources)} sources: need one boundary more than segments")
        if row.input_ids.min() < 0 or row.input_ids.max() >= self.vocab_size:
            raise ExportError(f"{where}: token ids outside the vocabulary [0, {self.vocab_size})")
        if "" in row.doc_ids[:-1]:
            raise ExportError(f"{where}: padding (doc_id '') before the last segment")
        if row.doc_ids[-1] == "":
            pad = slice(int(cu[-2]), L)
            if np.any(row.input_ids[pad] != self.pad_id) or row.loss_mask[pad].any():
                raise ExportError(f"{where}: the padding segment must be pad id {self.pad_id} with loss mask 0")
        if pending is not None and row.doc_ids[0] != pending[0]:
            raise ExportError(f"{pending[1]}: document {pending[0]!r} has no EOS and {where} does not continue it")
        real = len(row.doc_ids) - (row.doc_ids[-1] == "")
        for i in range(real):
            if row.input_ids[cu[i + 1] - 1] != self.eos_id:
                # Only a document split across rows may stop without its EOS: at the end of a full row,
                # continued first thing in the next row.
                if i != len(row.doc_ids) - 1:
                    raise ExportError(f"{where}: segment {i} ({row.doc_ids[i]!r}) does not end with EOS "
                                      f"{self.eos_id} and is not the row's last segment")
                return row.doc_ids[i], where
        return None

    def _check_totals(self, rows: int, realized: dict[str, int], padding: int, documents: int) -> None:
        totals = self.index["totals"]
        want = {"rows": totals["rows"], "padding": totals["padding"], "documents": totals["documents"],
                "tokens per source": dict(sorted(self.index["realized"].items()))}
        got = {"rows": rows, "padding": padding, "documents": documents, "tokens per source": dict(sorted(realized.items()))}
        for key in want:
            if want[key] != got[key]:
                raise ExportError(f"{self.shards_dir}: {key} in the shards is {got[key]}, {INDEX_FILE} says {want[key]}")


@dataclass
class SourceDocument:
    doc_id: str
    ids: np.ndarray  # int32, without the EOS the trainer's copy ends with
    loss_mask: np.ndarray | None  # int8 per id, when the token files carry one (conversations)


def source_fingerprint(tokens_dir: Path, source: str) -> list[list[Any]]:
    """The token files a source is read from, by name and size (hashing terabytes of tokens to
    decide whether to skip an export would cost more than the export)."""
    return [[p.name, p.stat().st_size] for p in source_files(tokens_dir, source)]


def iter_source_documents(tokens_dir: Path, source: str, *, plan: Plan, vocab_size: int) -> Iterator[SourceDocument]:
    """Every document of one plan source (a language sub-source takes its rows of the base
    source's files), in file order; after the last, the count is checked against the plan."""
    import pyarrow.parquet as pq

    spec = plan.source(source)
    languages: LanguageFilter | None = language_filters(plan).get(source)
    documents = tokens = 0
    for path in source_files(tokens_dir, source):
        pf = pq.ParquetFile(path)
        names = set(pf.schema_arrow.names)
        columns = ["id", "n_tokens", "input_ids"] + [c for c in ("lang", "loss_mask") if c in names]
        for batch in pf.iter_batches(columns=columns):
            ids_col = batch.column("input_ids")
            offsets = ids_col.offsets.to_numpy()
            flat = ids_col.values.to_numpy(zero_copy_only=False)
            n_tokens = batch.column("n_tokens").to_numpy()
            if (bad := np.flatnonzero(np.diff(offsets) != n_tokens)).size:
                raise ExportError(f"{path}: document {batch.column('id')[int(bad[0])]} has "
                                  f"{int(np.diff(offsets)[bad[0]])} ids, its n_tokens says {int(n_tokens[bad[0]])}")
            if flat.size and (flat.min() < 0 or flat.max() >= vocab_size):
                raise ExportError(f"{path}: token ids outside the vocabulary [0, {vocab_size})")
            keep = languages.mask(batch.column("lang").to_pylist()) if languages else np.ones(batch.num_rows, bool)
            masks = batch.column("loss_mask") if "loss_mask" in columns else None
            for k, doc_id in enumerate(batch.column("id").to_pylist()):
                if not keep[k]:
                    continue
                ids = flat[offsets[k] : offsets[k + 1]]
                mask = None
                if masks is not None and masks[k].is_valid:  # null: a plain document, all ones
                    mask = np.asarray(masks[k].as_py(), dtype=np.int8)
                    if mask.size != ids.size:
                        raise ExportError(f"{path}: document {doc_id!r} has {ids.size} ids and {mask.size} loss-mask values")
                documents += 1
                tokens += ids.size + 1
                yield SourceDocument(doc_id, ids.astype(np.int32, copy=False), mask)
    if (documents, tokens) != (spec.available_documents, spec.available_tokens):
        raise ExportError(f"{tokens_dir}/{split_source(source)[0]}: source {source!r} holds {documents} documents, "
                          f"{tokens} tokens (ids + EOS); plan.json says {spec.available_documents}, "
                          f"{spec.available_tokens}: the tokens changed after the plan")
