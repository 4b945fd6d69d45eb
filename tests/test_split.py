"""The tokenize split: contiguous row ranges of the ingest files, balanced by the bytes that survive
exact dedup, never cutting a repository; and the same shards whatever the split."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from checks import check_shards
from conftest import ROOT, run_cli, write_config

from curation.io import ROW_GROUP_ROWS, task_file
from curation.split import SplitDocSource, identity_plan, plan_split


def _write(folder: Path, rank: int, rows: list[tuple[str, str, str, int]]) -> Path:
    """rows: (id, kind, repo, size_bytes); the text is `size_bytes` characters."""
    folder.mkdir(parents=True, exist_ok=True)
    path = task_file(folder, rank)
    pq.write_table(pa.table({"id": [r[0] for r in rows], "kind": [r[1] for r in rows], "repo": [r[2] for r in rows],
                             "size_bytes": [r[3] for r in rows], "text": ["x" * r[3] for r in rows]}),
                   path, row_group_size=ROW_GROUP_ROWS)
    return path


def _covered(plan: dict, files: list[Path]) -> list[tuple[int, int]]:
    return sorted((f, row) for ranges in plan["slices"] for f, start, end in ranges for row in range(start, end))


def test_plan_covers_every_row_once_never_cuts_a_repository_and_balances(tmp_path):
    sizes = {"big": 40, "a": 10, "b": 10, "c": 10, "d": 10, "e": 10, "f": 10}
    files = []
    for rank, repos in enumerate((["big", "a"], ["b", "c"], ["d", "e", "f"])):
        rows = [(f"{repo}:{i}", "code", repo, sizes[repo]) for repo in repos for i in range(5)]
        rows += [(f"text{rank}:{i}", "text", "docs", 7) for i in range(3)]  # text documents stand alone
        files.append(_write(tmp_path / "filtered", rank, rows))
    plan = plan_split(files, 4)
    total_rows = sum(pq.read_metadata(p).num_rows for p in files)
    assert _covered(plan, files) == sorted((f, r) for f, p in enumerate(files)
                                           for r in range(pq.read_metadata(p).num_rows))
    assert len(_covered(plan, files)) == total_rows
    # Ranges are in file and row order, across the tasks too (a contiguous split).
    flat = [tuple(r[:2]) for ranges in plan["slices"] for r in ranges]
    assert flat == sorted(flat)
    # No repository has rows in two tasks.
    repo_of = {}
    for rank, ranges in enumerate(plan["slices"]):
        for f, start, end in ranges:
            for (repo,) in duckdb.execute("SELECT repo FROM read_parquet($p, file_row_number=true) "
                                          "WHERE kind = 'code' AND file_row_number BETWEEN $a AND $b",
                                          {"p": str(files[f]), "a": start, "b": end - 1}).fetchall():
                assert repo_of.setdefault(repo, rank) == rank, repo
    total = sum(plan["kept_bytes"])
    assert total == sum(5 * s for s in sizes.values()) + 9 * 7
    # The largest unit (the big repository, 200 bytes of 621) bounds the balance: no task holds more.
    assert max(plan["kept_bytes"]) <= 5 * sizes["big"] + 5 * sizes["a"] and min(plan["kept_bytes"]) > 0


def test_survivors_crowded_in_one_file_are_spread_over_every_task(tmp_path):
    """Four copies of every repository, the originals all in file 0 (as ingest assigns equal-size
    copies), exact dedup keeping the originals: every task still gets a quarter of the kept bytes."""
    repos = [f"r{i:02d}" for i in range(16)]
    files, removed = [], []
    for rank in range(4):
        suffix = "" if rank == 0 else f"~r{rank}"
        rows = [(f"{repo}{suffix}:{k}", "code", f"{repo}{suffix}", 100) for repo in repos for k in range(3)]
        files.append(_write(tmp_path / "filtered", rank, rows))
        removed += [] if rank == 0 else [(r[0], r[0].replace(suffix, ""), rank) for r in rows]
    removed.append(("r00:0", "r00~r2:0", 2))  # an id of file 0 recorded for another task: not file 0's removal
    exact = tmp_path / "exact" / "00000.parquet"
    exact.parent.mkdir()
    pq.write_table(pa.table({"id": [r[0] for r in removed], "kept_id": [r[1] for r in removed],
                             "task": pa.array([r[2] for r in removed], pa.int64())}), exact)
    # an id removed in another file than the one it sits in does not count against it
    assert plan_split(files[:1], 1, [exact])["kept_bytes"] == [4800]
    plan = plan_split(files, 4, [exact])
    assert plan["kept_bytes"] == [1200, 1200, 1200, 1200]
    assert all(ranges and ranges[0][0] == 0 for ranges in plan["slices"]), plan["slices"]
    # the identity split, for comparison: one task holds every survivor
    same = identity_plan(files, 4)
    assert [r[0] for ranges in same["slices"] for r in ranges] == [0, 1, 2, 3]


def test_source_reads_its_ranges_across_row_groups(tmp_path):
    rows = [(f"d{i:05d}", "text", "docs", 1 + i % 5) for i in range(2 * ROW_GROUP_ROWS + 100)]
    path = _write(tmp_path / "filtered", 0, rows)
    assert pq.read_metadata(path).num_row_groups == 3
    plan = {"version": 1, "files": 1, "tasks": 2, "kept_bytes": [1, 1], "read_bytes": [1, 1],
            "slices": [[[0, 5, ROW_GROUP_ROWS + 7]], [[0, ROW_GROUP_ROWS + 7, 2 * ROW_GROUP_ROWS + 100]]]}
    (tmp_path / "split.json").write_text(json.dumps(plan))
    source = SplitDocSource(tmp_path / "filtered", files=1, tasks=2, plan_file=tmp_path / "split.json",
                            totals_file=tmp_path / "totals.json")
    first = [d.id for d in source.run(rank=0)]
    second = [d.id for d in source.run(rank=1)]
    assert first == [r[0] for r in rows[5:ROW_GROUP_ROWS + 7]]
    assert second == [r[0] for r in rows[ROW_GROUP_ROWS + 7:]]


def test_a_run_resumed_from_before_the_plan_keeps_file_r_as_task_r(tmp_path):
    files = [_write(tmp_path / "filtered", r, [(f"{r}:{i}", "code", f"repo{r}", 10) for i in range(4)]) for r in range(3)]
    completions = tmp_path / "logs" / "tokenize" / "completions"
    completions.mkdir(parents=True)
    (completions / "00001").touch()  # task 1 finished under the old mapping
    source = SplitDocSource(tmp_path / "filtered", files=3, tasks=3, plan_file=tmp_path / "split.json",
                            totals_file=tmp_path / "totals.json", completions=completions)
    source.prepare()
    plan = json.loads((tmp_path / "split.json").read_text())
    assert plan["slices"] == [[[0, 0, 4]], [[1, 0, 4]], [[2, 0, 4]]]
    assert json.loads((tmp_path / "totals.json").read_text()) == {"0": files[0].stat().st_size,
                                                                 "1": files[1].stat().st_size,
                                                                 "2": files[2].stat().st_size}


def _collection(root: Path, copies: int) -> Path:
    """Real code (ten standard-library packages) as repositories, each repeated under new names:
    the originals sort first, so ingest puts them all in task 0."""
    import importlib

    repos = root / "repos"
    for name in ("json", "http", "urllib", "logging", "concurrent", "importlib", "xmlrpc", "wsgiref", "html", "zoneinfo"):
        src = Path(importlib.import_module(name).__file__).parent
        for k in range(copies):
            dest = repos / (name if k == 0 else f"{name}~r{k}") / name
            shutil.copytree(src, dest, ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    return repos


def test_repeated_repositories_spread_over_tokenize_tasks_and_shards_do_not_change(tmp_path, telechat3):
    repos = _collection(tmp_path, copies=4)
    shards = {}
    for tasks in (1, 4):
        cfg = write_config(tmp_path / f"t{tasks}.yaml", {
            "name": "split", "inputs": {"code": {"kind": "repos", "paths": [str(repos)], "layout": "collection"}},
            "filters": str(ROOT / "filters" / "code.yaml"), "tokenizer": {"name_or_path": str(telechat3)},
            "pack": {"seq_len": 1024, "rows_per_shard": 64}, "executor": {"tasks": tasks, "workers": 2}})
        out = tmp_path / f"out{tasks}"
        proc = run_cli("run", str(cfg), "--out", str(out))
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        check_shards(out, telechat3)
        shards[tasks] = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (out / "shards").glob("*.parquet")}
        if tasks == 4:
            per_task = dict(duckdb.sql(f"SELECT filename, sum(size_bytes) FROM read_parquet('{out}/docs/*.parquet', "
                                       "filename=true) GROUP BY 1").fetchall())
            kept = sorted(per_task.values())
            assert len(kept) == 4 and kept[0] > 0, per_task
            # the largest repository (importlib, ~18% of the kept bytes) bounds the balance
            assert kept[-1] <= 0.45 * sum(kept), per_task
            removed = duckdb.sql(f"SELECT count(*) FROM '{out}/removed/exact_dedup/*.parquet'").fetchall()[0][0]
            assert removed > 0
    assert shards[1] == shards[4] and shards[1]


def test_rows_without_a_size_still_spread(tmp_path):
    """A document without `size_bytes` weighs 1: a file of such rows is still cut into every task."""
    path = tmp_path / "filtered" / "00000.parquet"
    path.parent.mkdir(parents=True)
    pq.write_table(pa.table({"id": [f"d{i}" for i in range(8)], "kind": ["text"] * 8, "repo": ["docs"] * 8,
                             "size_bytes": pa.array([None] * 8, pa.int64()), "text": ["t"] * 8}), path)
    plan = plan_split([path], 4)
    assert plan["kept_bytes"] == [2, 2, 2, 2] and plan["slices"][3] == [[0, 6, 8]]
