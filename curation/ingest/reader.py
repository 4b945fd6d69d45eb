"""The ingest step: every input of a pipeline becomes a stream of Documents, one per file.

Repositories are assigned whole to tasks (largest first, to the least loaded task), so all files
of one repository land in the same task and every task computes the same assignment by itself.
Every file that does not become a Document is written to `removed/ingest/` with its reason.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path
from typing import Any, Iterator

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from curation.config.inputs import InputConfig, InstalledInput, RepoInput
from curation.config.pipeline import IngestConfig
from curation.config.swe import KINDS as SWE_KINDS
from curation.documents import doc_id, removed_row
from curation.ingest.filetypes import (
    binary_extension_reason,
    generated_reason,
    is_probably_binary,
    vendored_reason,
)
from curation.ingest.languages import detect_language, language_kind
from curation.ingest.licenses import (
    is_license_file,
    license_class,
    resolve_repo_license,
    spdx_from_license_text,
    spdx_from_manifest,
)
from curation.ingest.sources import (
    Limits,
    SourceError,
    discover_repos,
    installed_distributions,
)
from curation.ingest.tables import iter_table_rows
from curation.io import REMOVED_SCHEMA, ParquetSink, write_json_atomic
from curation.steps import Described

STEP = "ingest"


def assign_repos(repos: list, world_size: int, workers: int | None = None) -> list[list]:
    """Repositories for each task, by their cost_hint, deterministic.

    Longest-processing-time first over the tasks. With fewer workers than tasks, the tasks run in
    rounds (heaviest first), and equal tasks are not what ends a stage first: one repository
    larger than a task's share makes its task the last one running while the other workers
    idle. So a second plan is also made: repositories first over `workers` groups, each group
    then over its tasks, so that the tasks one worker runs in turn add up evenly. Of the two, the
    plan whose heaviest-first schedule on `workers` ends first is taken (ties: the first).
    On the registry corpus (4 tasks, 2 workers; django is 45 of 156 MB) the ingest stage's tasks
    took 9.8 + 8.1 s on one worker and 6.8 + 4.9 s on the other with equal tasks."""
    plans = [_lpt(repos, world_size)]
    if workers and 1 < workers < world_size:
        plans.append(_grouped(repos, world_size, workers))
    best = min(plans, key=lambda plan: _makespan([sum(_cost(r) for r in task) for task in plan], workers or world_size))
    return [sorted(task, key=lambda r: r.name) for task in best]


def _cost(repo) -> int:
    return max(repo.cost_hint(), 1)


def _lpt(repos: list, bins: int, shares: list[int] | None = None) -> list[list]:
    """Longest-processing-time assignment to `bins` (loads compared per share: a bin of 2 shares
    takes twice the load), ties by bin number and repository name."""
    shares = shares or [1] * bins
    loads = [0] * bins
    out: list[list] = [[] for _ in range(bins)]
    for repo in sorted(repos, key=lambda r: (-_cost(r), r.name)):
        target = min(range(bins), key=lambda b: (loads[b] / shares[b], b))
        out[target].append(repo)
        loads[target] += _cost(repo)
    return out


def _grouped(repos: list, tasks: int, workers: int) -> list[list]:
    """Repositories over `workers` groups (a group's share: the number of tasks it gets), then each
    group's over its tasks."""
    per_group = [tasks // workers + (g < tasks % workers) for g in range(workers)]
    out: list[list] = []
    for group, n in zip(_lpt(repos, workers, per_group), per_group):
        out.extend(_lpt(group, n))
    return out


def _makespan(loads: list[int], workers: int) -> int:
    """When the last of `loads` ends, started heaviest first on `workers` (as the executor does)."""
    running = [0] * workers
    for load in sorted(loads, reverse=True):
        running[running.index(min(running))] += load
    return max(running)


def discover_source(cfg: RepoInput | InstalledInput, ingest: IngestConfig, *, sized: bool = True) -> tuple[list, list]:
    """(repositories, SourceErrors) of one repos/installed input. `sized`: apply the installed
    input's byte budget, which needs every distribution's size (listing alone is cheap)."""

    limits = Limits(max_file_bytes=ingest.max_file_bytes, max_repo_bytes=ingest.max_repo_bytes)
    repos, errors = [], []
    if cfg.kind == "installed":
        budget = cfg.max_bytes if sized else None
        for dist in installed_distributions(cfg.names):
            dist.limits = limits  # size hints then count only files that will be read
            if budget is not None and budget <= 0:
                break
            repos.append(dist)
            if budget is not None:
                budget -= dist.size_hint()
        return repos, errors
    for path in cfg.paths:
        try:
            repos.extend(discover_repos(path, rev=cfg.rev, layout=cfg.layout,
                                        limits=limits, errors=errors))
        except SourceError as err:
            errors.append(err)
    return repos, errors


INGEST_TOTALS = "{work}/ingest_totals.json"  # bytes each task will read, for its progress ETA
INGEST_WEIGHTS = "{work}/ingest_weights.json"  # each task's cost_hint sum: the executor starts the heaviest first


def plan_assignment(inputs: dict[str, InputConfig], ingest: IngestConfig, world_size: int, workers: int | None = None
                    ) -> tuple[dict[str, list[list[str]]], dict[str, int], dict[str, int]]:
    """(source -> for each task, the names of the repositories it reads; task -> bytes; task -> cost),
    sized once, here."""
    assignment = {}
    sizes, costs = dict.fromkeys(map(str, range(world_size)), 0), dict.fromkeys(map(str, range(world_size)), 0)
    for source, cfg in sorted(inputs.items()):
        if cfg.kind not in ("repos", "installed"):
            continue
        tasks = assign_repos(discover_source(cfg, ingest)[0], world_size, workers)
        assignment[source] = [[r.name for r in task] for task in tasks]
        for rank, task in enumerate(tasks):
            sizes[str(rank)] += sum(r.size_hint() for r in task)
            costs[str(rank)] += sum(r.cost_hint() for r in task)
    return assignment, sizes, costs


class IngestReader(Described, PipelineStep):
    """Reads all inputs of a pipeline config for one task."""

    name = "ingest"
    type = "📖 - READER"

    def __init__(self, *, inputs: dict[str, InputConfig], ingest: IngestConfig, removed_folder: str,
                 limit: int | None = None, assignment_path: str | None = None, tasks: int = 1,
                 workers: int | None = None):
        """assignment_path: `plan_assignment`'s output, written once by the driver, so that no task
        walks every repository to size it; without it each task computes the same assignment.
        workers: how many tasks run at once (`assign_repos` plans for it)."""
        super().__init__()
        self.assignment_path = assignment_path
        self.inputs = inputs
        self.ingest = ingest
        self.removed_folder = removed_folder
        self.limit = limit
        self.tasks = tasks
        self.workers = workers

    @classmethod
    def from_config(cls, ctx) -> IngestReader:
        cfg = ctx.config
        inputs = {name: inp for name, inp in cfg.inputs.items() if inp.kind not in SWE_KINDS}  # SweReader's
        return cls(inputs=inputs, ingest=cfg.ingest, removed_folder=str(ctx.layout.removed), limit=cfg.limit,
                   assignment_path=str(ctx.layout.work / "ingest_assignment.json"), tasks=cfg.executor.tasks,
                   workers=cfg.executor.workers)

    def prepare(self) -> None:
        """The driver sizes and assigns repositories to tasks once; a resumed run keeps the
        assignment its finished tasks used."""
        if self.assignment_path and not Path(self.assignment_path).exists():
            assignment, sizes, costs = plan_assignment(self.inputs, self.ingest, self.tasks, self.workers)
            work = Path(self.assignment_path).parent
            if not any(cfg.kind in ("stack", "jsonl", "parquet") for cfg in self.inputs.values()):
                write_json_atomic(INGEST_TOTALS.format(work=work), sizes)
            write_json_atomic(INGEST_WEIGHTS.format(work=work), costs)
            write_json_atomic(self.assignment_path, assignment)

    def outputs(self) -> list[Path]:
        return [Path(self.removed_folder) / STEP]

    def task_weight(self, rank: int) -> int:
        """The cost_hint of the repositories assigned to task `rank` (`prepare` wrote it; 0 when it
        did not): the executor starts the heaviest tasks first, as `assign_repos` planned."""
        if not self.assignment_path:
            return 0
        weights = Path(INGEST_WEIGHTS.format(work=Path(self.assignment_path).parent))
        try:
            return int(json.loads(weights.read_text()).get(str(rank), 0))
        except (OSError, ValueError):
            return 0

    # -- helpers ----------------------------------------------------------------------------

    def _drop(self, sink: ParquetSink, rank: int, *, id: str, reason: str, detail: str = "", meta=None, text=None):
        self.stat_update("dropped")
        self.stat_update(f"dropped_{reason.split(':')[0]}")
        sink.write(removed_row(id=id, step=STEP, reason=reason, detail=detail, meta=meta, text=text), rank)

    def _classify(self, path: str, data: bytes) -> tuple[str | None, str, str | None, str]:
        """-> (text, lang, drop reason, detail) for the bytes of one file."""

        if reason := binary_extension_reason(path):
            return None, "", reason, ""
        if is_probably_binary(data):
            return None, "", "binary", "binary content (NUL byte or binary magic)"
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as err:
            return None, "", "undecodable", f"not UTF-8 at byte {err.start}"
        if text.startswith("\ufeff"):
            text = text[1:]  # the BOM is an encoding mark, not content
        lang = detect_language(path, data[:256], text) or ""
        if self.ingest.drop_vendored and (reason := vendored_reason(path)):
            return text, lang, reason, ""
        if self.ingest.drop_generated and (reason := generated_reason(path, text)):
            return text, lang, reason, ""
        if not lang and not self.ingest.keep_unknown_language:
            return text, lang, "unknown_language", "no language for this file name, extension or shebang"
        allowed = self.ingest.languages
        if allowed is not None and lang not in allowed:
            return text, lang, "language_not_selected", lang
        return text, lang, None, ""

    # -- sources ----------------------------------------------------------------------------

    def _repo_docs(self, source: str, repo, sink: ParquetSink, rank: int, budget: list[int]) -> Iterator[Document]:
        docs: list[Document] = []
        license_votes: list[str] = []
        seen = 0
        for f in repo.files():
            if budget[0] <= 0:
                break
            budget[0] -= 1
            seen += 1
            self.stat_update("files_read")
            meta: dict[str, Any] = {
                "source": source,
                "kind": "code",
                "repo": repo.name,
                "rev": repo.rev,
                "path": f.path,
                "size_bytes": f.size,
                "unit": "file",
                "task": rank,
                "date": getattr(repo, "date", None),
            }
            fid = doc_id(repo.name, repo.rev, f.path)
            if f.drop:
                self._drop(sink, rank, id=fid, reason=f.drop, detail=f.detail, meta=meta)
                continue
            text, lang, reason, detail = self._classify(f.path, f.data)
            meta["lang"] = lang or None
            if text is not None and "/" not in f.path:
                spdx = spdx_from_license_text(text) if is_license_file(f.path) else spdx_from_manifest(f.path, text)
                if spdx:
                    license_votes.append(spdx)
            if reason:
                self._drop(sink, rank, id=fid, reason=reason, detail=detail, meta=meta, text=text)
                continue
            meta["lang_kind"] = language_kind(lang)
            docs.append(Document(text=text, id=fid, metadata=meta))
        if seen == 0:
            meta = {"source": source, "repo": repo.name}
            self._drop(sink, rank, id=doc_id(repo.name, repo.rev, ""), reason="empty_repository",
                       detail=getattr(repo, "note", "") or f"{repo.kind} {repo.location} has no files", meta=meta)
        # One clear license for the repository, or none: conflicting declarations mean "unknown".
        spdx = resolve_repo_license(license_votes)
        for doc in docs:
            doc.metadata["license"] = spdx
            doc.metadata["license_class"] = license_class(spdx)
            self.stat_update("documents")
            yield doc

    def _repos_for_task(self, source: str, cfg, rank: int, world_size: int, sink: ParquetSink) -> list:
        repos, errors = discover_source(cfg, self.ingest, sized=self.assignment_path is None)
        # Every task sees the same errors; the first task records them, once.
        for err in errors if rank == 0 else []:
            where = str(err).split(": ")[0]  # SourceError messages start with the path
            self._drop(sink, rank, id=f"{source}:{where}", reason="bad_source", detail=str(err),
                       meta={"source": source})
        if self.assignment_path is None:
            return assign_repos(repos, world_size, self.workers)[rank]
        # The driver sized every repository once and wrote which task reads which.
        names = json.loads(Path(self.assignment_path).read_text())[source][rank]
        by_name = {r.name: r for r in repos}
        missing = [n for n in names if n not in by_name]
        if missing:
            raise RuntimeError(f"{self.assignment_path}: repositories {missing[:5]} of task {rank} are gone from "
                               f"input {source!r}; the inputs changed since the run started: use a new --out")
        return [by_name[n] for n in names]

    def _stack_docs(self, source: str, cfg, rank: int, world_size: int, sink, budget) -> Iterator[Document]:
        for path in cfg.paths:
            try:
                rows = iter_table_rows(path, columns=cfg.columns, rank=rank, world_size=world_size)
                for row in rows:
                    if budget[0] <= 0:
                        return
                    budget[0] -= 1
                    self.stat_update("files_read")
                    if "error" in row:
                        self._drop(sink, rank, id=f"{source}:{path}:{row.get('line', '?')}", reason="malformed_row",
                                   detail=str(row["error"]), meta={"source": source})
                        continue
                    repo, rev = row.get("repo") or "", row.get("rev") or "stack"
                    text = row["content"]
                    meta = {"source": source, "kind": "code", "repo": repo, "rev": rev, "path": row["path"],
                            "size_bytes": len(text.encode("utf-8", "surrogatepass")) if text else 0,
                            "unit": "file", "task": rank, "stars": row.get("stars"), "date": row.get("date")}
                    fid = doc_id(repo, rev, row["path"])
                    if not isinstance(text, str):
                        self._drop(sink, rank, id=fid, reason="undecodable", detail="content is not a string", meta=meta)
                        continue
                    if meta["size_bytes"] > self.ingest.max_file_bytes:
                        self._drop(sink, rank, id=fid, reason="too_large",
                                   detail=f"{meta['size_bytes']} > {self.ingest.max_file_bytes}", meta=meta)
                        continue
                    lang = detect_language(row["path"], text[:256].encode("utf-8", "replace"), text) or None
                    meta.update(lang=lang, lang_kind=language_kind(lang), license=row.get("license"),
                                license_class=license_class(row.get("license")))
                    self.stat_update("documents")
                    yield Document(text=text, id=fid, metadata=meta)
            except SourceError as err:
                if rank == 0:
                    self._drop(sink, rank, id=f"{source}:{path}", reason="bad_source", detail=str(err),
                               meta={"source": source})

    def _text_docs(self, source: str, cfg, rank: int, world_size: int, sink, budget) -> Iterator[Document]:
        """General text: files are spread over tasks by a stable hash of their path."""
        files = []
        for p in cfg.paths:
            p = Path(p)
            files.extend(sorted(x for x in p.rglob("*") if x.is_file()) if p.is_dir() else [p])
        mine = [f for f in files if zlib.crc32(str(f).encode()) % world_size == rank]
        for f in mine:
            for line_no, record, error in _iter_records(f, cfg.kind):
                if budget[0] <= 0:
                    return
                budget[0] -= 1
                self.stat_update("files_read")
                rid = f"{source}:{f.name}:{line_no}"
                if error:
                    self._drop(sink, rank, id=rid, reason="malformed_row", detail=error, meta={"source": source})
                    continue
                text = record.get(cfg.text_key)
                if not isinstance(text, str):
                    self._drop(sink, rank, id=rid, reason="no_text",
                               detail=f"field {cfg.text_key!r} missing or not a string", meta={"source": source})
                    continue
                ident = record.get(cfg.id_key)
                fid = f"{source}:{ident}" if ident is not None else rid
                meta = {"source": source, "kind": "text", "unit": "doc", "task": rank,
                        "size_bytes": len(text.encode("utf-8", "surrogatepass"))}
                self.stat_update("documents")
                yield Document(text=text, id=fid, metadata=meta)

    # -- run --------------------------------------------------------------------------------

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if data:
            yield from data
        sink = ParquetSink(Path(self.removed_folder) / STEP, REMOVED_SCHEMA)
        sink.open(rank)
        with sink:
            for source in sorted(self.inputs):
                cfg = self.inputs[source]
                budget = [self.limit if self.limit else float("inf")]
                with self.track_time():
                    if cfg.kind in ("repos", "installed"):
                        for repo in self._repos_for_task(source, cfg, rank, world_size, sink):
                            yield from self._repo_docs(source, repo, sink, rank, budget)
                    elif cfg.kind == "stack":
                        yield from self._stack_docs(source, cfg, rank, world_size, sink, budget)
                    elif cfg.kind in ("jsonl", "parquet"):  # other text kinds: curation.text.inputs.TextDocsReader
                        yield from self._text_docs(source, cfg, rank, world_size, sink, budget)
                    # trajectories and SWE inputs are read by their own steps (curation.agent, curation.swe)


def _iter_records(path: Path, kind: str) -> Iterator[tuple[int, dict | None, str | None]]:
    """(row number, record, error) for each row of a JSONL(.gz) or Parquet text file."""
    if kind == "parquet" or path.suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            pf = pq.ParquetFile(path)
        except Exception as err:  # noqa: BLE001 - any unreadable file is a recorded drop
            yield 0, None, f"{path}: not a readable Parquet file: {err}"
            return
        n = 0
        for batch in pf.iter_batches(batch_size=1024):
            for record in batch.to_pylist():
                n += 1
                yield n, record, None
        return
    import gzip

    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8", errors="strict") as fh:
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as err:
                    yield n, None, f"{path}:{n}: invalid JSON: {err.msg}"
                    continue
                if not isinstance(record, dict):
                    yield n, None, f"{path}:{n}: expected a JSON object"
                    continue
                yield n, record, None
    except (OSError, UnicodeDecodeError, EOFError) as err:
        yield 0, None, f"{path}: cannot read: {err}"
