"""Content checks the driver makes on near-dedup outputs before the next stage reads them: a task
whose file is malformed is re-run instead of silently shrinking or corrupting the next stage."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from curation.io import task_file


def check_signatures(signatures_folder: str | Path, docs_folder: str | Path, rank: int) -> str | None:
    """A task's signatures: its own rows, numbered 0..n-1 in order, no more than its documents."""
    path = task_file(signatures_folder, rank)
    table = pq.read_table(path, columns=["task", "row"])
    tasks, rows = table.column("task").to_numpy(), table.column("row").to_numpy()
    if len(tasks) and (tasks != rank).any():
        return f"{path}: holds rows of task {int(tasks[tasks != rank][0])}, not {rank}"
    if not np.array_equal(rows, np.arange(len(rows))):
        return f"{path}: rows are not numbered 0..{len(rows) - 1} in order"
    documents = pq.read_metadata(task_file(docs_folder, rank)).num_rows
    if len(rows) > documents:
        return f"{path}: {len(rows)} signatures for {documents} documents of task {rank}"
    return None


def check_edges(edges_folder: str | Path, rank: int, threshold: float) -> str | None:
    """Verified pairs: smaller id first, sorted, each once, similarity within [threshold, 1]."""
    path = task_file(edges_folder, rank)
    table = pq.read_table(path)
    pairs = list(zip(table.column("id_a").to_pylist(), table.column("id_b").to_pylist()))
    if any(a >= b for a, b in pairs):
        return f"{path}: a pair is not (smaller id, larger id)"
    if any(p >= q for p, q in zip(pairs, pairs[1:])):
        return f"{path}: pairs are not sorted, or repeated"
    similarity = table.column("similarity").to_numpy()
    if len(similarity) and (similarity.min() < threshold or similarity.max() > 1):
        return f"{path}: a similarity outside [{threshold}, 1]"
    return None


def check_components(components_folder: str | Path, rank: int) -> str | None:
    """Local components as (id, root): root is the smallest id of its component, each id once."""
    path = task_file(components_folder, rank)
    table = pq.read_table(path)
    ids, roots = table.column("id").to_pylist(), table.column("root").to_pylist()
    if any(i <= r for i, r in zip(ids, roots)):
        return f"{path}: a root is not the smallest id of its component"
    if any(p >= q for p, q in zip(ids, ids[1:])):
        return f"{path}: ids are not sorted, or repeated"
    return None


def check_removals(removals_folder: str | Path, rank: int, threshold: float) -> str | None:
    """Each removed document once, never kept itself, similar to its kept copy. A cluster lies
    whole in one task's file, so checking each file alone checks them all."""
    path = task_file(removals_folder, rank)
    table = pq.read_table(path)
    ids, kept = table.column("id").to_pylist(), set(table.column("kept_id").to_pylist())
    if len(ids) != len(set(ids)):
        return f"{path}: a document is removed twice"
    if kept & set(ids):
        return f"{path}: a kept copy is also removed"
    similarity = table.column("similarity").to_numpy()
    if len(similarity) and similarity.min() < threshold:
        return f"{path}: a removal below the threshold {threshold}"
    return None
