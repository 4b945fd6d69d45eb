"""Peak memory of a task, recorded as a datatrove stat, for the report's "memory per stage".

datatrove records time per step but not memory. `PeakMemory`, the last step of a run's
pipeline, records the task's peak resident set size. Placed last, its generator is the first
one started (datatrove chains lazy generators and drains the last), so it can reset the peak
before any other step of the task has run, and it reads the peak after all of them finished.

The peak is Linux's VmHWM (/proc/self/status), reset through /proc/self/clear_refs, so a worker
process that runs several tasks reports each task's own peak. Where the reset is not allowed,
ru_maxrss (the process's lifetime peak) is recorded instead, an upper bound.
"""

from __future__ import annotations

import resource
import sys
from pathlib import Path

from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from curation.steps import Described

PEAK_RSS_STAT = "peak_rss_bytes"


def reset_peak_rss() -> bool:
    """Reset this process's high-water mark of resident memory; False where Linux does not allow it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_rss_bytes() -> int:
    """The high-water mark of resident memory since the last reset (or since the process started)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024  # kB
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # bytes on macOS, kB on Linux


class PeakMemory(Described, PipelineStep):
    """Passes documents through; records the task's peak resident memory as `peak_rss_bytes`."""

    name = "peak_memory"
    type = "📏 - MEMORY"

    @classmethod
    def from_config(cls, ctx) -> PeakMemory:
        return cls()  # every run measures: the report's memory per stage reads it

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        reset_peak_rss()
        if data:
            yield from data
        self.stat_update(PEAK_RSS_STAT, value=peak_rss_bytes(), unit="task")
