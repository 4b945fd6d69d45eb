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
    except ImportError as err:
        pytest.skip(f'ray does not import ({err}); eval "$(.ci/cluster.sh)" installs it and starts a head')
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


def _ray_task_processes() -> set[int]:
    """The processes running a rank's pipeline under Ray: those titled ray::...RankWorker.run_for_rank
    with no child so titled (datatrove's own actor forks a pool process for its rank, which inherits
    the title; curation's actor runs the rank itself)."""
    pids = {int(p) for p in subprocess.run(["pgrep", "-f", "RankWorker.run_for_rank"], capture_output=True,
                                           text=True).stdout.split()}
    parents = set()
    for pid in pids:
        try:
            parents.add(int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1]))
        except (OSError, IndexError, ValueError):
            pass  # gone meanwhile
    return pids - parents


def _kill_a_running_ray_tokenize_task(out: Path, driver: subprocess.Popen) -> int:
    """SIGKILL the process running a tokenize task under Ray, once the stage has started and the
    same process has run a task for half a second. Under datatrove's own actor that process is the
    forked pool process, whose death hangs the run forever (CLUSTER_NOTES trap 10). Returns its pid."""
    started = out / "logs" / "tokenize" / "executor.json"
    deadline = time.time() + 900  # ingest and dedup come first
    seen: set[int] = set()
    while time.time() < deadline and driver.poll() is None:
        if started.exists():
            running = _ray_task_processes()
            if steady := sorted(running & seen):
                os.kill(steady[0], 9)
                return steady[0]
            seen = running
        time.sleep(0.5)
    pytest.fail(f"no Ray worker was seen running a tokenize task (driver exit code {driver.poll()})")


def test_killed_ray_task_is_run_again_and_the_shards_hold(ray_cluster, pipeline, local_run):
    """Under Ray a task whose process dies is resubmitted by datatrove's Ray executor (a dead actor
    is a retriable Ray error): the run finishes, every task is done once, the shards are the local
    run's. With datatrove's own actor the killed process is its pool process and the run hangs."""
    out = pipeline.parent / "out-ray-killed"
    cmd = [CURATE, "run", str(pipeline), "--out", str(out), "--executor", "ray"]
    driver = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        pid = _kill_a_running_ray_tokenize_task(out, driver)
        stdout, stderr = driver.communicate(timeout=400)
    finally:
        driver.kill()  # a hung run must not outlive the test
    assert driver.returncode == 0, stderr[-3000:]
    assert "failed with RayActorError" in stderr  # the rank was resubmitted
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # the worker we killed is gone: the tasks finished elsewhere
    assert "[tokenize] 0/3 tasks already done; running 3" in stdout
    assert sorted(p.name for p in (out / "logs" / "tokenize" / "completions").iterdir()) == ["00000", "00001", "00002"]
    assert shard_hashes(out) == local_run
    assert json.loads(run_cli("status", str(out), "--json").stdout)["complete"]
