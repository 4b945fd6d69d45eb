"""Exact deduplication by content hash, global across tasks.

Three parts with file barriers between them, so it runs under any datatrove executor:
`ContentHasher` (per task) stores a hash with each document; `ExactDedupPlan` (per hash bucket)
reads only the hash and keep-rule columns of every task's output and decides which copy survives
(`curation.dedup.keep`: license > stars > newer date > id);
`ExactDedupFilter` (per task) drops the others into `removed/exact_dedup/` with the id kept.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import xxhash
from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from curation.dedup.keep import KEEP_COLUMNS, KEEP_ORDER_SQL
from curation.dedup.near import cluster_tasks, near_folders, near_levels, removal_files
from curation.io import task_file, write_table_atomic
from curation.split import input_tasks
from curation.steps import Described, DropStep, expect_task_files

STEP = "exact_dedup"



def content_hash(text: str) -> str:
    return xxhash.xxh3_128_hexdigest(text.encode("utf-8", "surrogatepass"))


class ContentHasher(Described, PipelineStep):
    name = "hash"
    type = "#️⃣ - HASHER"

    @classmethod
    def from_config(cls, ctx) -> ContentHasher:
        return cls()  # every pipeline hashes: exact dedup and docs/ content_hash read it

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        for doc in data:
            with self.track_time():
                doc.metadata["content_hash"] = content_hash(doc.text)
            yield doc


class ExactDedupPlan(Described, PipelineStep):
    """For the hash bucket `rank`: one row (id, kept_id, task) per document that is a duplicate."""

    name = "exact_dedup_plan"
    type = "🫂 - DEDUP"

    def __init__(self, docs_folder: str, doc_tasks: int, output_folder: str, repo_removals_folder: str | None = None,
                 repo_removal_tasks: int = 1):
        """repo_removals_folder: repositories removed as a whole by repository-level near-dedup;
        their files take no part, so a kept copy is never one that leaves with its repository."""
        super().__init__()
        self.docs_folder = docs_folder
        self.doc_tasks = doc_tasks
        self.output_folder = output_folder
        self.repo_removals_folder, self.repo_removal_tasks = repo_removals_folder, repo_removal_tasks

    @classmethod
    def from_config(cls, ctx) -> ExactDedupPlan | None:
        cfg = ctx.config
        if not cfg.dedup.exact:
            return None
        repo_level = "repo" in near_levels(cfg)
        return cls(str(ctx.layout.filtered), cfg.executor.tasks, str(ctx.layout.exact),
                   repo_removals_folder=str(near_folders(ctx.layout, "repo").removals) if repo_level else None,
                   repo_removal_tasks=cluster_tasks(cfg))

    def outputs(self) -> list[Path]:
        return [Path(self.output_folder)]

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        files = [str(f) for f in expect_task_files(self.docs_folder, self.doc_tasks)]
        params = {"files": files, "world": world_size, "rank": rank}
        skip_removed_repos = ""
        if self.repo_removals_folder:
            params["repos"] = [str(p) for p in removal_files(self.repo_removals_folder, self.repo_removal_tasks)]
            skip_removed_repos = "AND (repo || '@' || rev) NOT IN (SELECT id FROM read_parquet($repos))"
        con = duckdb.connect()
        con.execute("SET threads TO 1")
        table = con.sql(
            f"""
            WITH bucket AS (
                SELECT content_hash, task, {', '.join(KEEP_COLUMNS)}
                FROM read_parquet($files)
                WHERE ('0x' || substr(content_hash, 1, 8))::UBIGINT % $world = $rank {skip_removed_repos}
            ), ranked AS (
                SELECT id, task, first_value(id) OVER (PARTITION BY content_hash ORDER BY {KEEP_ORDER_SQL}) AS kept_id
                FROM bucket
            )
            SELECT id, kept_id, task FROM ranked WHERE id <> kept_id ORDER BY id
            """,
            params=params,
        ).to_arrow_table()
        self.stat_update("duplicates", value=table.num_rows)
        write_table_atomic(table, task_file(self.output_folder, rank))
        return
        yield  # a generator, like every step


class ExactDedupFilter(DropStep):
    """Drops this task's documents that the plan marked as duplicates."""

    step = STEP

    def __init__(self, *, plan_folder: str, plan_tasks: int, removed_folder: str, split_plan: str | None = None):
        """split_plan: the tokenize split (`curation.split`): which ingest tasks' documents this
        task reads; without it, task r reads ingest task r's."""
        super().__init__(removed_folder=removed_folder)
        self.plan_folder = plan_folder
        self.plan_tasks = plan_tasks
        self.split_plan = split_plan
        self._duplicates: dict[str, str] = {}

    @classmethod
    def from_config(cls, ctx) -> ExactDedupFilter | None:
        cfg = ctx.config
        if not cfg.dedup.exact:
            return None
        return cls(plan_folder=str(ctx.layout.exact), plan_tasks=cfg.dedup.tasks, removed_folder=ctx.layout.removed,
                   split_plan=str(ctx.layout.split_plan))

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        files = [str(f) for f in expect_task_files(self.plan_folder, self.plan_tasks)]
        rows = duckdb.execute("SELECT id, kept_id FROM read_parquet($files) WHERE list_contains($tasks, task)",
                              {"files": files, "tasks": input_tasks(self.split_plan, rank)}).fetchall()
        self._duplicates = dict(rows)
        yield from super().run(data, rank, world_size)

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        kept = self._duplicates.get(doc.id)
        if kept is None:
            return True
        doc.metadata.update(kept_id=kept, similarity=1.0)
        return False, "exact_duplicate"
