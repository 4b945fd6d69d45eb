"""Near-duplicate removal in the pipeline: renamed, reformatted and edited copies of real code are
removed with the id kept and a similarity at or above the threshold; the result does not depend on
the task count; a killed worker stops the next stage, and a re-run gives the uninterrupted result."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from conftest import ROOT, run_cli, write_config

LICENSE_MIT = ("MIT License\n\nPermission is hereby granted, free of charge, to any person obtaining a copy of this "
               "software and associated documentation files (the \"Software\"), to deal in the Software without "
               "restriction, including without limitation the rights to use, copy, modify, merge, publish, "
               "distribute, sublicense, and/or sell copies of the Software, and to permit persons to whom the "
               "Software is furnished to do so, subject to the following conditions:\n\nThe above copyright notice "
               "and this permission notice shall be included in all copies or substantial portions of the "
               "Software.\n\nTHE SOFTWARE IS PROVIDED \"AS IS\", WITHOUT WARRANTY OF ANY KIND.\n")


def originals() -> list[Path]:
    import json

    import yaml as yaml_pkg

    files = [p for p in sorted(Path(yaml_pkg.__file__).parent.glob("*.py")) if p.stat().st_size > 4000]
    files += [p for p in sorted(Path(json.__file__).parent.glob("*.py")) if p.stat().st_size > 4000]
    return files


def reformat(text: str) -> str:
    """Same tokens, other layout: indentation doubled, spaces around '=' and ',' changed."""
    text = re.sub(r"^( +)", lambda m: m.group(1) * 2, text, flags=re.M)
    return text.replace(", ", ",").replace(" = ", "=")


def edit(text: str, every: int) -> str:
    lines = text.splitlines(keepends=True)
    return "".join(line if i % every else f"# changed line {i}\n" for i, line in enumerate(lines))


def make_forks(root: Path) -> tuple[Path, dict[str, str]]:
    """upstream (MIT) and a fork (no license) holding reformatted / lightly edited copies, plus an
    unrelated repository. Returns the collection and, for each fork file, the upstream file it copies."""
    repos = root / "repos"
    upstream, fork, other = repos / "upstream", repos / "fork", repos / "other"
    for d in (upstream, fork, other):
        d.mkdir(parents=True)
    (upstream / "LICENSE").write_text(LICENSE_MIT)
    expected = {}
    for i, src in enumerate(originals()):
        name = f"{src.parent.name}_{src.name}"
        text = src.read_text()
        (upstream / name).write_text(text)
        copy = reformat(text) if i % 2 == 0 else edit(text, every=12)
        (fork / name).write_text(copy)
        expected[f"fork@worktree:{name}"] = f"upstream@worktree:{name}"
    import pydantic

    for src in sorted(Path(pydantic.__file__).parent.glob("*.py"))[:15]:
        shutil.copy(src, other / src.name)
    return repos, expected


def near_config(tmp: Path, repos: Path, tokenizer: Path, tasks: int, workers: int = 1) -> Path:
    return write_config(tmp / f"near{tasks}.yaml", {
        "name": "near", "inputs": {"code": {"kind": "repos", "paths": [str(repos)], "layout": "collection"}},
        "filters": str(ROOT / "filters" / "code.yaml"),
        "dedup": {"exact": True, "near": {"threshold": 0.7, "n_grams": 5, "num_perm": 256}},
        "tokenizer": {"name_or_path": str(tokenizer)},
        "pack": {"seq_len": 4096}, "executor": {"tasks": tasks, "workers": workers},
    })


@pytest.fixture(scope="module")
def forks(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("near")
    repos, expected = make_forks(tmp)
    return tmp, repos, expected


def removed_near(out: Path) -> dict[str, tuple[str, float]]:
    rows = duckdb.sql(f"SELECT id, kept_id, similarity FROM '{out}/removed/near_dup/*.parquet'").fetchall()
    return {r[0]: (r[1], r[2]) for r in rows}


def test_copies_are_removed_pointing_at_the_permissive_original(forks, telechat3):
    tmp, repos, expected = forks
    out = tmp / "out1"
    proc = run_cli("run", str(near_config(tmp, repos, telechat3, tasks=1)), "--out", str(out))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "-> 32 bands x 8 rows" in proc.stdout
    removed = removed_near(out)
    assert {k: v[0] for k, v in removed.items() if k.startswith("fork@")} == expected
    assert all(sim >= 0.7 for _, sim in removed.values())
    # pydantic's own deprecated shims are near-duplicates of each other; never of yaml or json code
    assert all(kept.startswith("other@") for k, (kept, _) in removed.items() if k.startswith("other@"))
    assert not [k for k in removed if k.startswith("upstream@")], "the permissive originals stay"


def test_same_kept_set_on_one_and_four_tasks(forks, telechat3):
    tmp, repos, _ = forks
    kept = {}
    for tasks in (1, 4):
        out = tmp / f"out{tasks}"
        if not (out / "shards" / "index.json").exists():
            proc = run_cli("run", str(near_config(tmp, repos, telechat3, tasks=tasks, workers=2)), "--out", str(out))
            assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        kept[tasks] = sorted(r[0] for r in duckdb.sql(f"SELECT id FROM '{out}/docs/*.parquet'").fetchall())
        assert removed_near(out)
    assert kept[1] == kept[4]


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def task_processes(driver: int) -> list[int]:
    """The processes running tasks: children of the driver's forkserver."""
    servers = [c for c in _children(driver) if b"multiprocess.forkserver" in Path(f"/proc/{c}/cmdline").read_bytes()]
    return [t for s in servers for t in _children(s)]


@pytest.mark.slow
def test_a_killed_signature_worker_stops_the_next_stage_and_a_rerun_matches(tmp_path, telechat3):
    cfg = write_config(tmp_path / "kill.yaml", {
        "name": "kill",
        "inputs": {"code": {"kind": "installed", "names": ["numpy", "pyarrow", "pydantic", "rich", "datatrove"]}},
        "filters": str(ROOT / "filters" / "code.yaml"),
        "dedup": {"exact": True, "near": {"threshold": 0.7}},
        "tokenizer": {"name_or_path": str(telechat3)},
        "executor": {"tasks": 4, "workers": 2},
    })
    reference = tmp_path / "reference"
    proc = run_cli("run", str(cfg), "--out", str(reference))
    assert proc.returncode == 0, proc.stderr[-2000:]

    out = tmp_path / "out"
    exe = Path(sys.executable).with_name("curate")
    run = subprocess.Popen([str(exe), "run", str(cfg), "--out", str(out)], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, cwd=ROOT)
    log0 = out / "logs" / "ingest" / "logs" / "task_00000.log"
    deadline = time.time() + 120
    victim = None
    while time.time() < deadline and victim is None:
        if log0.exists():
            workers = task_processes(run.pid)
            if workers:
                victim = workers[0]
                os.kill(victim, signal.SIGKILL)
        time.sleep(0.05)
    assert victim is not None, "no task process to kill"
    stdout, stderr = run.communicate(timeout=600)
    assert run.returncode == 1
    assert "run 'ingest': task(s) [" in stderr and "process killed (signal 9)" in stderr
    failed = re.search(r"task\(s\) \[(\d+)", stderr).group(1)
    assert f"task_{int(failed):05d}.log" in stderr
    assert not (out / "logs" / "near_buckets").exists(), "the next stage must not start"

    proc = run_cli("run", str(cfg), "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "[ingest] 3/4 tasks already done; running 1" in proc.stdout
    digest = lambda d: {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((d / "shards").iterdir())}
    assert digest(out) == digest(reference)
    assert removed_near(out) == removed_near(reference)


def test_repository_level_dedup_removes_the_fork_as_a_whole(forks, telechat3):
    tmp, repos, expected = forks
    cfg = near_config(tmp, repos, telechat3, tasks=2, workers=2)
    out = tmp / "out_repo"
    proc = run_cli("run", str(cfg), "--out", str(out), "--set", "dedup.near.level=both")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    rows = duckdb.sql(f"SELECT id, kept_id, reason, similarity FROM '{out}/removed/near_dup_repo/*.parquet'").fetchall()
    fork_files = {r[0] for r in duckdb.sql(f"SELECT id FROM '{out}/work/filtered/*.parquet' "
                                           "WHERE repo = 'fork'").fetchall()}
    assert {r[0] for r in rows} == fork_files and fork_files
    assert {(r[1], r[2]) for r in rows} == {("upstream@worktree", "near_duplicate_repo")}
    assert all(r[3] >= 0.7 for r in rows)
    kept_repos = {r[0] for r in duckdb.sql(f"SELECT DISTINCT repo FROM '{out}/docs/*.parquet'").fetchall()}
    assert kept_repos == {"upstream", "other"}


def test_a_tampered_stage_output_is_caught_and_its_task_redone(forks, telechat3):
    """Outputs are checked for content before the next stage reads them: a signature file whose rows
    were cut short (as by a worker that wrote half) makes its task run again, and the result stands."""
    import pyarrow.parquet as pq

    tmp, repos, _ = forks
    cfg = near_config(tmp, repos, telechat3, tasks=2, workers=1)
    out = tmp / "out_tamper"
    assert run_cli("run", str(cfg), "--out", str(out)).returncode == 0
    before = removed_near(out)
    sig = out / "dedup" / "near" / "signatures" / "00001.parquet"
    table = pq.read_table(sig)
    pq.write_table(table.slice(1), sig)  # rows 1..n-1: no longer numbered from 0
    proc = run_cli("run", str(cfg), "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "[ingest] task 1 was marked done but" in proc.stdout and "not numbered" in proc.stdout
    assert removed_near(out) == before
