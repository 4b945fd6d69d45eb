"""Executors: how the tasks of one stage run. datatrove's executors, behind one function.

`run_stage` runs the unfinished tasks of one stage and returns the tasks that did not finish,
each with what is known of why; `curation.pipeline` validates the outputs and only then starts
the next stage. Local runs use `TaskProcessExecutor` below.

datatrove's `LocalPipelineExecutor` runs tasks in a process pool; when a worker process dies (OOM
killer, `kill -9`), the pool waits for its result forever (CLUSTER_NOTES trap 10). Here every task
runs in its own process through datatrove's own `_run_for_rank` (logs, stats, completion markers
unchanged), and a task whose process dies is reported as failed while the others finish.
"""

from __future__ import annotations

import json
import time
from copy import deepcopy

from datatrove.executor import LocalPipelineExecutor
from datatrove.utils.stats import PipelineStats


def _run_rank(executor: "TaskProcessExecutor", rank: int) -> None:
    executor._run_for_rank(rank)


class TaskProcessExecutor(LocalPipelineExecutor):
    """One process per task, at most `workers` at once; `failed` holds the ranks whose process
    exited abnormally, with their exit codes."""

    POLL_SECONDS = 0.05

    def run(self):
        import multiprocess

        self._launched = True
        self.failed: dict[int, int] = {}
        todo = list(self.get_incomplete_ranks())
        if not todo:
            return PipelineStats()
        self.save_executor_as_json()
        if self.workers == 1:
            # One at a time: in this process, like datatrove, with no process start-up cost.
            pipeline = self.pipeline
            for rank in todo:
                self.pipeline = deepcopy(pipeline)
                try:
                    self._run_for_rank(rank)
                except Exception:  # noqa: BLE001 - the task's log has the traceback
                    self.failed[rank] = 1
            self.pipeline = pipeline
            return self._merge_stats()
        ctx = multiprocess.get_context(self.start_method)
        running = {}
        while todo or running:
            while todo and len(running) < self.workers:
                rank = todo.pop(0)
                proc = ctx.Process(target=_run_rank, args=(self, rank), name=f"task-{rank}")
                proc.start()
                running[rank] = proc
            for rank, proc in list(running.items()):
                if not proc.is_alive():
                    proc.join()
                    if proc.exitcode != 0:
                        self.failed[rank] = proc.exitcode
                    del running[rank]
            time.sleep(self.POLL_SECONDS)
        return self._merge_stats()

    def _merge_stats(self) -> PipelineStats:
        stats = PipelineStats()
        for rank in range(self.tasks):
            path = f"stats/{rank:05d}.json"
            if self.logging_dir.isfile(path):
                with self.logging_dir.open(path, "rt") as fh:
                    stats += PipelineStats.from_json(json.load(fh))
        with self.logging_dir.open("stats.json", "wt") as fh:
            stats.save_to_disk(fh)
        return stats


def run_stage(*, kind: str, name: str, pipeline: list, tasks: int, workers: int, logging_dir: str,
              settings: dict | None = None) -> dict[int, str]:
    """Run the incomplete tasks of one stage to the end; {rank: problem} for those that failed."""
    if kind != "local":
        raise ValueError(f"executor {kind!r} is not available; known: local")
    executor = TaskProcessExecutor(pipeline=pipeline, tasks=tasks, workers=workers, logging_dir=logging_dir,
                                   skip_completed=True)
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


def incomplete_ranks(logging_dir: str, tasks: int) -> list[int]:
    from pathlib import Path

    done = Path(logging_dir) / "completions"
    return [r for r in range(tasks) if not (done / f"{r:05d}").exists()]
