"""The recipe of a stage: a short list of datatrove runs, each a list of steps built from the typed
config. What a run must leave (removed/ folders, docs/ columns, task files, content checks) is
derived from its steps (`curation.steps`), never restated here.

    ingest             read inputs, trajectories -> filter -> redact -> hash [-> MinHash signatures] -> work/filtered/
    near_repo_buckets  [repo-level near-dup] candidate pairs of repositories -> dedup/near/repo/edges/
    near_repo_components [repo-level, cluster_tasks > 1] local components of a share of the edges
    near_repo_cluster  [repo-level near-dup] one repository kept per cluster -> dedup/near/repo/removals/
    dedup              exact-duplicate plan over every task's hashes -> dedup/exact/
    near_buckets       [near-dup] candidate pairs from shared band keys, verified -> dedup/near/edges/
    near_components    [near-dup, cluster_tasks > 1] local components of a share of the edges
    near_cluster       [near-dup] components merged, one copy kept per cluster -> dedup/near/removals/
    tokenize           rows of work/filtered/ split by surviving bytes (driver) -> drop duplicates, score,
                       [assemble] -> docs/ -> [chat ids + loss masks] -> tokens/<source>/
    scatter            [best_fit] mixture plan + sample (driver), each task's token files into every shuffle bucket -> work/mix/
    pack               each bucket (concat: token file) packed into its own shards -> shards/; index.json (driver)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from curation.agent.reader import TrajectoryReader
from curation.agent.redact import TrajectoryRedact
from curation.agent.tokens import TrajectoryTokenizer
from curation.assemble.step import RepoAssembler
from curation.decontam.step import Decontaminate
from curation.dedup.cluster import NearDedupCluster, NearDedupComponents
from curation.dedup.exact import ContentHasher, ExactDedupFilter, ExactDedupPlan
from curation.dedup.near import (
    MinhashSigner,
    NearDedupBuckets,
    NearDedupFilter,
    NearRepoDedupFilter,
    cluster_tasks,
)
from curation.documents import META_COLUMNS
from curation.encode.step import TokenizeStep
from curation.filters.step import CodeFileFilter
from curation.filters.text_step import TextFileFilter
from curation.ingest.reader import INGEST_TOTALS, IngestReader
from curation.mixture.step import (
    MixPackStep,
    MixScatterStep,
    PackStep,
    pack_tasks,
    scatter_tasks,
)
from curation.progress import ProgressMeter
from curation.quality.scorer import QualityScorer
from curation.quality.select import ScoreThresholdFilter
from curation.redact.step import Redact, RedactionLimit
from curation.repo.step import SyntaxTagger
from curation.report.memory import PeakMemory
from curation.schema import ConfigError
from curation.split import SplitDocSource
from curation.steps import DocSink, StepContext, merged_columns
from curation.swe.reader import SweReader
from curation.text.inputs import TextDocsReader
from curation.text.route import TextRouter


@dataclass
class Run:
    """One datatrove executor run: its tasks run `steps` in order, with a file barrier after it."""

    name: str
    tasks: int
    workers: int
    steps: list = field(default_factory=list)

    @property
    def metered(self) -> bool:
        return any(isinstance(step, ProgressMeter) for step in self.steps)

    def prepare(self) -> None:
        for step in self.steps:
            step.prepare()

    def ahead_steps(self) -> list:
        """The steps whose prepare() needs nothing from earlier runs (`Described.prepare_ahead`)."""
        return [step for step in self.steps if getattr(step, "prepare_ahead", False)]

    def prepare_ahead(self) -> None:
        for step in self.ahead_steps():
            step.prepare()

    def finish(self) -> None:
        for step in self.steps:
            step.finish(self.tasks)

    def outputs(self) -> list[Path]:
        """Folders that must hold one Parquet file per task when the run is done."""
        return [folder for step in self.steps for folder in step.outputs()]

    def files(self) -> list[Path]:
        return [path for step in self.steps for path in step.files()]

    def check(self, rank: int) -> str | None:
        for step in self.steps:
            if problem := step.check(rank):
                return problem
        return None


def build(ctx: StepContext, *items) -> list:
    """Steps from step classes (built from the config; None: turned off) and ready instances."""
    steps = [item.from_config(ctx) if isinstance(item, type) else item for item in items]
    return [s for s in steps if s is not None]


def recipe(ctx: StepContext) -> list[Run]:
    cfg, out = ctx.config, ctx.layout
    tasks, workers = cfg.executor.tasks, cfg.executor.workers
    bucket_tasks = cfg.dedup.near.bucket_tasks if cfg.dedup.near else 1
    clusters = cluster_tasks(cfg)

    # Redaction before the hashes: exact and near dedup compare the text that is trained on.
    # Trajectories after the progress meter: its totals are the bytes ingest assigned each task.
    ingest = build(ctx, IngestReader, SweReader, TextDocsReader, ProgressMeter(logging_dir=out.logs / "ingest", totals_file=INGEST_TOTALS.format(
        work=out.work)), TrajectoryReader, CodeFileFilter, TextFileFilter, Redact, RedactionLimit, TrajectoryRedact, ContentHasher,
                   MinhashSigner)
    # The tokenize tasks read contiguous row ranges of the ingest files, balanced by the bytes that
    # survive exact dedup (curation.split), not ingest task r's file as task r.
    source = SplitDocSource(out.filtered, files=tasks, tasks=tasks, plan_file=out.split_plan,
                            totals_file=out.split_totals, exact_folder=out.exact if cfg.dedup.exact else None,
                            exact_tasks=cfg.dedup.tasks, completions=out.logs / "tokenize" / "completions")
    curate = build(ctx, source, ProgressMeter(logging_dir=out.logs / "tokenize", totals_file=out.split_totals),
                   NearRepoDedupFilter, ExactDedupFilter, NearDedupFilter,
                   QualityScorer, ScoreThresholdFilter, Decontaminate, TextRouter, SyntaxTagger, RepoAssembler)
    tokenize = build(ctx, TrajectoryTokenizer, TokenizeStep)
    columns = merged_columns(ingest + curate + tokenize)  # docs/ carries what the ingest run wrote too
    check_thresholds(ctx, columns)

    runs = [
        Run("ingest", tasks, workers, ingest + [DocSink(out.filtered, merged_columns(ingest))]),
        Run("near_repo_buckets", bucket_tasks, min(workers, bucket_tasks), build(ctx, repo(NearDedupBuckets, ctx))),
        Run("near_repo_components", clusters, min(workers, clusters), build(ctx, repo(NearDedupComponents, ctx))),
        Run("near_repo_cluster", clusters, min(workers, clusters), build(ctx, repo(NearDedupCluster, ctx))),
        Run("dedup", cfg.dedup.tasks, min(workers, cfg.dedup.tasks), build(ctx, ExactDedupPlan)),
        Run("near_buckets", bucket_tasks, min(workers, bucket_tasks), build(ctx, NearDedupBuckets)),
        Run("near_components", clusters, min(workers, clusters), build(ctx, NearDedupComponents)),
        Run("near_cluster", clusters, min(workers, clusters), build(ctx, NearDedupCluster)),
        Run("tokenize", tasks, workers, curate + [DocSink(out.docs, columns)] + tokenize),
        Run("scatter", scatter_tasks(cfg), min(workers, scatter_tasks(cfg)), build(ctx, MixScatterStep)),
        Run("pack", pack_tasks(cfg), min(workers, pack_tasks(cfg)), build(ctx, MixPackStep, PackStep)),
    ]
    for run in runs:  # last: its generator starts first, so it sees the whole task's memory
        run.steps.append(PeakMemory())
    return [run for run in runs if len(run.steps) > 1]


def repo(step_class, ctx: StepContext):
    """The repository-level instance of a near-dedup stage (None when that level is off)."""
    return step_class.from_config(ctx, level="repo")


def check_thresholds(ctx: StepContext, columns: dict[str, str]) -> None:
    """A threshold must name a column some step of this pipeline writes: a typo would otherwise
    keep every document (a missing score means "keep")."""
    q = ctx.config.quality
    known = set(columns) | set(META_COLUMNS)
    bad = [key for key in (q.thresholds if q else {}) if key.partition(".")[0] not in known]
    if bad:
        raise ConfigError(f"{ctx.pipeline.path}: quality.thresholds: {', '.join(bad)}: no step of this pipeline "
                          f"writes such a column (it writes: {', '.join(sorted(columns))})")
