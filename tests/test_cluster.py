"""The same stage-1 pipeline on a real Slurm and a real Ray: byte-identical shards, and a task
killed mid-run under Slurm is reported by `curate status` and re-run alone.

Needs a running cluster: `eval "$(.ci/cluster.sh)"` starts a single-node Slurm and a Ray head and
exports SLURM_CONF and RAY_ADDRESS (.ci/run does it before pytest). Without them the tests skip.
Timings on the 2-core CI machine: local run ~15 s, Slurm ~35 s, Ray ~25 s, kill + re-run ~50 s.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, run_cli, write_config

pytestmark = pytest.mark.slow

CURATE = str(Path(sys.executable).with_name("curate"))


def _slurm_or_skip() -> None:
    if shutil.which("sinfo") is None:
        pytest.skip('no Slurm here: `sinfo` is not on PATH (start one with: eval "$(.ci/cluster.sh)")')
    proc = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, timeout=90)
    if proc.returncode != 0 or not proc.stdout.strip():
        pytest.skip(f"Slurm does not answer (SLURM_CONF={os.environ.get('SLURM_CONF')}): {proc.stderr.strip()[:200]}")


def _ray_or_skip() -> None:
    try:
        import ray  # noqa: F401
    except ImportError:
        pytest.skip('ray is not installed (eval "$(.ci/cluster.sh)" installs it and starts a head)')
    address = os.environ.get("RAY_ADDRESS")
    if not address:
        pytest.skip('RAY_ADDRESS is not set: no Ray head to join (eval "$(.ci/cluster.sh)")')
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as err:
        pytest.skip(f"no Ray head answers at RAY_ADDRESS={address}: {err}")


@pytest.fixture(scope="module")
def slurm() -> None:
    _slurm_or_skip()


@pytest.fixture(scope="module")
def ray_cluster() -> None:
    _ray_or_skip()


def shard_hashes(out: Path) -> dict[str, str]:
    """sha256 of every file in shards/ (index.json included: it holds no executor setting)."""
    files = sorted((out / "shards").iterdir())
    assert files, f"{out}/shards is empty"
    return {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in files}


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory, telechat3) -> Path:
    """Stage 1 on real installed code: ingest, filters, exact + near dedup, TeleChat3 tokens, pack."""
    folder = tmp_path_factory.mktemp("cluster")
    return write_config(folder / "cluster.yaml", {
        "name": "cluster-test",
        "stage": 1,
        "inputs": {"code": {"kind": "installed", "names": ["pyyaml", "packaging", "rich"]}},
        "filters": str(ROOT / "filters" / "code.yaml"),
        "dedup": {"exact": True, "tasks": 2, "near": {"threshold": 0.7, "bucket_tasks": 2}},
        "tokenizer": {"name_or_path": str(telechat3)},
        "pack": {"seq_len": 2048, "rows_per_shard": 64},
        # The cluster has 2 CPUs; 1 GB per task leaves room for the other engineers' jobs.
        "executor": {"kind": "local", "tasks": 3, "workers": 2, "time": "00:10:00", "mem_per_cpu_gb": 1},
    })


@pytest.fixture(scope="module")
def local_run(pipeline) -> dict[str, str]:
    out = pipeline.parent / "out-local"
    proc = run_cli("run", str(pipeline), "--out", str(out), "--executor", "local")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return shard_hashes(out)


def run_and_status(pipeline, executor: str, local_run) -> dict:
    """Run under `executor`, check the shards equal the local run's, return `curate status --json`."""
    out = pipeline.parent / f"out-{executor}"
    proc = run_cli("run", str(pipeline), "--out", str(out), "--executor", executor)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert shard_hashes(out) == local_run
    return json.loads(run_cli("status", str(out), "--json").stdout)


def test_slurm_gives_the_local_shards(slurm, pipeline, local_run):
    data = run_and_status(pipeline, "slurm", local_run)
    assert data["complete"]
    assert [s["name"] for s in data["stages"]] == ["ingest", "dedup", "near_buckets", "near_cluster", "tokenize", "scatter", "pack"]
    assert all(s["kind"] == "slurm" and s["job_id"] and s["state"] == "done" for s in data["stages"])


def test_ray_gives_the_local_shards(ray_cluster, pipeline, local_run):
    data = run_and_status(pipeline, "ray", local_run)
    assert data["complete"] and {s["kind"] for s in data["stages"]} == {"ray"}


def _kill_a_running_tokenize_task(out: Path, job_name: str, driver: subprocess.Popen) -> int:
    """SIGKILL one tokenize array task once its pipeline has started (its task log exists; a tokenize
    task then runs ~4 s more, so the kill lands mid-run). Returns the killed rank."""
    folder = out / "logs" / "tokenize"
    deadline = time.time() + 150
    while time.time() < deadline and driver.poll() is None:
        running = subprocess.run(["squeue", "-h", "-r", "-n", f"{job_name}-tokenize", "-t", "R", "-o", "%i"],
                                 capture_output=True, text=True).stdout.split()
        for task in running:
            rank = json.loads((folder / "ranks_to_run.json").read_text())[int(task.split("_")[1])]
            if (folder / "logs" / f"task_{rank:05d}.log").exists():
                subprocess.run(["scancel", "--signal=KILL", task], check=True)
                return rank
        time.sleep(0.1)
    pytest.fail(f"no tokenize task of {job_name} was seen running (driver exit code {driver.poll()})")


def test_killed_slurm_task_is_reported_then_rerun_alone(slurm, pipeline, local_run):
    out = pipeline.parent / "out-killed"
    job_name = f"kill{os.getpid()}"
    cmd = [CURATE, "run", str(pipeline), "--out", str(out), "--executor", "slurm",
           "--set", f"executor.job_name={job_name}"]
    driver = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    rank = _kill_a_running_tokenize_task(out, job_name, driver)
    _, stderr = driver.communicate(timeout=300)
    task_log = out / "logs" / "tokenize" / "logs" / f"task_{rank:05d}.log"

    # The run stops at the stage with the dead task, naming the task and its log; pack never ran.
    assert driver.returncode == 1, stderr[-3000:]
    assert f"run 'tokenize': task(s) [{rank}] did not complete" in stderr and str(task_log) in stderr
    assert not (out / "shards" / "index.json").exists()

    status = run_cli("status", str(out))
    assert status.returncode == 1, status.stdout
    lines = status.stdout.splitlines()
    assert any(line.startswith("tokenize") and "failed" in line for line in lines), status.stdout
    assert f"  task {rank:<5} failed: Slurm task" in status.stdout and f"log: {task_log}" in status.stdout
    assert "slurm_logs/" in status.stdout
    killed = next(s for s in json.loads(run_cli("status", str(out), "--json").stdout)["stages"]
                  if s["name"] == "tokenize")
    assert [t["rank"] for t in killed["task_states"] if t["state"] == "failed"] == [rank]

    markers = out / "logs" / "tokenize" / "completions"
    finished_before = {p.name: p.stat().st_mtime_ns for p in markers.iterdir()}
    assert f"{rank:05d}" not in finished_before and len(finished_before) == 2

    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # Only the killed task ran again; the tasks that had finished were not touched.
    assert "[tokenize] 2/3 tasks already done; running 1" in proc.stdout
    assert "[ingest] 3/3 tasks already done; running 0" in proc.stdout
    assert json.loads((out / "logs" / "tokenize" / "job.json").read_text())["ranks"] == [rank]
    assert {n: t for n, t in ((p.name, p.stat().st_mtime_ns) for p in markers.iterdir()) if n in finished_before} \
        == finished_before
    assert shard_hashes(out) == local_run
    assert run_cli("status", str(out)).returncode == 0


def _kill_a_running_ray_tokenize_task(out: Path, driver: subprocess.Popen) -> int:
    """SIGKILL the Ray worker process of a running tokenize task (its pipeline has started: a task
    log exists; the process title says run_for_rank only while a task runs). Returns its pid."""
    logs = out / "logs" / "tokenize" / "logs"
    deadline = time.time() + 900  # ingest and dedup come first
    while time.time() < deadline and driver.poll() is None:
        if logs.is_dir() and any(logs.glob("task_*.log")):
            pids = subprocess.run(["pgrep", "-f", "ray::RankWorker.run_for_rank"], capture_output=True,
                                  text=True).stdout.split()
            if pids:
                os.kill(int(pids[0]), 9)
                return int(pids[0])
        time.sleep(0.05)
    pytest.fail(f"no Ray worker was seen running a tokenize task (driver exit code {driver.poll()})")


def test_killed_ray_task_is_run_again_and_the_shards_hold(ray_cluster, pipeline, local_run):
    """Under Ray a task whose worker dies is resubmitted by datatrove's Ray executor (a worker
    crash is a retriable Ray error): the run finishes, every task is done once, the shards are the
    local run's."""
    out = pipeline.parent / "out-ray-killed"
    cmd = [CURATE, "run", str(pipeline), "--out", str(out), "--executor", "ray"]
    driver = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    pid = _kill_a_running_ray_tokenize_task(out, driver)
    stdout, stderr = driver.communicate(timeout=400)
    assert driver.returncode == 0, stderr[-3000:]
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # the worker we killed is gone: the tasks finished elsewhere
    assert "[tokenize] 0/3 tasks already done; running 3" in stdout
    assert sorted(p.name for p in (out / "logs" / "tokenize" / "completions").iterdir()) == ["00000", "00001", "00002"]
    assert shard_hashes(out) == local_run
    assert json.loads(run_cli("status", str(out), "--json").stdout)["complete"]
