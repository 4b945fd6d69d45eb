"""Read packed shards for a trainer: batches per rank, exact resume from a global sample index.

Sample i (the i-th row over shards in index.json order) belongs to rank i % world_size. A batch
holds `batch_size` consecutive samples of this rank. Resume state is one global sample index:
after k batches every rank is at `start + k * batch_size * world_size` (any interval of that
length holds exactly k * batch_size samples of each rank), so all ranks save the same state, and
loading it replays nothing and skips nothing, even with a different world size.

A batch (numpy by default, torch tensors with return_tensors="pt"; torch is imported only then):
  input_ids        [B, seq_len] int32 (int64 for torch: what nn.Embedding indexes with)
  position_ids     [B, seq_len] restarting at 0 at every segment start (per cu_seqlens)
  loss_mask        [B, seq_len] int8 (0 on padding)
  cu_seqlens       list of B int32 arrays, each from 0 to seq_len (per row)
  cu_seqlens_flat  int32 boundaries over the batch flattened to B * seq_len tokens (FlashAttention
                   varlen / HF flattening collator); max_seqlen: the longest segment in the batch
  sample_index     [B] global sample indices, to trace a batch back to its rows

Reads one Parquet row group at a time (the writer sizes them at ~32 MiB), so memory stays bounded.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from curation.mixture.shards import INDEX_FILE


class ShardLoader:
    def __init__(self, shards_dir: str | Path, *, batch_size: int, rank: int = 0, world_size: int = 1,
                 start_sample: int = 0, return_tensors: str = "np", drop_last: bool = False) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"need 0 <= rank < world_size, got rank {rank}, world_size {world_size}")
        if return_tensors not in ("np", "pt"):
            raise ValueError(f"return_tensors must be 'np' or 'pt', got {return_tensors!r}")
        self.shards_dir = Path(shards_dir)
        index_path = self.shards_dir / INDEX_FILE
        if not index_path.is_file():
            raise FileNotFoundError(f"{self.shards_dir}: no {INDEX_FILE}; is this a shards folder of `curate run`?")
        self.index = json.loads(index_path.read_text(encoding="utf-8"))
        self.seq_len = int(self.index["seq_len"])
        self.batch_size, self.rank, self.world_size = batch_size, rank, world_size
        self.return_tensors, self.drop_last = return_tensors, drop_last
        self._groups = self._row_groups()  # (first global sample, shard path, row group, rows)
        self._group_starts = [g[0] for g in self._groups]
        self.num_samples = sum(g[3] for g in self._groups)
        if self.num_samples != self.index["totals"]["rows"]:
            raise ValueError(f"{self.shards_dir}: shards hold {self.num_samples} rows, {INDEX_FILE} says "
                             f"{self.index['totals']['rows']}")
        self.load_state_dict({"next_sample": start_sample})
        self._cached: tuple[int, dict[str, Any]] | None = None

    def _row_groups(self) -> list[tuple[int, Path, int, int]]:
        import pyarrow.parquet as pq

        groups, first = [], 0
        for shard in self.index["shards"]:
            path = self.shards_dir / shard["file"]
            if not path.is_file():
                raise FileNotFoundError(f"{path}: listed in {INDEX_FILE} but missing")
            meta = pq.ParquetFile(path).metadata
            if meta.num_rows != shard["rows"]:
                raise ValueError(f"{path}: {meta.num_rows} rows, {INDEX_FILE} says {shard['rows']}")
            for g in range(meta.num_row_groups):
                rows = meta.row_group(g).num_rows
                groups.append((first, path, g, rows))
                first += rows
        return groups

    # --- resume ------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, int]:
        """The global sample index to resume from: the same on every rank after the same steps."""
        return {"next_sample": self._next, "batch_size": self.batch_size, "world_size": self.world_size}

    def load_state_dict(self, state: dict[str, int]) -> None:
        start = int(state["next_sample"])
        if start < 0:
            raise ValueError(f"next_sample must be >= 0, got {start}")
        self._next = start

    def __len__(self) -> int:
        """Batches left for this rank from the current position."""
        mine = self._my_samples(self._next)
        return len(mine) // self.batch_size if self.drop_last else -(-len(mine) // self.batch_size)

    def _my_samples(self, start: int) -> range:
        first = start + (self.rank - start) % self.world_size
        return range(first, self.num_samples, self.world_size)

    # --- iteration ---------------------------------------------------------------------------

    def __iter__(self) -> Iterator[dict[str, Any]]:
        mine = self._my_samples(self._next)
        for at in range(0, len(mine), self.batch_size):
            chunk = mine[at : at + self.batch_size]
            if len(chunk) < self.batch_size and self.drop_last:
                return
            batch = self._batch(list(chunk))
            # A batch consumed by every rank covers batch_size * world_size global samples.
            self._next += self.batch_size * self.world_size
            yield batch
        self._next = max(self._next, self.num_samples)

    def _row(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        g = bisect.bisect_right(self._group_starts, i) - 1
        if self._cached is None or self._cached[0] != g:
            self._cached = (g, self._read_group(g))
        data = self._cached[1]
        r = i - self._groups[g][0]
        return data["input_ids"][r], data["loss_mask"][r], data["cu_seqlens"][r]

    def _read_group(self, g: int) -> dict[str, Any]:
        import pyarrow.parquet as pq

        _, path, group, rows = self._groups[g]
        table = pq.ParquetFile(path).read_row_group(group, columns=["input_ids", "loss_mask", "cu_seqlens"])
        cu = table.column("cu_seqlens").combine_chunks()
        offsets = cu.offsets.to_numpy()
        flat = cu.values.to_numpy()
        return {
            "input_ids": table.column("input_ids").combine_chunks().values.to_numpy().reshape(rows, self.seq_len),
            "loss_mask": table.column("loss_mask").combine_chunks().values.to_numpy().reshape(rows, self.seq_len),
            "cu_seqlens": [flat[offsets[k] : offsets[k + 1]] for k in range(rows)],
        }

    def _batch(self, samples: list[int]) -> dict[str, Any]:
        n, L = len(samples), self.seq_len
        input_ids = np.empty((n, L), dtype=np.int32)
        loss_mask = np.empty((n, L), dtype=np.int8)
        position_ids = np.empty((n, L), dtype=np.int32)
        cu_rows, flat = [], [np.zeros(1, dtype=np.int32)]
        for k, i in enumerate(samples):
            ids, mask, cu = self._row(i)
            input_ids[k], loss_mask[k] = ids, mask
            cu = np.asarray(cu, dtype=np.int32)
            lengths = np.diff(cu)
            position_ids[k] = np.arange(L, dtype=np.int32) - np.repeat(cu[:-1], lengths)
            cu_rows.append(cu)
            flat.append(cu[1:] + k * L)
        cu_flat = np.concatenate(flat).astype(np.int32)
        batch = {
            "input_ids": input_ids, "position_ids": position_ids, "loss_mask": loss_mask,
            "cu_seqlens": cu_rows, "cu_seqlens_flat": cu_flat, "max_seqlen": int(np.diff(cu_flat).max()),
            "sample_index": np.array(samples, dtype=np.int64),
        }
        return _to_torch(batch) if self.return_tensors == "pt" else batch


def _to_torch(batch: dict[str, Any]) -> dict[str, Any]:
    try:
        import torch
    except ImportError:
        raise ImportError("return_tensors='pt' needs torch; install it or use return_tensors='np'") from None
    out = dict(batch)
    out["input_ids"] = torch.from_numpy(batch["input_ids"]).long()
    out["position_ids"] = torch.from_numpy(batch["position_ids"]).long()
    out["loss_mask"] = torch.from_numpy(batch["loss_mask"])
    out["cu_seqlens"] = [torch.from_numpy(c) for c in batch["cu_seqlens"]]
    out["cu_seqlens_flat"] = torch.from_numpy(batch["cu_seqlens_flat"])
    out["sample_index"] = torch.from_numpy(batch["sample_index"])
    return out
