"""The peak_memory step records each task's own peak resident memory as a datatrove stat, and the
report reads it as the memory of the stage."""

from __future__ import annotations

import json

from datatrove.data import Document
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.base import PipelineStep

from curation.report import runinfo
from curation.report.memory import PEAK_RSS_STAT, PeakMemory

MiB = 2**20


class Allocate(PipelineStep):
    """Task 0 holds 128 MiB for a moment, task 1 64 MiB: each task's peak differs by a known amount."""

    name = "allocate"

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        block = bytearray((2 - rank) * 64 * MiB)
        block[::4096] = b"x" * len(block[::4096])  # touch every page: resident, not just reserved
        yield Document(text=str(len(block)), id=str(rank))
        del block


def test_peak_memory_per_task_and_per_stage(tmp_path):
    logs = tmp_path / "out" / "logs" / "alloc"
    # one worker runs both tasks in turn: the second task's peak must not be the first's
    LocalPipelineExecutor([Allocate(), PeakMemory()], tasks=2, workers=1, logging_dir=str(logs)).run()
    per_task = [json.loads((logs / "stats" / f"{r:05d}.json").read_text()) for r in range(2)]
    peaks = [next(s["stats"][PEAK_RSS_STAT]["total"] for s in t if PEAK_RSS_STAT in s.get("stats", {}))
             for t in per_task]
    # task 1 held 64 MiB less than task 0 did before it, in the same process: without a reset per
    # task it would report task 0's peak
    assert 48 * MiB < peaks[0] - peaks[1] < 80 * MiB, [p / MiB for p in peaks]
    (logs / "job.json").write_text(json.dumps({"kind": "local", "tasks": 2, "started": 1.0, "finished": 3.5}))
    (stage,) = runinfo.stages(tmp_path / "out")
    assert stage["peak_rss_bytes"] == max(peaks) and stage["wall_seconds"] == 2.5
