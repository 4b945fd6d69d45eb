"""Run a pipeline: its recipe's runs in order, each a datatrove executor run with its own logging
folder (completions, stats, logs), so a re-run skips finished tasks. Between runs the outputs of
every task are checked, so a task that died is reported by name with its log instead of silently
shrinking the next run's input.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import nullcontext
from pathlib import Path

import pyarrow.parquet as pq

from curation import __version__
from curation.dedup.minhash import bands_rows
from curation.executors import (
    PipelineError,
    incomplete_ranks,
    run_stage,
)
from curation.forkserver import start_forkserver
from curation.inspect import DUCKDB_EXAMPLE, summary
from curation.io import task_file, write_json_atomic
from curation.layout import Layout
from curation.load import Pipeline
from curation.mirror import OutputMirror, stage_inputs
from curation.progress import ProgressPrinter
from curation.recipe import Run, recipe
from curation.report.build import ReportAhead, write_report
from curation.schema import ConfigError
from curation.steps import StepContext
from curation.tokenize.tokenizer import Tokenizer, load_tokenizer

__all__ = ["PipelineError", "run_pipeline", "execute", "guard_output_folder", "broken_outputs"]


def run_pipeline(pipeline: Pipeline, out: str | Path, *, tokenizer: Tokenizer | None = None,
                 progress: Callable[[str], None] = lambda msg: print(msg, flush=True)) -> Layout:
    """Resolve the tokenizer, build the recipe, execute its runs and print the summary."""
    cfg = pipeline.config
    mirror = OutputMirror.for_out(out)  # an output URL: the run works in a local mirror of it
    layout = Layout(mirror.local if mirror else out)
    recipe(StepContext(pipeline=pipeline, layout=layout))  # every step built and checked before anything slow
    if mirror:
        progress(f"curate: {mirror.url}: {mirror.pull()} file(s) fetched into its mirror {mirror.local}")
    fingerprinted, pipeline = pipeline, stage_inputs(pipeline)  # the run.json of a URL names the URL
    if tokenizer is None:
        tokenizer = load_tokenizer(cfg.tokenizer.name_or_path)
    ctx = StepContext(pipeline=pipeline, layout=layout, tokenizer_path=tokenizer.path, tokenizer_name=tokenizer.name)
    runs = recipe(ctx)
    guard_output_folder(fingerprinted, layout, [run.name for run in runs], removed_steps(runs, layout))
    progress(f"curate: {cfg.name} -> {layout.out}  (tokenizer {tokenizer.name}, {tokenizer.backend}, "
             f"{cfg.executor.tasks} tasks x {cfg.executor.workers} workers)")
    if cfg.dedup.near:
        near = cfg.dedup.near
        bands, rows = bands_rows(near)
        progress(f"near-dedup: Jaccard >= {near.threshold} over {near.n_grams}-grams, {near.num_perm} permutations "
                 f"-> {bands} bands x {rows} rows")
    start = time.time()
    report = ReportAhead(layout, runs)
    try:
        execute(runs, layout, executor=cfg.executor.model_dump(), progress=progress, mirror=mirror,
                after_run=report.after_run)
    finally:
        if mirror:  # what a failed run leaves (job.json, task logs) is what `curate status` reads
            mirror.push()
    progress(f"\nDone in {time.time() - start:.1f}s\n")
    json_path, html_path = write_report(layout.out, report)
    if mirror:
        mirror.push()
        progress(f"outputs: {mirror.url} (mirror: {mirror.local})")
    progress(summary(layout.out))
    progress("")
    progress(DUCKDB_EXAMPLE.format(out=layout.out))
    progress(f"\nreport: {html_path} (figures: {json_path})")
    return layout


def removed_steps(runs: list[Run], layout: Layout) -> list[str]:
    """The removed/<step>/ folders of a recipe, in the order its steps see documents."""
    return [folder.name for run in runs for folder in run.outputs() if folder.parent == layout.removed]


def guard_output_folder(pipeline: Pipeline, layout: Layout, stages: list[str], removed: list[str]) -> None:
    """A re-run into the same folder must be the same pipeline: otherwise finished tasks of a
    different config would be mixed into this one's outputs."""
    cfg = pipeline.config
    fingerprint = cfg.fingerprint()
    if layout.run_file.exists():
        previous = json.loads(layout.run_file.read_text())
        if previous.get("fingerprint") != fingerprint:
            raise ConfigError(
                f"{layout.out} holds a run of a different config (fingerprint {previous.get('fingerprint')}, "
                f"now {fingerprint}); use a new --out folder"
            )
        return
    write_json_atomic(layout.run_file, {"name": cfg.name, "fingerprint": fingerprint, "stages": stages, "removed_steps": removed,
                                        "config": cfg.model_dump(mode="json"), "code_version": __version__})


def broken_outputs(run: Run) -> dict[int, str]:
    """Tasks whose output is missing or unreadable, with the problem: such a task is not done,
    whatever its completion marker says."""
    broken: dict[int, str] = {}
    outputs = run.outputs()
    for rank in range(run.tasks):
        for folder in outputs:
            path = task_file(folder, rank)
            if not path.exists():
                broken[rank] = f"{path} is missing"
                break
            try:
                pq.read_metadata(path)
            except Exception as err:  # noqa: BLE001 - any unreadable file means "redo this task"
                broken[rank] = f"{path} is unreadable ({type(err).__name__})"
                break
    for path in run.files():
        if not path.exists():
            broken[0] = f"{path} is missing"
    for rank in range(run.tasks):
        if rank not in broken and (problem := run.check(rank)):
            broken[rank] = problem
    return broken


def execute(runs: list[Run], layout: Layout, *, executor: dict | None = None,
            progress: Callable[[str], None] = print, mirror: OutputMirror | None = None,
            after_run: Callable[[int], None] = lambda index: None) -> None:
    """Run the stages in order; between stages, every task's output is checked. With a mirror,
    each task uploads its files and then its completion marker; the driver uploads the rest.
    `after_run(i)` is called when run i is done (the report starts its early figures there)."""
    executor = executor or {"kind": "local"}
    if executor["kind"] == "local" and any(run.workers > 1 for run in runs):
        start_forkserver()
    ahead = _prepare_ahead(runs[1:], layout)
    try:
        _execute(runs, layout, executor=executor, progress=progress, mirror=mirror, ahead=ahead, after_run=after_run)
    finally:
        for future in ahead.values():
            future.cancel()  # a failed run does not wait for the work of runs it never reaches


def _prepare_ahead(runs: list[Run], layout: Layout) -> dict[str, Future]:
    """Start, on one background thread of the driver, the prepare() that later runs can do before
    their inputs exist (e.g. the decontamination index, ~1.3 s that would otherwise delay the start
    of its stage). Only runs with tasks left; an error is raised when its run starts."""
    todo = [run for run in runs if run.ahead_steps() and incomplete_ranks(str(layout.logs / run.name), run.tasks)]
    if not todo:
        return {}
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="prepare-ahead")
    futures = {run.name: pool.submit(run.prepare_ahead) for run in todo}
    pool.shutdown(wait=False)
    return futures


def _execute(runs: list[Run], layout: Layout, *, executor: dict, progress: Callable[[str], None],
             mirror: OutputMirror | None, ahead: dict[str, Future], after_run: Callable[[int], None]) -> None:
    for index, run in enumerate(runs):
        if mirror:
            run.steps.append(mirror.publisher(run.name))
        logging_dir = layout.logs / run.name
        for rank, problem in broken_outputs(run).items():
            marker = logging_dir / "completions" / f"{rank:05d}"
            if marker.exists():
                progress(f"[{run.name}] task {rank} was marked done but {problem}: running it again")
                if mirror:
                    mirror.forget(marker)  # the store's marker too, or the next pull brings it back
                else:
                    marker.unlink()
        todo = incomplete_ranks(str(logging_dir), run.tasks)
        progress(f"[{run.name}] {run.tasks - len(todo)}/{run.tasks} tasks already done; running {len(todo)}")
        problems = {}
        if todo:
            if run.name in ahead:
                ahead[run.name].result()  # raises what its early prepare raised
            run.prepare()
            if mirror:  # what the tasks will read (the ingest assignment) reaches the store before any marker
                mirror.push()
            with ProgressPrinter(run.name, logging_dir, run.tasks) if run.metered else nullcontext():
                problems = run_stage(kind=executor["kind"], name=run.name, pipeline=run.steps, tasks=run.tasks,
                                     workers=run.workers, logging_dir=str(logging_dir), settings=executor)
        for rank, problem in broken_outputs(run).items():
            problems.setdefault(rank, problem)
        if problems:
            bad = sorted(problems)
            detail = "; ".join(f"task {r}: {problems[r]}" for r in bad[:5])
            logs = ", ".join(str(logging_dir / "logs" / f"task_{r:05d}.log") for r in bad[:5])
            raise PipelineError(
                f"run '{run.name}': task(s) {bad} did not complete ({detail}); logs: {logs}; "
                "fix the cause and re-run the same command: finished tasks are skipped"
            )
        run.finish()
        stats = logging_dir / "stats.json"
        if stats.exists():
            layout.stats.mkdir(parents=True, exist_ok=True)
            (layout.stats / f"{run.name}.json").write_bytes(stats.read_bytes())
        if mirror:
            mirror.push()
        after_run(index)
