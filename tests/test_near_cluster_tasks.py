"""near_cluster in several tasks: components of the edges are computed per edge partition, merged
across tasks, and each cluster task decides the clusters it owns. The removals (files and whole
repositories) and the shards are the same with 1 and 4 cluster tasks, locally and on Slurm.

Input: real code (pyyaml, json and pydantic sources) with reformatted and edited copies planted in
a fork repository (tests/test_near_dedup.py builds it), run through `curate run` with the real
TeleChat3 tokenizer.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import ROOT, run_cli, write_config
from test_cluster import _slurm_or_skip
from test_near_dedup import make_forks

from curation.dedup.cluster import components
from curation.dedup.near import near_folders
from curation.layout import Layout


def config(tmp: Path, repos: Path, tokenizer: Path, level: str, cluster_tasks: int) -> Path:
    return write_config(tmp / f"near-{level}-{cluster_tasks}.yaml", {
        "name": "near-cluster-tasks", "inputs": {"code": {"kind": "repos", "paths": [str(repos)], "layout": "collection"}},
        "filters": str(ROOT / "filters" / "code.yaml"),
        "dedup": {"exact": True, "near": {"threshold": 0.7, "level": level, "bucket_tasks": 2,
                                          "cluster_tasks": cluster_tasks}},
        "tokenizer": {"name_or_path": str(tokenizer)},
        "pack": {"seq_len": 2048, "rows_per_shard": 64},
        "executor": {"tasks": 2, "workers": 2, "time": "00:10:00", "mem_per_cpu_gb": 1},
    })


def run(cfg: Path, out: Path, *args: str) -> Path:
    if not (out / "shards" / "index.json").exists():
        proc = run_cli("run", str(cfg), "--out", str(out), *args)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return out


def removals(folder: Path) -> tuple[list[tuple], list[int]]:
    """Every removal (id, kept_id, similarity, task), sorted, and the row count of each file."""
    files = sorted(folder.glob("*.parquet"))
    rows = sorted(r for f in files for r in zip(*pq.read_table(f).to_pydict().values()))
    return rows, [pq.read_metadata(f).num_rows for f in files]


def removed(out: Path, step: str) -> list[tuple]:
    return sorted(duckdb.sql(f"SELECT id, kept_id, similarity, reason FROM '{out}/removed/{step}/*.parquet'").fetchall())


def shard_hashes(out: Path) -> dict[str, str]:
    files = sorted((out / "shards").iterdir())
    assert files, f"{out}/shards is empty"
    return {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in files}


@pytest.fixture(scope="module")
def forks(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("near-cluster")
    repos, expected = make_forks(tmp)
    return tmp, repos, expected


def test_components_merged_across_edge_partitions_equal_the_whole():
    """Stars of the components of each quarter of the edges, merged, give the components of all."""
    rng = np.random.default_rng(7)
    names = np.array([f"doc{i:04d}" for i in range(400)])
    a, b = rng.integers(0, 400, 300), rng.integers(0, 400, 300)
    keep = a != b
    left, right = pa.array(names[a[keep]]), pa.array(names[b[keep]])
    ids, smallest = components(left, right)
    whole = dict(zip(ids.to_pylist(), ids.take(pa.array(smallest)).to_pylist()))
    stars_left, stars_right = [], []
    for part in range(4):
        take = pa.array(np.flatnonzero(np.arange(len(left)) % 4 == part))
        part_ids, part_smallest = components(left.take(take), right.take(take))
        stars_left += part_ids.to_pylist()
        stars_right += part_ids.take(pa.array(part_smallest)).to_pylist()
    merged_ids, merged_smallest = components(pa.array(stars_left), pa.array(stars_right))
    merged = dict(zip(merged_ids.to_pylist(), merged_ids.take(pa.array(merged_smallest)).to_pylist()))
    assert merged == whole
    assert len(set(whole.values())) > 10  # many components, not one giant one


@pytest.mark.parametrize("level", ["file", "both"])
def test_one_and_four_cluster_tasks_give_the_same_removals_and_shards(forks, telechat3, level):
    tmp, repos, expected = forks
    outs = {n: run(config(tmp, repos, telechat3, level, n), tmp / f"out-{level}-{n}") for n in (1, 4)}
    for near_level in ("repo", "file") if level == "both" else ("file",):
        one_folders, four_folders = (near_folders(Layout(outs[n]), near_level) for n in (1, 4))
        one, files_one = removals(one_folders.removals)
        four, files_four = removals(four_folders.removals)
        assert one == four and one, near_level
        assert len(files_one) == 1 and len(files_four) == 4
        assert not one_folders.components.exists()
        assert len(list(four_folders.components.glob("*.parquet"))) == 4
        if level == "file":  # many file clusters (at level both, the fork leaves as a repository): spread
            assert sum(1 for n in files_four if n) >= 2, files_four
    if level == "file":  # every planted copy is removed pointing at its permissive original
        got = {r[0]: r[1] for r in removed(outs[4], "near_dup") if r[0].startswith("fork@")}
        assert got == expected
    else:
        assert {r[1] for r in removed(outs[4], "near_dup_repo")} == {"upstream@worktree"}
    for step in ("near_dup", "near_dup_repo") if level == "both" else ("near_dup",):
        assert removed(outs[1], step) == removed(outs[4], step)
    assert shard_hashes(outs[1]) == shard_hashes(outs[4])


@pytest.mark.slow
def test_slurm_with_four_cluster_tasks_gives_the_local_shards(forks, telechat3):
    _slurm_or_skip()
    tmp, repos, _ = forks
    local = run(config(tmp, repos, telechat3, "both", 4), tmp / "out-both-4")
    one = run(config(tmp, repos, telechat3, "both", 1), tmp / "out-both-1")
    slurm = run(config(tmp, repos, telechat3, "both", 4), tmp / "out-both-4-slurm", "--executor", "slurm")
    assert shard_hashes(slurm) == shard_hashes(local) == shard_hashes(one)
    assert removed(slurm, "near_dup") == removed(local, "near_dup")
    assert removed(slurm, "near_dup_repo") == removed(local, "near_dup_repo")
    assert slurm_stages(slurm) >= {("near_repo_components", 4), ("near_repo_cluster", 4), ("near_components", 4),
                                   ("near_cluster", 4)}


def slurm_stages(out: Path) -> set[tuple[str, int]]:
    """(stage, tasks) of every stage that ran done on Slurm, as `curate status` reports them."""
    status = json.loads(run_cli("status", str(out), "--json").stdout)
    assert status["complete"]
    return {(s["name"], s["tasks"]) for s in status["stages"] if s["kind"] == "slurm" and s["state"] == "done"}
