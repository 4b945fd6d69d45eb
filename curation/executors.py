"""Executors: how the tasks of one stage run. datatrove's executors, behind one function.

`run_stage` runs the unfinished tasks of one stage and returns the tasks that did not finish,
each with what is known of why; `curation.pipeline` validates the outputs and only then starts
the next stage. The driver (`curate run`) stays alive and waits for each stage, whatever runs it:

    local   `TaskProcessExecutor` below, on this machine
    slurm   datatrove's `SlurmPipelineExecutor`: one array job per stage, polled with squeue
    ray     datatrove's `RayPipelineExecutor` on an existing Ray cluster

Every stage run leaves `job.json` in its logging folder (which tasks ran where, and what went
wrong) for `curate status`.

datatrove's `LocalPipelineExecutor` runs tasks in a process pool; when a worker process dies (OOM
killer, `kill -9`), the pool waits for its result forever (CLUSTER_NOTES trap 10). Here every task
runs in its own process through datatrove's own `_run_for_rank` (logs, stats, completion markers
unchanged), and a task whose process dies is reported as failed while the others finish. Under
Ray the same trap holds for datatrove's actor, which forks a pool process per rank: `RayRankWorker`
runs the rank in the actor itself, so a dead task is a dead actor, which Ray reports and datatrove
resubmits.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from copy import deepcopy
from pathlib import Path

from datatrove.executor import LocalPipelineExecutor, SlurmPipelineExecutor
from datatrove.utils.stats import PipelineStats

from curation.forkserver import FORKSERVER_PRELOAD
from curation.schema import ConfigError
from curation.status import JobRecord, last_error, slurm_queue, slurm_task_end


class PipelineError(RuntimeError):
    """A run did not complete: names the run, the tasks and their logs."""

    exit_code = 1


class ExecutorError(PipelineError):
    """The cluster could not run a stage at all (not reachable, refused the job)."""


# datatrove prints every task's INFO log and stats to the console when local_rank is 0; the task
# logs under OUT/logs/<stage>/logs/ hold all of it anyway, so the console gets errors and one line
# per finished task. CURATION_VERBOSE=1 brings datatrove's console logs back.
CONSOLE_LOCAL_RANK = 0 if os.environ.get("CURATION_VERBOSE") else 1


def _run_rank(executor: "TaskProcessExecutor", rank: int) -> None:
    executor._run_for_rank(rank, CONSOLE_LOCAL_RANK)


# Imported once by the forkserver that every task process is forked from: the modules of every
# step of every stage, so a task starts with them loaded instead of importing them again (~0.7 s
# of CPU per task process measured on 2 cores: 8 task processes in a stage-1 run), and
# `curation.warm`: the compiled kernels and grammars a task would load for itself.
def heaviest_first(ranks: list[int], steps: list) -> list[int]:
    """Ranks in the order to start them: by the summed `task_weight(rank)` of the steps that know
    their task's work, heaviest first, ties by rank (longest-processing-time first: with fewer
    workers than tasks, the last task to start should be a short one). Outputs do not depend on
    the order: every task writes its own files."""
    weighers = [step.task_weight for step in steps if hasattr(step, "task_weight")]
    if not weighers:
        return ranks
    return sorted(ranks, key=lambda rank: (-sum(weigh(rank) for weigh in weighers), rank))


class TaskProcessExecutor(LocalPipelineExecutor):
    """One process per task, at most `workers` at once; `failed` holds the ranks whose process
    exited abnormally, with their exit codes."""

    POLL_SECONDS = 0.05
    stage_name = "stage"

    def _report(self, rank: int, ok: bool, started: float, done: int, total: int) -> None:
        state = "done" if ok else "FAILED"
        print(f"[{self.stage_name}] task {rank} {state} in {time.time() - started:.1f}s ({done}/{total})", flush=True)

    def run(self):
        import multiprocess

        self._launched = True
        self.failed: dict[int, int] = {}
        todo = heaviest_first(list(self.get_incomplete_ranks()), self.pipeline)
        if not todo:
            return PipelineStats()
        self.save_executor_as_json()
        if self.workers == 1:
            # One at a time: in this process, like datatrove, with no process start-up cost.
            pipeline = self.pipeline
            for i, rank in enumerate(todo, 1):
                self.pipeline = deepcopy(pipeline)
                started = time.time()
                try:
                    self._run_for_rank(rank, CONSOLE_LOCAL_RANK)
                except Exception:  # noqa: BLE001 - the task's log has the traceback
                    self.failed[rank] = 1
                self._report(rank, rank not in self.failed, started, i, len(todo))
            self.pipeline = pipeline
            return self._merge_stats()
        ctx = multiprocess.get_context(self.start_method)
        if self.start_method == "forkserver":
            # Takes effect when the forkserver starts (the first task of the run); an import error
            # there is ignored by multiprocess and the task imports what it needs as before.
            ctx.set_forkserver_preload(FORKSERVER_PRELOAD)
        running, started, total, finished = {}, {}, len(todo), 0
        while todo or running:
            while todo and len(running) < self.workers:
                rank = todo.pop(0)
                proc = ctx.Process(target=_run_rank, args=(self, rank), name=f"task-{rank}")
                started[rank] = time.time()
                proc.start()
                running[rank] = proc
            for rank, proc in list(running.items()):
                if not proc.is_alive():
                    proc.join()
                    if proc.exitcode != 0:
                        self.failed[rank] = proc.exitcode
                    del running[rank]
                    finished += 1
                    self._report(rank, proc.exitcode == 0, started[rank], finished, total)
            time.sleep(self.POLL_SECONDS)
        return self._merge_stats()

    def _merge_stats(self) -> PipelineStats:
        return merge_stats(self.logging_dir, self.tasks)


def run_stage(*, kind: str, name: str, pipeline: list, tasks: int, workers: int, logging_dir: str,
              settings: dict | None = None) -> dict[int, str]:
    """Run the incomplete tasks of one stage to the end; {rank: problem} for those that failed."""

    runners = {"local": _run_local, "slurm": _run_slurm, "ray": _run_ray}
    if kind not in runners:
        raise ValueError(f"executor {kind!r} is not available; known: {', '.join(runners)}")
    record = JobRecord.start(logging_dir, kind=kind, stage=name, tasks=tasks,
                             ranks=incomplete_ranks(logging_dir, tasks))
    problems: dict[int, str] = {}
    try:
        problems = runners[kind](name=name, pipeline=pipeline, tasks=tasks, workers=workers,
                                 logging_dir=logging_dir, settings=settings or {}, record=record)
    except BaseException as err:
        # The record still says which tasks are missing and why, for `curate status`.
        why = "the run was interrupted" if isinstance(err, KeyboardInterrupt) else f"{type(err).__name__}: {err}"
        problems = {rank: f"did not finish ({why})" for rank in incomplete_ranks(logging_dir, tasks)}
        raise
    finally:
        record.finish(problems)
    return problems


def _run_local(*, name, pipeline, tasks, workers, logging_dir, settings, record) -> dict[int, str]:
    executor = TaskProcessExecutor(pipeline=pipeline, tasks=tasks, workers=workers, logging_dir=logging_dir,
                                   skip_completed=True)
    executor.stage_name = name
    problems: dict[int, str] = {}
    try:
        executor.run()
    except Exception as err:  # noqa: BLE001 - reported per task below
        problems = {r: f"{type(err).__name__}: {err}" for r in executor.get_incomplete_ranks()}
    for rank, code in getattr(executor, "failed", {}).items():
        problems[rank] = f"process killed (signal {-code})" if code < 0 else f"raised an error (exit code {code})"
    for rank in executor.get_incomplete_ranks():
        problems.setdefault(rank, "did not finish")
    return problems


# --- Slurm -----------------------------------------------------------------------------------

SLURM_POLL_SECONDS = 1.0
SQUEUE_FAILURES_TOLERATED = 60  # a controller restart takes seconds; a minute of errors is an outage
# Pending reasons that waiting never resolves: the job would sit in the queue forever.
SLURM_STUCK_REASONS = {
    "PartitionTimeLimit", "PartitionNodeLimit", "PartitionConfig", "BadConstraints", "DependencyNeverSatisfied",
    "InvalidQOS", "InvalidAccount", "QOSMaxWallDurationPerJobLimit", "AssocMaxWallDurationPerJobLimit",
    "QOSMaxCpuPerJobLimit", "QOSMaxMemoryPerJob",
}


class SlurmStageExecutor(SlurmPipelineExecutor):
    """datatrove's Slurm executor for one stage of a driver that waits for it. Lives here (not in
    the driver's `__main__`) so the pickled executor loads in the job (CLUSTER_NOTES traps 2, 3)."""

    def launch_merge_stats(self):
        # The driver merges the stats once the array is over: datatrove's merge job waits on
        # `afterok` and would pend forever behind a failed task (CLUSTER_NOTES trap 5).
        return None

    def get_sbatch_args(self, max_array: int = 1) -> dict:
        args = super().get_sbatch_args(max_array)
        # sbatch takes whole units only: 1.5 GB is written as 1536M.
        args["mem-per-cpu"] = f"{round(self.mem_per_cpu_gb * 1024)}M"
        # Unset partition / time limit: the cluster's defaults, not an empty `#SBATCH --time`.
        return {k: v for k, v in args.items() if v is not None}


def default_venv_activate() -> str | None:
    """The running interpreter's venv, so the job imports the same `curation` (CLUSTER_NOTES trap 4:
    the activate script, not the folder)."""
    activate = Path(sys.prefix) / "bin" / "activate"
    return str(activate) if sys.prefix != sys.base_prefix and activate.exists() else None


def _run_slurm(*, name, pipeline, tasks, workers, logging_dir, settings, record) -> dict[int, str]:
    import shutil

    for tool in ("sbatch", "squeue", "scontrol", "scancel"):
        if shutil.which(tool) is None:
            raise ExecutorError(f"executor.kind is slurm but `{tool}` is not on PATH: run curate where Slurm's "
                                "commands work (a login node), or start a local Slurm with .ci/cluster.sh")
    previous = record.previous or {}
    if previous.get("kind") == "slurm" and previous.get("job_id") and slurm_queue(previous["job_id"]):
        # A driver that died left its job running: wait for it rather than run its tasks twice.
        print(f"[{name}] Slurm job {previous['job_id']} of an earlier run is still queued: waiting for it", flush=True)
        _wait_slurm(previous["job_id"], name)
    executor = SlurmStageExecutor(
        pipeline=pipeline, tasks=tasks, workers=workers, logging_dir=logging_dir, skip_completed=True,
        partition=settings.get("partition"), time=settings.get("time"),
        cpus_per_task=settings.get("cpus_per_task", 1), mem_per_cpu_gb=settings.get("mem_per_cpu_gb", 2),
        job_name=f"{settings.get('job_name') or 'curation'}-{name}", qos=None,
        venv_path=settings.get("venv_path") or default_venv_activate(),
        sbatch_args=dict(settings.get("sbatch_args") or {}),
        slurm_logs_folder=str(Path(logging_dir) / "slurm_logs"),
    )
    ranks = executor.get_incomplete_ranks()
    try:
        executor.launch_job()
    except subprocess.CalledProcessError as err:
        raise ExecutorError(f"sbatch refused stage '{name}' (exit code {err.returncode}; its message is above); "
                            f"launch script: {Path(logging_dir) / 'launch_script.slurm'}") from None
    job_id = str(executor.job_id)
    if job_id == "-1":  # every task was already done
        return {}
    record.update(job_id=job_id, ranks=ranks, slurm_logs=str(Path(logging_dir) / "slurm_logs"))
    print(f"[{name}] Slurm job {job_id}: {len(ranks)} task(s); logs in {logging_dir}", flush=True)
    try:
        _wait_slurm(job_id, name)
    except BaseException:
        subprocess.run(["scancel", job_id], capture_output=True)  # a new run must not race this one
        raise
    problems = {}
    for rank in executor.get_incomplete_ranks():
        problems[rank] = slurm_task_end(job_id, ranks.index(rank), logging_dir) if rank in ranks else "not run"
    merge_stats(logging_dir, tasks)
    return problems


def _wait_slurm(job_id: str, name: str) -> None:
    """Until no task of the job is queued or running; a job that can never start is cancelled."""

    failures = 0
    while True:
        try:
            queue = slurm_queue(job_id)
            failures = 0
        except RuntimeError as err:
            failures += 1
            if failures > SQUEUE_FAILURES_TOLERATED:
                raise ExecutorError(f"stage '{name}': cannot watch Slurm job {job_id}: {err}") from None
            time.sleep(SLURM_POLL_SECONDS)
            continue
        if not queue:
            return
        stuck = {reason for state, reason in queue.values() if state == "PD" and reason in SLURM_STUCK_REASONS}
        if stuck and all(state == "PD" for state, _ in queue.values()):
            subprocess.run(["scancel", job_id], capture_output=True)
            raise ExecutorError(f"stage '{name}': Slurm will never start job {job_id} ({', '.join(sorted(stuck))}); "
                                "it was cancelled: fix executor.partition / time / cpus_per_task / mem_per_cpu_gb")
        time.sleep(SLURM_POLL_SECONDS)


# --- Ray -------------------------------------------------------------------------------------


def _connect_ray(address: str | None) -> str:
    """Join the existing cluster; never start a private one (CLUSTER_NOTES trap 9)."""
    try:
        import ray
    except ImportError:
        raise ExecutorError("executor.kind is ray but ray is not installed here: pip install ray") from None
    address = address or os.environ.get("RAY_ADDRESS") or "auto"
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if address != "auto" and port.isdigit():
        import socket

        try:  # ray.init retries an unreachable address for minutes before it says anything
            socket.create_connection((host, int(port)), timeout=10).close()
        except OSError as err:
            raise ExecutorError(f"no Ray cluster answers at {address} ({err}); start one with `ray start --head` "
                                "or set executor.ray_address / $RAY_ADDRESS") from None
    if not ray.is_initialized():
        try:
            ray.init(address=address, logging_level="ERROR", log_to_driver=False)
        except Exception as err:  # noqa: BLE001 - ConnectionError, RuntimeError, ValueError, by version
            raise ExecutorError(f"cannot connect to a Ray cluster at {address!r} ({type(err).__name__}: {err}); "
                                "start one with `ray start --head` or set executor.ray_address / $RAY_ADDRESS") from None
    return address


def _check_ray_fits(cpus: int, mem_per_cpu_gb: float, address: str) -> None:
    """Ray waits forever, silently, for a task larger than every node (CLUSTER_NOTES trap 8)."""
    import ray

    nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
    need_mem = cpus * mem_per_cpu_gb * 2**30
    if any(r.get("CPU", 0) >= cpus and r.get("memory", 0) >= need_mem for r in nodes):
        return
    largest = max(nodes, key=lambda r: (r.get("CPU", 0), r.get("memory", 0)), default={})
    raise ConfigError(
        f"executor: each task asks for {cpus} CPU and {cpus * mem_per_cpu_gb:g} GB, but no node of the Ray "
        f"cluster at {address} has that much (largest: {largest.get('CPU', 0):g} CPU, "
        f"{largest.get('memory', 0) / 2**30:.1f} GB); lower executor.cpus_per_task or executor.mem_per_cpu_gb"
    )


class RayRankWorker:
    """The Ray actor that runs a job's ranks, in its own process.

    datatrove's `RankWorker` forks a `multiprocess` pool process per rank and waits on the pool;
    if that process dies (the kernel's OOM killer picks the process holding the memory, which is
    that one), the pool waits for its result forever and so does the run (CLUSTER_NOTES trap 10).
    Here the actor runs `_run_for_rank` itself: a task that dies takes the actor with it, Ray
    reports a `RayActorError`, and datatrove's loop resubmits the rank. The ranks of one job run
    one after another; as with the pool, every rank runs and the first error is raised after."""

    def get_node_ip(self) -> str:
        import ray

        return ray.util.get_node_ip_address()

    def run_for_rank(self, executor_ref, ranks: list[int], node_ips: list[str], node_idx: int) -> PipelineStats:
        import random

        os.environ["RAY_NODELIST"] = ",".join(node_ips)
        os.environ["RAY_NODEID"] = str(node_idx)
        node_rank = -1 if executor_ref.nodes_per_task == 1 else node_idx
        first = 0 if executor_ref.log_first else 1
        error = None
        for rank_id, rank in enumerate(ranks, first):
            time.sleep(random.randint(0, executor_ref.randomize_start_duration))
            try:
                executor_ref._run_for_rank(rank, rank_id, node_rank=node_rank)
            except Exception as err:  # noqa: BLE001 - raised once every rank has run
                error = error or err
        if error is not None:
            raise error
        return PipelineStats()


def _run_ray(*, name, pipeline, tasks, workers, logging_dir, settings, record) -> dict[int, str]:
    import datatrove.executor.ray as datatrove_ray
    from datatrove.executor import RayPipelineExecutor

    address = _connect_ray(settings.get("ray_address"))
    cpus, mem = settings.get("cpus_per_task", 1), settings.get("mem_per_cpu_gb", 2)
    _check_ray_fits(cpus, mem, address)
    record.update(ray_address=address)
    # No `time=`: a timed-out task crashes datatrove's Ray loop (CLUSTER_NOTES trap 7).
    executor = RayPipelineExecutor(pipeline=pipeline, tasks=tasks, workers=workers, logging_dir=logging_dir,
                                   cpus_per_task=cpus, mem_per_cpu_gb=mem, skip_completed=True)
    problems: dict[int, str] = {}
    # datatrove's task manager makes its actors from the module's `RankWorker`: ours, for this run.
    datatrove_worker, datatrove_ray.RankWorker = datatrove_ray.RankWorker, RayRankWorker
    try:
        executor.run()
    except Exception as err:  # noqa: BLE001 - reported per task below
        problems = {r: f"the Ray run failed: {type(err).__name__}: {err}" for r in executor.get_incomplete_ranks()}
    finally:
        datatrove_ray.RankWorker = datatrove_worker
    # datatrove's Ray loop only warns "Only 3/4 tasks completed" (CLUSTER_NOTES trap 11).
    for rank in executor.get_incomplete_ranks():
        error = last_error(Path(logging_dir) / "logs" / f"task_{rank:05d}.log")
        problems.setdefault(rank, f"did not finish under Ray{f': {error}' if error else ''}")
    merge_stats(logging_dir, tasks)
    return problems


# --- shared ----------------------------------------------------------------------------------


def merge_stats(logging_dir, tasks: int) -> PipelineStats:
    """Sum the per-task stats into `stats.json`, as datatrove's merge step does."""
    from datatrove.io import get_datafolder

    folder = get_datafolder(logging_dir)
    stats = PipelineStats()
    for rank in range(tasks):
        path = f"stats/{rank:05d}.json"
        if folder.isfile(path):
            with folder.open(path, "rt") as fh:
                stats += PipelineStats.from_json(json.load(fh))
    with folder.open("stats.json", "wt") as fh:
        stats.save_to_disk(fh)
    return stats


def incomplete_ranks(logging_dir: str, tasks: int) -> list[int]:
    done = Path(logging_dir) / "completions"
    return [r for r in range(tasks) if not (done / f"{r:05d}").exists()]
