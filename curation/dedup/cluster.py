"""Near-duplicate clusters in N tasks: connected components of the verified edges, merged across
tasks, then one copy kept per cluster by the keep rule. The removals are the same set for any
task count; only how they are spread over files changes.

    components  (task r of N, only when N > 1)  the edges whose `hash(id_a) % N == r` -> local
                connected components, written as a star per component: (id, root) for every
                member but the root, root = the component's smallest id
                -> dedup/near/components/{r}.parquet
    cluster     (task r of N)  union-find over every task's stars (one row per clustered document
                per edge partition that touched it: at most the edges, usually far fewer) gives the
                global components, named by their smallest id; task r decides the clusters whose
                smallest id hashes to r (crc32 % N), reading the signatures of their members only,
                with the keep rule and similarity check of `resolve_clusters`
                -> dedup/near/removals/{r}.parquet (id, kept_id, similarity, task)

With N = 1 there is no components stage: the cluster task reads the edges themselves, as before.
Why the merge is not partitioned too: components need either global state or a data-dependent
number of rounds, and a recipe is a fixed list of runs. The stars are that global state, reduced
from edges to clustered documents; it is the one memory figure that grows with the corpus
(docs/SCALING.md, "near_cluster").
"""

from __future__ import annotations

import zlib
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from curation.dedup.checks import check_components, check_removals
from curation.dedup.keep import KeepCandidate, keep_order_key
from curation.dedup.lsh import UnionFind
from curation.dedup.minhash import estimate_jaccard
from curation.dedup.near import (
    cluster_tasks,
    near_folders,
    near_levels,
    signature_matrix,
    sql_paths,
)
from curation.io import task_file, write_table_atomic
from curation.steps import Described, expect_task_files

COMPONENTS_SCHEMA = pa.schema([("id", pa.string()), ("root", pa.string())])


def components(left: pa.Array, right: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """Connected components of the pairs (left[i], right[i]) of ids: the ids touched, sorted, and
    for each the position (in that sorted list) of its component's smallest id. Naming a component
    by its smallest id makes the name independent of edge order and of how edges were split."""
    ids = pc.unique(pa.concat_arrays([left, right]))
    ids = ids.take(pc.array_sort_indices(ids))
    clusters = UnionFind(len(ids))
    clusters.union_pairs(pc.index_in(left, value_set=ids).to_numpy(), pc.index_in(right, value_set=ids).to_numpy())
    roots = clusters.roots()
    smallest = np.full(len(ids), len(ids), dtype=np.int64)
    np.minimum.at(smallest, roots, np.arange(len(ids), dtype=np.int64))
    return ids, smallest[roots]


def owner(root_id: str, tasks: int) -> int:
    """The cluster task that decides the cluster named `root_id`: the same in every process."""
    return zlib.crc32(root_id.encode()) % tasks


class NearDedupComponents(Described, PipelineStep):
    """Local connected components of this task's share of the edges, as stars (id, root)."""

    name = "near_components"
    type = "🫂 - DEDUP"

    def __init__(self, edges_folder: str, bucket_tasks: int, output_folder: str):
        super().__init__()
        self.edges_folder, self.bucket_tasks, self.output_folder = edges_folder, bucket_tasks, output_folder

    @classmethod
    def from_config(cls, ctx, level: str = "file") -> NearDedupComponents | None:
        cfg = ctx.config
        if level not in near_levels(cfg) or cluster_tasks(cfg) == 1:
            return None
        folders = near_folders(ctx.layout, level)
        return cls(str(folders.edges), cfg.dedup.near.bucket_tasks, str(folders.components))

    def outputs(self) -> list[Path]:
        return [Path(self.output_folder)]

    def check(self, rank: int) -> str | None:
        return check_components(self.output_folder, rank)

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        files = sql_paths(expect_task_files(self.edges_folder, self.bucket_tasks))
        con = duckdb.connect()
        con.execute("SET threads = 1")
        # DuckDB's hash() is a fixed function of the value: every task draws the same partition.
        edges = con.sql(f"SELECT id_a, id_b FROM read_parquet({files}) WHERE hash(id_a) % $world = $rank",
                        params={"world": world_size, "rank": rank}).to_arrow_table()
        self.stat_update("edges", value=edges.num_rows)
        with self.track_time():
            ids, smallest = components(edges.column("id_a").combine_chunks(), edges.column("id_b").combine_chunks())
        members = np.flatnonzero(smallest != np.arange(len(ids)))
        table = pa.table({"id": ids.take(pa.array(members, pa.int64())),
                          "root": ids.take(pa.array(smallest[members], pa.int64()))}, schema=COMPONENTS_SCHEMA)
        self.stat_update("star_rows", value=table.num_rows)
        write_table_atomic(table, task_file(self.output_folder, rank))
        return
        yield


class NearDedupCluster(Described, PipelineStep):
    """The clusters this task owns, merged from every task's components; the keep rule picks one
    copy per cluster."""

    name = "near_cluster"
    type = "🫂 - DEDUP"

    def __init__(self, pairs_folder: str, pair_tasks: int, signatures_folder: str, sign_tasks: int,
                 output_folder: str, *, threshold: float, pair_columns: tuple[str, str] = ("id_a", "id_b")):
        """pairs: the verified edges (one cluster task) or the components' stars (several),
        `pair_columns` naming the two id columns."""
        super().__init__()
        self.threshold = threshold
        self.pairs_folder, self.pair_tasks, self.pair_columns = pairs_folder, pair_tasks, tuple(pair_columns)
        self.signatures_folder, self.sign_tasks = signatures_folder, sign_tasks
        self.output_folder = output_folder

    @classmethod
    def from_config(cls, ctx, level: str = "file") -> NearDedupCluster | None:
        cfg = ctx.config
        if level not in near_levels(cfg):
            return None
        folders, tasks = near_folders(ctx.layout, level), cluster_tasks(cfg)
        pairs = ({"pairs_folder": str(folders.edges), "pair_tasks": cfg.dedup.near.bucket_tasks} if tasks == 1 else
                 {"pairs_folder": str(folders.components), "pair_tasks": tasks, "pair_columns": ("id", "root")})
        return cls(signatures_folder=str(folders.signatures), sign_tasks=cfg.executor.tasks,
                   output_folder=str(folders.removals), threshold=cfg.dedup.near.threshold, **pairs)

    def outputs(self) -> list[Path]:
        return [Path(self.output_folder)]

    def check(self, rank: int) -> str | None:
        return check_removals(self.output_folder, rank, self.threshold)

    def _members(self, wanted: pa.Array) -> dict[str, tuple]:
        """(task, keep candidate, signature) of the wanted ids, one signature file at a time."""
        members: dict[str, tuple] = {}
        for path in expect_task_files(self.signatures_folder, self.sign_tasks):
            t = pq.read_table(path, columns=["id", "task", "license_class", "stars", "date", "signature"])
            t = t.filter(pc.is_in(t.column("id"), value_set=wanted))
            sigs = signature_matrix(t.column("signature").combine_chunks()) if t.num_rows else []
            for doc_id, task, lic, stars, date, sig in zip(
                    *(t.column(c).to_pylist() for c in ("id", "task", "license_class", "stars", "date")), sigs):
                members[doc_id] = (task, KeepCandidate(doc_id, lic, stars, date), sig)
        return members

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        left, right = self.pair_columns
        pairs = pa.concat_tables([pq.read_table(p, columns=[left, right])
                                  for p in expect_task_files(self.pairs_folder, self.pair_tasks)])
        with self.track_time():
            ids, smallest = components(pairs.column(left).combine_chunks(), pairs.column(right).combine_chunks())
        del pairs
        roots = np.unique(smallest)
        mine_roots = [r for r in roots.tolist() if owner(ids[r].as_py(), world_size) == rank]
        mine = np.flatnonzero(np.isin(smallest, mine_roots))
        wanted = ids.take(pa.array(mine, pa.int64()))
        members = self._members(wanted)
        names = wanted.to_pylist()
        candidates = [members[i][1] for i in names]
        signatures = np.stack([members[i][2] for i in names]) if names else None
        out = resolve_clusters(smallest[mine], candidates, signatures, self.threshold)
        self.stat_update("clusters", value=len(mine_roots))
        self.stat_update("removed", value=len(out))
        table = pa.table({
            "id": pa.array([r[0] for r in out], pa.string()),
            "kept_id": pa.array([r[1] for r in out], pa.string()),
            "similarity": pa.array([r[2] for r in out], pa.float64()),
            "task": pa.array([members[r[0]][0] for r in out], pa.int32()),
        })
        write_table_atomic(table, task_file(self.output_folder, rank))
        return
        yield


def resolve_clusters(labels: np.ndarray, members: list, signatures: np.ndarray, threshold: float):
    """(id removed, id kept, similarity) with similarity >= threshold for every removal.

    A connected component can chain files that are not alike (A ~ B ~ C, A far from C; license
    headers do this to short files). So within a component, the best copy by the keep rule is
    kept and removes only the members similar to it; the rest repeat the same with their own
    best copy. Every removed file thus names a kept file it is a near-duplicate of.
    """

    out = []
    labels = np.asarray(labels)
    order = np.argsort(labels, kind="stable")
    for group in np.split(order, np.flatnonzero(np.diff(labels[order])) + 1):
        if group.size < 2:
            continue
        remaining = np.array(sorted(group.tolist(), key=lambda row: keep_order_key(members[row])))
        while remaining.size > 1:
            kept, rest = remaining[0], remaining[1:]
            similarity = np.atleast_1d(estimate_jaccard(signatures[rest], signatures[kept]))
            close = similarity >= threshold
            out.extend((members[r].id, members[kept].id, float(s)) for r, s in zip(rest[close], similarity[close]))
            remaining = rest[~close]
    return sorted(out)
