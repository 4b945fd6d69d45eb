"""The shard rows as MindRecord, written with MindSpore's own FileWriter, for MindFormers.

One record per shard row, in the columns MindFormers' CausalLanguageModelDataset reads from a
MindDataset (`input_columns` in its YAML):
  input_ids       int32 [seq_len + 1]: the row, then one pad id. MindFormers' causal LMs take
                  tokens = input_ids[:-1] (exactly the row) and labels = input_ids[1:], so a
                  config's `seq_length` is our seq_len.
  labels          int32 [seq_len + 1]: input_ids with -100 (MindFormers' ignore index) wherever
                  the loss mask is 0 (padding, conversation turns the model does not say) and on
                  the appended pad: the label masking its models apply after the same shift.
  loss_mask       int32 [seq_len]: the shard's mask as it is, one per token.
  position_ids    int32 [seq_len]: restarting at 0 at every segment (cu_seqlens).
  actual_seq_len  int32 [segments]: the segment ends (cu_seqlens without the leading 0): the
                  form MindFormers' compressed EOD attention mask takes.
  sample          int64 [1]: the row's global sample index, to trace a record to its shard row.

Files: TO/rows/rows.mindrecord[N] and their .db index files, written in TO/rows.tmp/ and renamed
as a folder (MindRecord's header names its sibling files, so they keep their names), with
TO/rows.done.json recording sizes, hashes and the shards they came from.
"""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from curation.export.contract import ShardReader, file_sha256
from curation.export.outputs import MARKER_SUFFIX, OutputGroup, write_json_atomic

IGNORE_INDEX = -100  # MindFormers' (and PyTorch's) label ignore index
FILE_BYTES = 1 << 30  # records per file bounded to ~1 GiB: MindRecord's readers parallelize over files
WRITE_ROWS = 256  # records handed to FileWriter at a time
SCHEMA = {
    "input_ids": {"type": "int32", "shape": [-1]},
    "labels": {"type": "int32", "shape": [-1]},
    "loss_mask": {"type": "int32", "shape": [-1]},
    "position_ids": {"type": "int32", "shape": [-1]},
    "actual_seq_len": {"type": "int32", "shape": [-1]},
    "sample": {"type": "int64", "shape": [-1]},
}


def record(row, pad_id: int) -> dict[str, np.ndarray]:
    ids = np.append(row.input_ids, np.int32(pad_id)).astype(np.int32)
    labels = ids.copy()
    labels[:-1][row.loss_mask == 0] = IGNORE_INDEX
    labels[-1] = IGNORE_INDEX
    cu = row.cu_seqlens
    positions = np.arange(cu[-1], dtype=np.int32) - np.repeat(cu[:-1], np.diff(cu)).astype(np.int32)
    return {"input_ids": ids, "labels": labels, "loss_mask": row.loss_mask.astype(np.int32),
            "position_ids": positions, "actual_seq_len": cu[1:].astype(np.int32),
            "sample": np.array([row.sample], dtype=np.int64)}


class _FolderGroup(OutputGroup):
    """An OutputGroup whose files are written in a temp folder renamed as a whole."""

    def __init__(self, marker: Path, folder: Path, names: list[str], inputs: dict[str, Any]) -> None:
        super().__init__(marker, [folder / n for n in names], inputs)
        self.folder = folder
        self.tmp_folder = folder.with_name(folder.name + ".tmp")

    def tmp(self, path: Path) -> Path:
        return self.tmp_folder / Path(path).name

    def __enter__(self) -> _FolderGroup:
        super().__enter__()
        shutil.rmtree(self.tmp_folder, ignore_errors=True)
        self.tmp_folder.mkdir(parents=True)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            shutil.rmtree(self.tmp_folder, ignore_errors=True)
            return
        files = {p.name: {"size": self.tmp(p).stat().st_size, "sha256": file_sha256(self.tmp(p))} for p in self.files}
        shutil.rmtree(self.folder, ignore_errors=True)
        os.replace(self.tmp_folder, self.folder)
        write_json_atomic(self.marker, {"inputs": self.inputs, "files": files})


def export_mindrecord(out: Path, to: Path, *, log: Callable[[str], None] = print) -> dict[str, Any]:
    from mindspore.mindrecord import (
        FileWriter,  # MindSpore's own writer; imported only here (2.5 GB)
    )

    out, to = Path(out), Path(to)
    reader = ShardReader(out / "shards")
    # Per record: input_ids, labels (L+1 each), loss_mask, position_ids (L each), int32.
    shards = max(1, math.ceil(reader.rows * (reader.seq_len + 1) * 4 * 4 / FILE_BYTES))
    base = "rows.mindrecord"
    names = [base] if shards == 1 else [f"{base}{i}" for i in range(shards)]
    names += [n + ".db" for n in names]
    group = _FolderGroup(to / ("rows" + MARKER_SUFFIX), to / "rows", names, reader.fingerprint())
    log(f"mindrecord export of {out} -> {to}")
    if group.is_done():
        log(f"  rows: done earlier, verified ({len(names) // 2} file(s))")
        return {"skipped": True, "rows": reader.rows, "files": [str(p) for p in group.files]}
    with group:
        writer = FileWriter(str(group.tmp_folder / base), shard_num=shards, overwrite=True)
        writer.add_schema(SCHEMA, "curation shard rows")
        batch, rows = [], 0
        for row in reader:
            batch.append(record(row, reader.pad_id))
            if len(batch) == WRITE_ROWS:
                writer.write_raw_data(batch)
                rows += len(batch)
                batch = []
        if batch:
            writer.write_raw_data(batch)
            rows += len(batch)
        writer.commit()
    write_json_atomic(to / "mindformers.json", {
        "seq_length": reader.seq_len, "rows": rows, "pad_token_id": reader.pad_id, "eos_token_id": reader.eos_id,
        "dataset_files": [str(to / "rows" / n) for n in names if not n.endswith(".db")],
        "input_columns": list(SCHEMA)[:-1],
    })
    log(f"  rows: {rows} records of {reader.seq_len} (+1) tokens -> {to / 'rows'}")
    return {"skipped": False, "rows": rows, "files": [str(p) for p in group.files]}
