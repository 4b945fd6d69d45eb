"""Compile a pipeline config into a short chain of datatrove executor runs, and run it.

    ingest       (tasks)    read inputs → filter → hash [→ MinHash signatures] → work/filtered/
    dedup        (buckets)  exact-duplicate plan over every task's hashes → dedup/exact/
    near_buckets (bands)    [near-dup] candidate pairs from shared band keys, verified → dedup/near/edges/
    near_cluster (1 task)   [near-dup] clusters, one copy kept per cluster → dedup/near/removals/
    tokenize     (tasks)    drop duplicates → docs/ → tokens/<source>/
    pack     (1 task)   tokens → shards/ + index.json

Each run is a datatrove executor with its own logging folder (completions, stats, logs), so a
re-run skips finished tasks. Between runs the outputs of every task are checked, so a task that
died is reported by name with its log instead of silently shrinking the next run's input.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from curation import __version__
from curation.config import PipelineConfig, resolve_path
from curation.schema import ConfigError


class PipelineError(RuntimeError):
    """A run did not complete: names the run, the tasks and their logs."""


@dataclass
class Run:
    name: str
    tasks: int
    workers: int
    build: Callable[[], list]  # the datatrove steps, built when the run starts
    outputs: list[Path] = field(default_factory=list)  # folders that must hold one file per task
    files: list[Path] = field(default_factory=list)  # single files the run must leave (one-task runs)
    check: Callable[[int], str | None] | None = None  # content check of a task's outputs: the problem, or None


@dataclass
class Layout:
    """Every path of one output folder (DESIGN.md, "Output folder")."""

    out: Path

    def __post_init__(self):
        self.out = Path(self.out).resolve()
        o = self.out
        self.docs, self.removed, self.dedup, self.tokens = o / "docs", o / "removed", o / "dedup", o / "tokens"
        self.shards, self.stats, self.logs, self.work = o / "shards", o / "stats", o / "logs", o / "work"
        self.filtered = self.work / "filtered"
        self.run_file = o / "run.json"


def check_inputs(cfg: PipelineConfig, config_path: str | Path) -> None:
    """Fail before any work when an input path does not exist (a typo should not cost a run)."""
    problems = []
    for name, inp in cfg.inputs.items():
        for p in getattr(inp, "paths", []) or []:
            if not Path(p).expanduser().exists():
                problems.append(f"inputs.{name}.paths: {p}: no such file or directory")
    if cfg.filters is not None and not resolve_path(cfg.filters, config_path).exists():
        problems.append(f"filters: {cfg.filters}: no such file")
    if problems:
        raise ConfigError(f"{config_path}:\n  " + "\n  ".join(problems))


def compile_runs(cfg: PipelineConfig, layout: Layout, config_path: str | Path, tokenizer_path: str,
                 tokenizer_name: str) -> list[Run]:
    from curation.dedup.exact import ContentHasher, ExactDedupFilter, ExactDedupPlan
    from curation.dedup.near import (
        MinhashSigner,
        NearDedupBuckets,
        NearDedupCluster,
        NearDedupFilter,
        check_edges,
        check_removals,
        check_signatures,
    )
    from curation.filters.step import CodeFileFilter
    from curation.ingest.reader import IngestReader, plan_assignment
    from curation.pack.step import MixPackStep, PackStep
    from curation.steps import DocSink, DocSource
    from curation.tokenize.step import TokenizeStep

    tasks, workers = cfg.executor.tasks, cfg.executor.workers
    sources = sorted(cfg.inputs)
    inputs = {name: inp.model_dump() for name, inp in cfg.inputs.items()}
    removed = str(layout.removed)
    rules = str(resolve_path(cfg.filters, config_path)) if cfg.filters else None
    plan_tasks = cfg.dedup.tasks if cfg.dedup.exact else 0

    near = cfg.dedup.near
    file_level = bool(near) and near.level in ("file", "both")
    repo_level = bool(near) and near.level in ("repo", "both")
    near_dir = layout.dedup / "near"
    signatures, edges, removals = (near_dir / x for x in ("signatures", "edges", "removals"))
    repo_signatures, repo_edges, repo_removals = (near_dir / "repo" / x for x in ("signatures", "edges", "removals"))
    exact_plan = str(layout.dedup / "exact") if cfg.dedup.exact else None

    def ingest():
        assignment = layout.work / "ingest_assignment.json"
        if not assignment.exists():  # a resumed run keeps the assignment its finished tasks used
            write_json_atomic(assignment, plan_assignment(inputs, cfg.ingest.model_dump(), tasks))
        steps = [IngestReader(inputs, cfg.ingest.model_dump(), removed, cfg.limit, assignment_path=str(assignment))]
        if rules:
            steps.append(CodeFileFilter(rules, removed))
        steps.append(ContentHasher())
        if near:
            bands, rows = near.bands_rows()
            steps.append(MinhashSigner(str(signatures) if file_level else None, n_grams=near.n_grams,
                                       num_perm=near.num_perm, bands=bands, rows=rows, seed=near.seed,
                                       normalize_identifiers=near.normalize_identifiers,
                                       repo_folder=str(repo_signatures) if repo_level else None))
        return steps + [DocSink(str(layout.filtered))]

    def plan():
        return [ExactDedupPlan(str(layout.filtered), tasks, str(layout.dedup / "exact"),
                               repo_removals_folder=str(repo_removals) if repo_level else None)]

    def near_buckets(level: str):
        if level == "repo":
            return lambda: [NearDedupBuckets(str(repo_signatures), tasks, str(repo_edges), bands=near.bands_rows()[0],
                                             threshold=near.threshold, spill_folder=str(layout.work / "spill"))]
        return lambda: [NearDedupBuckets(
            str(signatures), tasks, str(edges), bands=near.bands_rows()[0], threshold=near.threshold,
            exact_plan_folder=exact_plan, exact_plan_tasks=plan_tasks,
            repo_removals_folder=str(repo_removals) if repo_level else None, docs_folder=str(layout.filtered),
            spill_folder=str(layout.work / "spill"))]

    def near_cluster(level: str):
        folders = (repo_edges, repo_signatures, repo_removals) if level == "repo" else (edges, signatures, removals)
        return lambda: [NearDedupCluster(str(folders[0]), near.bucket_tasks, str(folders[1]), tasks, str(folders[2]),
                                         threshold=near.threshold)]

    def tokenize():
        steps = [DocSource(str(layout.filtered))]
        if repo_level:
            steps.append(NearDedupFilter(str(repo_removals), removed, level="repo"))
        if cfg.dedup.exact:
            steps.append(ExactDedupFilter(str(layout.dedup / "exact"), plan_tasks, removed))
        if file_level:
            steps.append(NearDedupFilter(str(removals), removed))
        steps += quality_steps(cfg, config_path, removed)
        steps += assemble_steps(cfg, tokenizer_path, removed)
        fim = cfg.pack.fim.model_dump() if cfg.pack.fim and cfg.assemble.unit == "file" else None
        return steps + [
            DocSink(str(layout.docs), extra_columns=doc_columns(cfg, config_path)),
            TokenizeStep(tokenizer_path, str(layout.tokens), sources, threads=cfg.tokenizer.threads,
                         batch_docs=cfg.tokenizer.batch_docs, fim=fim),
        ]

    def pack():
        index_extra = {
            "stage": cfg.stage,
            "pipeline": cfg.name,
            "config": cfg.model_dump(mode="json", exclude={"executor"}),
            "code_version": __version__,
        }
        common = dict(tokens_folder=str(layout.tokens), sources=sources, token_tasks=tasks,
                      shards_folder=str(layout.shards), tokenizer_path=tokenizer_path, tokenizer_name=tokenizer_name,
                      seq_len=cfg.pack.seq_len, rows_per_shard=cfg.pack.rows_per_shard)
        if cfg.pack.method == "concat":
            return [PackStep(**common, index_extra={**index_extra, "mixture": None})]
        mixture = str(resolve_path(cfg.mixture, config_path)) if cfg.mixture else None
        return [MixPackStep(**common, work_folder=str(layout.work / "mix"), plan_path=str(layout.out / "plan.json"),
                            mixture_path=mixture, window_rows=cfg.pack.window_rows, buckets=cfg.pack.buckets,
                            index_extra=index_extra)]

    removed_steps = ["ingest"] + (["filter"] if rules else [])
    ingest_outputs = [layout.filtered] + [layout.removed / s for s in removed_steps]
    signature_folders = ([signatures] if file_level else []) + ([repo_signatures] if repo_level else [])
    ingest_outputs += signature_folders

    def check_ingest(rank: int) -> str | None:
        for folder in signature_folders:
            if problem := check_signatures(folder, layout.filtered, rank):
                return problem
        return None

    runs = [Run("ingest", tasks, workers, ingest, ingest_outputs, check=check_ingest if near else None)]
    if repo_level:  # before exact dedup: a copy it keeps must not leave with its repository
        runs.append(Run("near_repo_buckets", near.bucket_tasks, min(workers, near.bucket_tasks),
                        near_buckets("repo"), [repo_edges], check=lambda r: check_edges(repo_edges, r, near.threshold)))
        runs.append(Run("near_repo_cluster", 1, 1, near_cluster("repo"), [repo_removals],
                        check=lambda r: check_removals(repo_removals, near.threshold)))
    if cfg.dedup.exact:
        runs.append(Run("dedup", plan_tasks, min(workers, plan_tasks), plan, [layout.dedup / "exact"]))
    if file_level:
        runs.append(Run("near_buckets", near.bucket_tasks, min(workers, near.bucket_tasks), near_buckets("file"),
                        [edges], check=lambda r: check_edges(edges, r, near.threshold)))
        runs.append(Run("near_cluster", 1, 1, near_cluster("file"), [removals],
                        check=lambda r: check_removals(removals, near.threshold)))
    token_outputs = [layout.docs] + [layout.tokens / s for s in sources]
    if cfg.dedup.exact:
        token_outputs.append(layout.removed / "exact_dedup")
    if file_level:
        token_outputs.append(layout.removed / "near_dup")
    if repo_level:
        token_outputs.append(layout.removed / "near_dup_repo")
    if cfg.quality and cfg.quality.thresholds:
        token_outputs.append(layout.removed / "quality")
    if cfg.assemble.drop_syntax_errors:
        token_outputs.append(layout.removed / "syntax")
    runs.append(Run("tokenize", tasks, workers, tokenize, token_outputs))
    runs.append(Run("pack", 1, 1, pack, files=[layout.shards / "index.json"]))
    return runs


def _models(cfg: PipelineConfig, config_path) -> dict[str, str]:
    return {name: str(resolve_path(m.path, config_path)) for name, m in cfg.quality.models.items()}


def doc_columns(cfg: PipelineConfig, config_path) -> dict[str, str]:
    """The docs/ columns a pipeline adds to the fixed ones: one per score it writes."""
    columns: dict[str, str] = {}
    if cfg.assemble.unit == "repo":
        columns.update(files="list<string>", fim="string", fim_file="string", fim_span="string", order="string")
    else:
        if cfg.pack.fim:
            columns.update(fim="string")
        if cfg.assemble.syntax_signals:
            columns.update(has_syntax_error="bool", syntax_error_fraction="float64")
    q = cfg.quality
    if q is None:
        return columns
    if q.heuristic:
        columns.update(score_code_heuristic_v1="float64", signals_code_heuristic_v1="map<string,float64>")
    if q.models:
        from curation.quality.scorer import model_spec

        for name, path in _models(cfg, config_path).items():
            columns[f"score_{name}_v{model_spec(path)['version']}"] = "float64"
    if q.langid:
        columns.update(nl_lang="string", score_nl_lang_v1="float64")
    if q.langid_comments:
        columns.update(comment_lang="string", score_comment_lang_v1="float64")
    return columns


def assemble_steps(cfg: PipelineConfig, tokenizer_path: str, removed: str) -> list:
    """Stages 2 and 3: the files of each repository become dependency-ordered chunks that fit
    the context, with FIM on one file per chunk when asked (curation.repo.step)."""
    a = cfg.assemble
    from curation.repo.step import RepoAssembler, SyntaxTagger

    if a.unit == "file":
        if not a.syntax_signals:
            return []
        return [SyntaxTagger(removed if a.drop_syntax_errors else None, drop=a.drop_syntax_errors,
                             max_error_fraction=a.max_syntax_error_fraction)]

    return [
        SyntaxTagger(removed if a.drop_syntax_errors else None, drop=a.drop_syntax_errors,
                     max_error_fraction=a.max_syntax_error_fraction, keep_imports=True),
        RepoAssembler(tokenizer_path, a.max_tokens(cfg.pack.seq_len), order=a.order,
                      order_by_language=a.order_by_language, separators=a.separators.model_dump(),
                      keep_scc_together=a.keep_scc_together,
                      fim=cfg.pack.fim.model_dump() if cfg.pack.fim else None, seed=a.seed,
                      threads=cfg.tokenizer.threads),
    ]


def quality_steps(cfg: PipelineConfig, config_path, removed: str) -> list:
    q = cfg.quality
    if q is None:
        return []
    from curation.quality.scorer import QualityScorer
    from curation.quality.select import ScoreThresholdFilter

    steps = [QualityScorer(_models(cfg, config_path), heuristic=q.heuristic,
                           kinds={n: m.kinds for n, m in q.models.items() if m.kinds},
                           langid=q.langid, langid_comments=q.langid_comments)]
    if q.thresholds:
        steps.append(ScoreThresholdFilter(q.thresholds, removed, source=f"{config_path}: quality.thresholds"))
    return steps


def write_json_atomic(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


def guard_output_folder(cfg: PipelineConfig, layout: Layout) -> None:
    """A re-run into the same folder must be the same pipeline: otherwise finished tasks of a
    different config would be mixed into this one's outputs."""
    fingerprint = cfg.fingerprint()
    if layout.run_file.exists():
        previous = json.loads(layout.run_file.read_text())
        if previous.get("fingerprint") != fingerprint:
            raise ConfigError(
                f"{layout.out} holds a run of a different config (fingerprint {previous.get('fingerprint')}, "
                f"now {fingerprint}); use a new --out folder"
            )
        return
    write_json_atomic(layout.run_file, {"name": cfg.name, "fingerprint": fingerprint,
                                        "config": cfg.model_dump(mode="json"), "code_version": __version__})


def broken_outputs(run: Run) -> dict[int, str]:
    """Tasks whose output is missing or unreadable, with the problem: such a task is not done,
    whatever its completion marker says."""
    import pyarrow.parquet as pq

    from curation.io import task_file

    broken: dict[int, str] = {}
    for rank in range(run.tasks):
        for folder in run.outputs:
            path = task_file(folder, rank)
            if not path.exists():
                broken[rank] = f"{path} is missing"
                break
            try:
                pq.read_metadata(path)
            except Exception as err:  # noqa: BLE001 - any unreadable file means "redo this task"
                broken[rank] = f"{path} is unreadable ({type(err).__name__})"
                break
    for path in run.files:
        if not path.exists():
            broken[0] = f"{path} is missing"
    if run.check is not None:
        for rank in range(run.tasks):
            if rank not in broken and (problem := run.check(rank)):
                broken[rank] = problem
    return broken


def execute(runs: list[Run], layout: Layout, *, executor: dict | None = None,
            progress: Callable[[str], None] = print) -> None:
    """Run the stages in order; between stages, every task's output is checked."""
    from curation.executors import incomplete_ranks, run_stage

    executor = executor or {"kind": "local"}
    for run in runs:
        logging_dir = layout.logs / run.name
        for rank, problem in broken_outputs(run).items():
            marker = logging_dir / "completions" / f"{rank:05d}"
            if marker.exists():
                progress(f"[{run.name}] task {rank} was marked done but {problem}: running it again")
                marker.unlink()
        todo = incomplete_ranks(str(logging_dir), run.tasks)
        progress(f"[{run.name}] {run.tasks - len(todo)}/{run.tasks} tasks already done; running {len(todo)}")
        problems = {}
        if todo:
            problems = run_stage(kind=executor["kind"], name=run.name, pipeline=run.build(), tasks=run.tasks,
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
        stats = logging_dir / "stats.json"
        if stats.exists():
            layout.stats.mkdir(parents=True, exist_ok=True)
            (layout.stats / f"{run.name}.json").write_bytes(stats.read_bytes())
