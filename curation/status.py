"""`curate status OUT`: which stages and tasks of a run are done, running or failed, with log paths.

What is known of a stage comes from its logging folder `OUT/logs/<stage>/`:

    completions/NNNNN   datatrove's marker: the task finished (the only proof of "done")
    job.json            written by `curation.executors.run_stage`: executor kind, the tasks it ran,
                        the Slurm job id or the driver's pid, and the problems it saw
    logs/task_NNNNN.log datatrove's task log; Slurm adds slurm_logs/<job>_<index>.out

and, for Slurm, from the queue itself (squeue, scontrol), so a task killed while its driver was
gone is still reported. Slurm accounting (sacct) is not needed.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from dataclasses import asdict
from pathlib import Path

from curation.io import write_json_atomic
from curation.progress import read_progress

RECORD = "job.json"


# --- the record a stage run leaves -----------------------------------------------------------


class JobRecord:
    """`job.json` of one stage run, rewritten atomically on every change."""

    def __init__(self, path: Path, data: dict, previous: dict | None = None):
        self.path, self.data, self.previous = path, data, previous

    @classmethod
    def start(cls, logging_dir, *, kind: str, stage: str, tasks: int, ranks: list[int]) -> "JobRecord":
        path = Path(logging_dir) / RECORD
        record = cls(path, {
            "stage": stage, "kind": kind, "tasks": tasks, "ranks": ranks, "job_id": None,
            "driver": {"host": socket.gethostname(), "pid": os.getpid()},
            "started": time.time(), "finished": None, "problems": {},
        }, previous=read_record(logging_dir))
        record._write()
        return record

    @property
    def ranks(self) -> list[int]:
        return self.data["ranks"]

    def update(self, **values) -> None:
        self.data.update(values)
        self._write()

    def finish(self, problems: dict[int, str]) -> None:
        self.update(finished=time.time(), problems={str(r): p for r, p in sorted(problems.items())})

    def _write(self) -> None:
        write_json_atomic(self.path, self.data, indent=2)


def read_record(logging_dir) -> dict | None:
    path = Path(logging_dir) / RECORD
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


# --- Slurm queries (no accounting needed) ----------------------------------------------------


def slurm_queue(job_id: str) -> dict[int, tuple[str, str]]:
    """{array index: (state, reason)} of the job's tasks still queued or running; {} once all ended.
    Raises RuntimeError when squeue itself fails (controller unreachable)."""
    proc = subprocess.run(["squeue", "-h", "-r", "-j", str(job_id), "-o", "%i|%t|%r"],
                          capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        if "Invalid job id" in proc.stderr:  # ended long enough ago to be purged from the queue
            return {}
        raise RuntimeError(f"squeue -j {job_id} failed: {proc.stderr.strip() or proc.returncode}")
    queue = {}
    for line in proc.stdout.splitlines():
        task, state, reason = line.strip().split("|", 2)
        _, _, index = task.partition("_")
        if index.isdigit():
            queue[int(index)] = (state, reason)
    return queue


def slurm_task_end(job_id: str, index: int, logging_dir) -> str:
    """How an array task that left the queue without finishing ended, with its Slurm log."""
    log = Path(logging_dir) / "slurm_logs" / f"{job_id}_{index}.out"
    proc = subprocess.run(["scontrol", "-o", "show", "job", f"{job_id}_{index}"],
                          capture_output=True, text=True, timeout=60)
    fields = dict(f.split("=", 1) for f in proc.stdout.split() if "=" in f) if proc.returncode == 0 else {}
    if fields:
        how = f"{fields.get('JobState', '?')} (exit code {fields.get('ExitCode', '?')}, {fields.get('Reason', '?')})"
    else:
        how = "ended without finishing"
    return f"Slurm task {job_id}_{index} {how}; Slurm log: {log}"


def last_error(log: Path) -> str | None:
    """The last ERROR line of a datatrove task log: usually the exception that stopped the task."""
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return None
    errors = [line for line in lines if "| ERROR" in line or "Error:" in line]
    return errors[-1].split(" - ", 1)[-1].strip()[:300] if errors else None


# --- status ----------------------------------------------------------------------------------


def _driver_alive(record: dict) -> bool:
    driver = record.get("driver") or {}
    if record.get("finished") or driver.get("host") != socket.gethostname():
        return False
    try:
        os.kill(int(driver["pid"]), 0)
    except (OSError, KeyError, ValueError, TypeError):
        return False
    return True


def run_stages(out: Path) -> list[str]:
    """The stages of a run in recipe order, as the driver recorded them in OUT/run.json."""
    try:
        return list(json.loads((out / "run.json").read_text()).get("stages") or [])
    except (OSError, ValueError):
        return []


def _stage_folders(logs: Path) -> list[Path]:
    folders = [p for p in logs.iterdir() if p.is_dir() and ((p / RECORD).exists() or (p / "completions").is_dir())]
    order = {name: i for i, name in enumerate(run_stages(logs.parent))}
    return sorted(folders, key=lambda p: (order.get(p.name, len(order)), p.name))


def _task_count(folder: Path, record: dict) -> int:
    if record.get("tasks"):
        return int(record["tasks"])
    try:  # a run older than job.json: datatrove's own executor.json
        return int(json.loads((folder / "executor.json").read_text())["world_size"])
    except (OSError, ValueError, KeyError):
        return 0


def stage_status(folder: Path) -> dict:
    record = read_record(folder) or {}
    tasks = _task_count(folder, record)
    progress = read_progress(folder, tasks) if tasks else None
    completions = folder / "completions"
    done = {int(p.name) for p in completions.iterdir() if p.name.isdigit()} if completions.is_dir() else set()
    kind, job_id = record.get("kind", "?"), record.get("job_id")
    ranks = record.get("ranks") or []
    problems = {int(r): p for r, p in (record.get("problems") or {}).items()}
    queue, queue_error = {}, None
    if kind == "slurm" and job_id and set(ranks) - done:
        try:
            queue = slurm_queue(job_id)
        except (RuntimeError, OSError, subprocess.SubprocessError) as err:
            queue_error = str(err)
    driver_alive = _driver_alive(record)
    details = []
    for rank in range(tasks):
        log = folder / "logs" / f"task_{rank:05d}.log"
        task = {"rank": rank, "state": "done", "problem": None, "log": str(log), "slurm_log": None}
        if kind == "slurm" and job_id and rank in ranks:
            index = ranks.index(rank)
            task["slurm_log"] = str(folder / "slurm_logs" / f"{job_id}_{index}.out")
        if rank not in done:
            task["state"], task["problem"] = _open_task_state(rank, kind, job_id, ranks, problems, queue, queue_error,
                                                              driver_alive, log, folder)
        details.append(task)
    counts: dict[str, int] = {}
    for task in details:
        counts[task["state"]] = counts.get(task["state"], 0) + 1
    state = next((s for s in ("failed", "running", "pending", "unknown", "not run") if counts.get(s)), "done")
    return {"name": folder.name, "kind": kind, "job_id": job_id, "tasks": tasks, "state": state, "counts": counts,
            "folder": str(folder), "task_states": details,
            "progress": None if progress is None else {**asdict(progress), "mb_per_s": round(progress.mb_per_s, 3),
                                                       "eta_s": progress.eta, "line": progress.line(folder.name)}}


def _open_task_state(rank, kind, job_id, ranks, problems, queue, queue_error, driver_alive, log, folder):
    """(state, problem) of a task without a completion marker."""
    if kind == "slurm" and job_id and rank in ranks:
        index = ranks.index(rank)
        if queue_error:
            return "unknown", f"cannot ask Slurm: {queue_error}"
        if index in queue:
            state, reason = queue[index]
            if state == "PD":
                return "pending", f"Slurm task {job_id}_{index} pending ({reason})"
            return "running", f"Slurm task {job_id}_{index} {state}"
        return "failed", problems.get(rank) or slurm_task_end(job_id, index, folder)
    if driver_alive and rank in ranks:
        # Ray copies a task's log into logging_dir only when the task ends (CLUSTER_NOTES trap 14).
        return ("running" if kind == "ray" or log.exists() else "pending"), None
    if rank in problems:
        return "failed", problems[rank]
    if rank in ranks:
        return "failed", "did not finish (the run stopped)"
    return "not run", None


def status(out) -> dict:
    """The state of every stage that has started in the output folder `out`."""
    out = Path(out).resolve()
    logs = out / "logs"
    if not logs.is_dir():
        raise FileNotFoundError(f"{out}: no logs/ folder: not an output folder of `curate run`, or nothing ran yet")
    name = None
    try:
        name = json.loads((out / "run.json").read_text()).get("name")
    except (OSError, ValueError):
        pass
    stages = [stage_status(folder) for folder in _stage_folders(logs)]
    shards = out / "shards" / "index.json"
    return {"out": str(out), "pipeline": name, "complete": shards.exists() and all(s["state"] == "done" for s in stages),
            "stages": stages}


def format_status(data: dict) -> str:
    head = f"{data['out']}" + (f"  (pipeline {data['pipeline']})" if data.get("pipeline") else "")
    lines = [head, ""]
    for stage in data["stages"]:
        runner = stage["kind"] + (f" job {stage['job_id']}" if stage.get("job_id") else "")
        counts = ", ".join(f"{n} {s}" for s, n in sorted(stage["counts"].items()))
        lines.append(f"{stage['name']:<13} {stage['state']:<8} {stage['tasks']:>4} tasks: {counts:<28} ({runner})")
        if stage.get("progress") and stage["state"] != "done":
            lines.append(f"  {stage['progress']['line']}")
        for task in stage["task_states"]:
            if task["state"] == "done":
                continue
            lines.append(f"  task {task['rank']:<5} {task['state']}" + (f": {task['problem']}" if task["problem"] else ""))
            lines.append(f"             log: {task['log']}" + ("" if Path(task["log"]).exists() else " (not written)"))
            if task.get("slurm_log"):
                lines.append(f"             Slurm log: {task['slurm_log']}")
    if not data["stages"]:
        lines.append("no stage has started yet")
    lines.append("")
    if data["complete"]:
        lines.append("complete: every stage is done and shards/index.json is written")
    elif any(s["state"] == "failed" for s in data["stages"]):
        lines.append("re-run the same `curate run` command: only the tasks that are not done run again")
    else:
        lines.append("not complete: stages not listed have not started")
    return "\n".join(lines)
