"""The forkserver that local task processes fork from, started as early as a run can tell it
needs one.

Its preload (`FORKSERVER_PRELOAD`: the recipe's modules, numba's compiled kernels, the tree-sitter
grammars) takes ~1.5-2 s in its own process, and the first task of a run waits for it. Started
when the run starts executing, it began after the driver's own imports, config and tokenizer
(~1.9 s), and it was the critical path to the first ingest task. `curate run` now starts it before
the driver imports anything heavy, when the config file and the command line say the tasks will
run locally on more than one worker (`run_needs_forkserver`); on two cores the two imports then
run side by side. This module imports only the standard library and `yaml` at call time, so the
CLI can use it before the rest of curation.
"""

from __future__ import annotations

from pathlib import Path

FORKSERVER_PRELOAD = ["curation.recipe", "curation.warm"]


def start_forkserver() -> None:
    """Start the forkserver now: it imports `FORKSERVER_PRELOAD` in its own process while the
    driver goes on. Returns at once; the first fork waits for the preload. A second call is a no-op."""
    import multiprocess
    from multiprocess import forkserver

    multiprocess.get_context("forkserver").set_forkserver_preload(FORKSERVER_PRELOAD)
    forkserver.ensure_running()


def run_needs_forkserver(pipeline: str | Path, overrides: list[str], executor: str | None = None,
                         workers: int | None = None) -> bool:
    """Whether `curate run` will fork local task processes: executor kind `local` and more than
    one worker, read from the config file, its `--set executor.kind=` / `executor.workers=` and the
    `--executor` / `--workers` flags, the way `curation.load` applies them (last wins, flags over
    both). False when it cannot tell (an unreadable file, a value that is not a number): the run
    then starts the forkserver when it starts executing, as it always did."""
    import yaml

    try:
        data = yaml.safe_load(Path(pipeline).read_text(encoding="utf-8")) or {}
        section = data.get("executor") or {}
        kind, count = section.get("kind", "local"), section.get("workers")
        for item in overrides:
            key, _, raw = item.partition("=")
            if key.strip() == "executor.kind":
                kind = yaml.safe_load(raw)
            elif key.strip() == "executor.workers":
                count = yaml.safe_load(raw)
            elif key.strip() == "executor":
                return False  # a whole section on the command line: leave it to the run
        kind = executor or kind
        count = workers if workers is not None else count
        # No workers given: the config's default runs several (ExecutorConfig.workers).
        return kind == "local" and (count is None or int(count) > 1)
    except (OSError, ValueError, TypeError, AttributeError, yaml.YAMLError):
        return False
