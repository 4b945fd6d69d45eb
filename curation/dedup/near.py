"""Near-duplicate removal as pipeline stages with file barriers between them.

    sign      (per task, in the ingest run)  code-aware shingles → MinHash → band keys
              → dedup/near/signatures/{rank}.parquet
    buckets   (per band group)               documents sharing a band key → candidate pairs,
              verified by estimated Jaccard → dedup/near/edges/{rank}.parquet
    components (per edge partition, when `cluster_tasks` > 1)  local connected components
              → dedup/near/components/{rank}.parquet (id, root)   [curation.dedup.cluster]
    cluster   (per cluster partition)        connected components merged over all tasks, one copy
              kept per cluster by the keep rule → dedup/near/removals/{rank}.parquet
              (id, kept_id, similarity, task)                      [curation.dedup.cluster]
    filter    (per task, in the tokenize run) drops this task's removals → removed/near_dup/

Joins between stages are by document id, never by position. Documents the exact-dedup plan
removes take no part: a cluster can never lose the copy that exact dedup kept.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from curation.dedup.checks import check_edges, check_signatures
from curation.dedup.minhash import (
    band_keys,
    bands_rows,
    densified,
    estimate_jaccard,
    is_empty_signature,
    merge_raw,
    raw_signature,
)
from curation.dedup.prose import SHINGLERS
from curation.io import DATE_TYPE, ParquetSink, task_file, write_table_atomic
from curation.split import input_tasks
from curation.steps import Described, DropStep, expect_task_files
from curation.swe.render import SWE_UNIT, change_text

STEP = "near_dup"


@dataclass(frozen=True)
class NearFolders:
    """The folders of one near-dedup level under dedup/near/ (repo level: dedup/near/repo/)."""

    signatures: Path
    edges: Path
    components: Path
    removals: Path


def near_folders(layout, level: str) -> NearFolders:
    base = layout.near if level == "file" else layout.near / "repo"
    return NearFolders(base / "signatures", base / "edges", base / "components", base / "removals")


def cluster_tasks(cfg) -> int:
    """Tasks of the cluster stage: each writes one removals file; readers read them all."""
    return cfg.dedup.near.cluster_tasks if cfg.dedup.near else 1


def removal_files(folder: str | Path, tasks: int) -> list[Path]:
    """Every removals file of a finished cluster stage (one per cluster task)."""
    return expect_task_files(folder, tasks)


@dataclass
class RepoBins:
    """The raw MinHash bins of one repository, merged file by file as its files arrive."""

    key: str
    raw: tuple
    meta: dict  # metadata of its first file: what the keep rule reads (license class, stars, date)


def near_levels(cfg) -> list[str]:
    """The near-dedup levels a pipeline runs, in run order: repositories first, then files."""
    near = cfg.dedup.near
    if near is None:
        return []
    return {"file": ["file"], "repo": ["repo"], "both": ["repo", "file"]}[near.level]


def signature_schema(num_perm: int, bands: int):

    return pa.schema([
        ("id", pa.string()),
        ("task", pa.int32()),
        ("row", pa.int64()),  # position in this task's file: (task, row) names a document until verified
        ("license_class", pa.string()),  # the keep rule's columns (curation.dedup.keep)
        ("stars", pa.int64()),
        ("date", DATE_TYPE),
        ("signature", pa.binary(4 * num_perm)),  # uint32[num_perm], little-endian
        ("band_keys", pa.list_(pa.uint64(), bands)),
    ])


def signature_matrix(column) -> np.ndarray:
    """uint32 (n, num_perm) from a column of signature blobs, fixed-size (Parquet) or not (DuckDB)."""

    n = len(column)
    if n == 0:
        return np.zeros((0, 0), dtype=np.uint32)
    if pa.types.is_fixed_size_binary(column.type):
        width = column.type.byte_width
        data = np.frombuffer(column.buffers()[1], dtype=np.uint8)[column.offset * width:(column.offset + n) * width]
    else:
        offsets = np.frombuffer(column.buffers()[1], dtype=np.int32 if pa.types.is_binary(column.type) else np.int64)
        offsets = offsets[column.offset:column.offset + n + 1]
        data = np.frombuffer(column.buffers()[2], dtype=np.uint8)[offsets[0]:offsets[-1]]
    return data.view("<u4").reshape(n, -1)


def repo_key(meta: dict) -> str:
    """The id of a repository-level unit: `{repo}@{rev}`."""
    return f"{meta.get('repo')}@{meta.get('rev')}"


def in_repository_unit(meta: dict) -> bool:
    """A code file of a repository: what repository-level near-dedup signs and removes. Other code
    documents (an SWE task carries `repo` and `rev` = its base commit) are units of their own."""
    return meta.get("kind") == "code" and meta.get("unit", "file") == "file"


class MinhashSigner(Described, PipelineStep):
    """Signature and band keys of every code document of this task, and, when `repo_folder` is
    given, of every repository as a whole (DeepSeek-Coder's repository-level dedup): the raw bins
    of a repository are the minimum of its files' raw bins, so no repository is held in memory.
    Text documents are skipped: near-dedup is for code."""

    name = "near_sign"
    type = "🫂 - DEDUP"

    def __init__(self, output_folder: str | None, *, n_grams: int, num_perm: int, bands: int, rows: int, seed: int,
                 normalize_identifiers: bool, repo_folder: str | None = None, docs_folder: str | None = None):
        """docs_folder: where the same run writes the documents (to check signature counts)."""
        super().__init__()
        self.docs_folder = docs_folder
        self.output_folder, self.repo_folder = output_folder, repo_folder
        self.n_grams, self.num_perm, self.bands, self.rows = n_grams, num_perm, bands, rows
        self.seed, self.normalize_identifiers = seed, normalize_identifiers

    @classmethod
    def from_config(cls, ctx) -> MinhashSigner | None:
        near, levels = ctx.config.dedup.near, near_levels(ctx.config)
        if not levels:
            return None
        bands, rows = bands_rows(near)
        return cls(str(near_folders(ctx.layout, "file").signatures) if "file" in levels else None,
                   n_grams=near.n_grams, num_perm=near.num_perm, bands=bands, rows=rows, seed=near.seed,
                   normalize_identifiers=near.normalize_identifiers,
                   repo_folder=str(near_folders(ctx.layout, "repo").signatures) if "repo" in levels else None,
                   docs_folder=str(ctx.layout.filtered))

    def outputs(self) -> list[Path]:
        return [Path(f) for f in (self.output_folder, self.repo_folder) if f]

    def check(self, rank: int) -> str | None:
        for folder in self.outputs():
            if problem := check_signatures(folder, self.docs_folder, rank):
                return problem
        return None

    def _row(self, doc_id: str, rank: int, row: int, meta: dict, sig: np.ndarray) -> dict:
        return {"id": doc_id, "task": rank, "row": row, "license_class": meta.get("license_class"),
                "stars": meta.get("stars"), "date": meta.get("date"),
                "signature": sig.astype("<u4").tobytes(),
                "band_keys": band_keys(sig, self.bands, self.rows).tolist()}

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        schema = signature_schema(self.num_perm, self.bands)
        files = ParquetSink(self.output_folder, schema) if self.output_folder else None
        repos = ParquetSink(self.repo_folder, schema) if self.repo_folder else None
        current: RepoBins | None = None  # the repository whose files are arriving

        def flush_repo():
            if repos is not None and current is not None and current.raw[1].any():
                repos.write(self._row(current.key, rank, repos.rows, current.meta,
                                      densified(*current.raw, self.seed)), rank)
                self.stat_update("repos_signed")

        with ExitStack() as stack:
            for sink in (files, repos):
                if sink is not None:
                    sink.open(rank)
                    stack.enter_context(sink)
            for doc in data:
                shingler = SHINGLERS.get(doc.metadata.get("kind"))  # code: code-aware shingles; text: prose
                if shingler is not None:
                    text = change_text(doc.metadata) if doc.metadata.get("unit") == SWE_UNIT else doc.text
                    with self.track_time():
                        raw = raw_signature(shingler(text, self.n_grams, self.normalize_identifiers),
                                            self.num_perm, self.seed)
                    if files is not None:
                        sig = densified(*raw, self.seed)
                        if is_empty_signature(sig):
                            self.stat_update("no_shingles")
                        else:
                            files.write(self._row(doc.id, rank, files.rows, doc.metadata, sig), rank)
                            self.stat_update("signed")
                    if repos is not None and in_repository_unit(doc.metadata):
                        key = repo_key(doc.metadata)
                        if current is None or key != current.key:  # files of one repository arrive together
                            flush_repo()
                            current = RepoBins(key, raw, doc.metadata)
                        else:
                            current.raw = merge_raw(current.raw, raw)
                yield doc
            flush_repo()


def sql_paths(paths) -> str:
    """A DuckDB list literal of file paths (views cannot take query parameters)."""
    return "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths) + "]"


class NearDedupBuckets(Described, PipelineStep):
    """Task `rank` handles bands rank, rank + world_size, ...: candidate pairs from shared band
    keys, kept when the estimated Jaccard reaches the threshold.

    The work is DuckDB queries over the signature files (group by band key, join pairs with their
    signatures) under a memory limit, with a spill folder: memory stays bounded as the corpus grows,
    the rest goes to disk. Documents are referred to by (task, row) until an edge is verified.
    """

    name = "near_buckets"
    type = "🫂 - DEDUP"

    def __init__(self, signatures_folder: str, sign_tasks: int, output_folder: str, *, bands: int,
                 threshold: float, exact_plan_folder: str | None = None, exact_plan_tasks: int = 0,
                 repo_removals_folder: str | None = None, repo_removal_tasks: int = 1,
                 docs_folder: str | None = None, memory_limit: str = "1GB", spill_folder: str | None = None):
        """Documents that another dedup already removes take no part: exact duplicates (exact
        plan) and, for file-level dedup, the files of repositories removed as a whole."""
        super().__init__()
        self.signatures_folder, self.sign_tasks, self.output_folder = signatures_folder, sign_tasks, output_folder
        self.bands, self.threshold = bands, threshold
        self.exact_plan_folder, self.exact_plan_tasks = exact_plan_folder, exact_plan_tasks
        self.repo_removals_folder, self.docs_folder = repo_removals_folder, docs_folder
        self.repo_removal_tasks = repo_removal_tasks
        self.memory_limit = memory_limit
        self.spill_folder = spill_folder or str(Path(output_folder).parent / "spill")

    @classmethod
    def from_config(cls, ctx, level: str = "file") -> NearDedupBuckets | None:
        cfg = ctx.config
        if level not in near_levels(cfg):
            return None
        near, folders = cfg.dedup.near, near_folders(ctx.layout, level)
        others = {}
        if level == "file":  # documents another dedup already removes take no part
            others = dict(exact_plan_folder=str(ctx.layout.exact) if cfg.dedup.exact else None,
                          exact_plan_tasks=cfg.dedup.tasks if cfg.dedup.exact else 0,
                          repo_removals_folder=str(near_folders(ctx.layout, "repo").removals)
                          if "repo" in near_levels(cfg) else None, repo_removal_tasks=cluster_tasks(cfg),
                          docs_folder=str(ctx.layout.filtered))
        return cls(str(folders.signatures), cfg.executor.tasks, str(folders.edges), bands=bands_rows(near)[0],
                   threshold=near.threshold, spill_folder=str(ctx.layout.work / "spill"), **others)

    def outputs(self) -> list[Path]:
        return [Path(self.output_folder)]

    def check(self, rank: int) -> str | None:
        return check_edges(self.output_folder, rank, self.threshold)

    def _connect(self, rank: int):

        spill = Path(self.spill_folder) / f"{rank:05d}"
        spill.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect()
        con.execute(f"SET memory_limit = '{self.memory_limit}'")
        con.execute(f"SET temp_directory = '{spill}'")
        con.execute("SET threads = 1")
        con.execute("SET preserve_insertion_order = false")
        return con

    def _excluded_sql(self) -> str:
        """A query of the ids that take no part."""
        parts = []
        if self.exact_plan_folder:
            exact = sql_paths(expect_task_files(self.exact_plan_folder, self.exact_plan_tasks))
            parts.append(f"SELECT id FROM read_parquet({exact})")
        if self.repo_removals_folder:
            repos = sql_paths(removal_files(self.repo_removals_folder, self.repo_removal_tasks))
            docs = sql_paths(expect_task_files(self.docs_folder, self.sign_tasks))
            parts.append(f"SELECT d.id FROM read_parquet({docs}) d JOIN read_parquet({repos}) r "
                         "ON d.repo || '@' || d.rev = r.id")
        return " UNION ".join(parts) or "SELECT NULL::VARCHAR AS id WHERE false"

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:


        files = sql_paths(expect_task_files(self.signatures_folder, self.sign_tasks))
        con = self._connect(rank)
        con.execute(f"CREATE TEMP TABLE excluded AS {self._excluded_sql()}")
        con.execute("CREATE TEMP VIEW live AS SELECT task::BIGINT * 4294967296 + row AS gid, * "
                    f"FROM read_parquet({files}) WHERE id NOT IN (SELECT id FROM excluded)")
        con.execute("CREATE TEMP TABLE pairs (a BIGINT, b BIGINT)")
        for band in range(rank, self.bands, world_size):
            with self.track_time():
                # Every member of a bucket pairs with the bucket's first member and with its
                # neighbour: linear in the bucket size, and the bucket stays connected.
                con.execute(f"""
                    INSERT INTO pairs
                    WITH buckets AS (
                        SELECT list(gid ORDER BY gid) AS members FROM live
                        GROUP BY band_keys[{band + 1}] HAVING count(*) > 1
                    )
                    SELECT members[1], unnest(members[2:]) FROM buckets
                    UNION ALL
                    SELECT unnest(members[2:-1]), unnest(members[3:]) FROM buckets
                """)
        candidates = con.execute("SELECT count(*) FROM (SELECT DISTINCT a, b FROM pairs)").fetchall()[0][0]
        self.stat_update("candidate_pairs", value=candidates)
        reader = con.sql("""
            SELECT sa.id AS id_a, sb.id AS id_b, sa.signature AS sig_a, sb.signature AS sig_b
            FROM (SELECT DISTINCT a, b FROM pairs) p
            JOIN live sa ON sa.gid = p.a JOIN live sb ON sb.gid = p.b
        """).to_arrow_reader(8192)
        kept = []
        for batch in reader:
            if batch.num_rows == 0:
                continue
            sig_a, sig_b = signature_matrix(batch.column("sig_a")), signature_matrix(batch.column("sig_b"))
            similarity = np.atleast_1d(estimate_jaccard(sig_a, sig_b))
            close = np.flatnonzero(similarity >= self.threshold)
            if close.size:
                take = pa.array(close)
                kept.append(pa.table({"id_a": batch.column("id_a").take(take), "id_b": batch.column("id_b").take(take),
                                      "similarity": pa.array(similarity[close], pa.float64())}))
        schema = pa.schema([("id_a", pa.string()), ("id_b", pa.string()), ("similarity", pa.float64())])
        edges = pa.concat_tables(kept) if kept else schema.empty_table()
        # Each pair once, smaller id first, in a fixed order: the same file on every run.
        first = pc.less(edges["id_a"], edges["id_b"])
        lo = pc.if_else(first, edges["id_a"], edges["id_b"])
        hi = pc.if_else(first, edges["id_b"], edges["id_a"])
        edges = pa.table({"id_a": lo, "id_b": hi, "similarity": edges["similarity"]}, schema=schema)
        edges = edges.sort_by([("id_a", "ascending"), ("id_b", "ascending")])
        self.stat_update("edges", value=edges.num_rows)
        write_table_atomic(edges, task_file(self.output_folder, rank))
        return
        yield


class NearDedupFilter(DropStep):
    """Drops this task's documents that the cluster stage removed, with the id kept."""

    step = STEP

    def __init__(self, *, removals_folder: str, removed_folder: str, removal_tasks: int = 1,
                 split_plan: str | None = None):
        """Removals are document ids; `NearRepoDedupFilter` takes repository keys instead.
        removal_tasks: how many files the cluster stage wrote (its task count); split_plan: the
        tokenize split (`curation.split`), which says whose removals this task needs."""
        super().__init__(removed_folder=removed_folder)
        self.removals_folder, self.removal_tasks = str(removals_folder), removal_tasks
        self.split_plan = split_plan
        self._removed: dict | None = None

    @classmethod
    def from_config(cls, ctx) -> NearDedupFilter | None:
        levels = near_levels(ctx.config)
        if "file" not in levels:
            return None
        return cls(removals_folder=near_folders(ctx.layout, "file").removals, removed_folder=ctx.layout.removed,
                   removal_tasks=cluster_tasks(ctx.config), split_plan=str(ctx.layout.split_plan))

    def key(self, doc: Document) -> str:
        return doc.id

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        paths = [str(p) for p in removal_files(self.removals_folder, self.removal_tasks)]
        rows = duckdb.execute("SELECT id, kept_id, similarity FROM read_parquet($p) WHERE list_contains($tasks, task)",
                              {"p": paths, "tasks": input_tasks(self.split_plan, rank)}).fetchall()
        self._removed = {r[0]: (r[1], r[2]) for r in rows}
        yield from super().run(data, rank, world_size)

    def signed(self, doc: Document) -> bool:
        return doc.metadata.get("kind") in SHINGLERS  # code and text (prose shingles) are signed

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        hit = self._removed.get(self.key(doc)) if self.signed(doc) else None
        if hit is None:
            return True
        what = "copy" if self.step == STEP else "repository"
        doc.metadata.update(kept_id=hit[0], similarity=hit[1],
                            filter_detail=f"estimated Jaccard {hit[1]:.3f} with the {what} kept")
        return False, "near_duplicate" if self.step == STEP else "near_duplicate_repo"


class NearRepoDedupFilter(NearDedupFilter):
    """Every file of a repository that repository-level near-dedup removed, with the repository kept."""

    step = f"{STEP}_repo"

    @classmethod
    def from_config(cls, ctx) -> NearRepoDedupFilter | None:
        if "repo" not in near_levels(ctx.config):
            return None
        return cls(removals_folder=near_folders(ctx.layout, "repo").removals, removed_folder=ctx.layout.removed,
                   removal_tasks=cluster_tasks(ctx.config), split_plan=str(ctx.layout.split_plan))

    def key(self, doc: Document) -> str:
        return repo_key(doc.metadata)

    def signed(self, doc: Document) -> bool:
        return in_repository_unit(doc.metadata)
