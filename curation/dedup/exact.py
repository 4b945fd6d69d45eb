"""Exact deduplication by content hash, global across tasks.

Three parts with file barriers between them, so it runs under any datatrove executor:
`ContentHasher` (per task) stores a hash with each document; `ExactDedupPlan` (per hash bucket)
reads only the hash and keep-rule columns of every task's output and decides which copy survives
(`curation.dedup.keep`: license > stars > newer date > id);
`ExactDedupFilter` (per task) drops the others into `removed/exact_dedup/` with the id kept.
"""

from __future__ import annotations

from pathlib import Path

from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from curation.dedup.keep import KEEP_COLUMNS, KEEP_ORDER_SQL
from curation.documents import RemovedDocRow
from curation.io import REMOVED_SCHEMA, ParquetSink, task_file, write_table_atomic
from curation.steps import expect_task_files

STEP = "exact_dedup"



def content_hash(text: str) -> str:
    import xxhash

    return xxhash.xxh3_128_hexdigest(text.encode("utf-8", "surrogatepass"))


class ContentHasher(PipelineStep):
    name = "hash"
    type = "#️⃣ - HASHER"

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        for doc in data:
            with self.track_time():
                doc.metadata["content_hash"] = content_hash(doc.text)
            yield doc


class ExactDedupPlan(PipelineStep):
    """For the hash bucket `rank`: one row (id, kept_id, task) per document that is a duplicate."""

    name = "exact_dedup_plan"
    type = "🫂 - DEDUP"

    def __init__(self, docs_folder: str, doc_tasks: int, output_folder: str, repo_removals_folder: str | None = None):
        """repo_removals_folder: repositories removed as a whole by repository-level near-dedup;
        their files take no part, so a kept copy is never one that leaves with its repository."""
        super().__init__()
        self.docs_folder = docs_folder
        self.doc_tasks = doc_tasks
        self.output_folder = output_folder
        self.repo_removals_folder = repo_removals_folder

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        import duckdb

        files = [str(f) for f in expect_task_files(self.docs_folder, self.doc_tasks)]
        params = {"files": files, "world": world_size, "rank": rank}
        skip_removed_repos = ""
        if self.repo_removals_folder:
            params["repos"] = str(expect_task_files(self.repo_removals_folder, 1)[0])
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


class ExactDedupFilter(PipelineStep):
    """Drops this task's documents that the plan marked as duplicates."""

    name = "exact_dedup"
    type = "🫂 - DEDUP"

    def __init__(self, plan_folder: str, plan_tasks: int, removed_folder: str):
        super().__init__()
        self.plan_folder = plan_folder
        self.plan_tasks = plan_tasks
        self.removed_folder = removed_folder

    def _duplicates(self, rank: int) -> dict[str, str]:
        import duckdb

        files = [str(f) for f in expect_task_files(self.plan_folder, self.plan_tasks)]
        rows = duckdb.execute("SELECT id, kept_id FROM read_parquet($files) WHERE task = $rank",
                              {"files": files, "rank": rank}).fetchall()
        return dict(rows)

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        duplicates = self._duplicates(rank)
        sink = ParquetSink(Path(self.removed_folder) / STEP, REMOVED_SCHEMA, to_row=RemovedDocRow(STEP))
        sink.open(rank)
        with sink:
            for doc in data:
                kept = duplicates.get(doc.id)
                if kept is None:
                    self.stat_update("forwarded")
                    yield doc
                    continue
                self.stat_update("dropped")
                doc.metadata.update(filter_reason="exact_duplicate", kept_id=kept, similarity=1.0)
                sink.write(doc, rank)
