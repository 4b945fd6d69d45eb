"""The trajectories reader: files -> parsed, checked, de-duplicated, length-split trajectory Documents.

A trajectory travels through the pipeline as a docs/ row with `unit = 'trajectory'`, a readable
`text` (curation.agent.model.readable_text) and a `messages` column holding the normalized
conversation as JSON. The tokenize step renders `messages` (never `text`) into ids and a loss
mask. Drops go to removed/trajectories/ with a reason; near-duplicates carry `kept_id` and
`similarity`. Files are assigned to tasks round-robin in sorted order; near-dedup is within a task.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from curation.agent.errors import TrajectoryError
from curation.agent.hygiene import check, split_at_turns
from curation.agent.model import Conversation, readable_text
from curation.agent.neardup import NearDupIndex
from curation.agent.openai_format import iter_records, parse_record
from curation.agent.render import ChatRenderer
from curation.agent.swe_agent import parse_traj_file
from curation.agent.synth import SweTask, synthesize
from curation.config.agent import TrajectoriesInput
from curation.documents import removed_row
from curation.io import REMOVED_SCHEMA, ParquetSink
from curation.steps import Described
from curation.tokenize.tokenizer import load_tokenizer

STEP = "trajectories"
SUFFIXES = {"openai": (".jsonl", ".parquet"), "swe-agent": (".traj",), "swe-tasks": (".jsonl", ".parquet")}


def discover(cfg: TrajectoriesInput) -> list[Path]:
    """Every input file, sorted; a path that is neither a matching file nor a folder is an error."""
    files: list[Path] = []
    suffixes = SUFFIXES[cfg.format]
    for p in map(Path, cfg.paths):
        if p.is_dir():
            files += [f for f in p.rglob("*") if f.is_file() and f.suffix in suffixes]
        elif p.is_file() and p.suffix in suffixes:
            files.append(p)
        else:
            raise FileNotFoundError(f"trajectories input {p}: not a folder or a {'/'.join(suffixes)} file")
    return sorted(set(files))


def parse_file(path: Path, fmt: str, repos_root: str | None = None) -> Iterator[Conversation | TrajectoryError]:
    """Conversations of one file, or the error of each record that does not parse."""
    if fmt == "swe-tasks":
        yield from synthesize_file(path, repos_root)
        return
    if fmt == "swe-agent":
        try:
            yield parse_traj_file(path)
        except TrajectoryError as err:
            err.id = path.stem
            yield err
        return
    for n, record, problem in iter_records(path):
        if record is None:
            yield TrajectoryError("unparsable_record", f"{path.name} {problem}", id=f"{path.stem}:{n}")
            continue
        try:
            yield parse_record(record, default_id=f"{path.stem}:{n}", origin=f"{path}:{n}")
        except TrajectoryError as err:
            err.detail = f"{path.name} record {n}: {err.detail}"
            err.id = str(record.get("id") or f"{path.stem}:{n}")
            yield err


def synthesize_file(path: Path, repos_root: str | None) -> Iterator[Conversation | TrajectoryError]:
    for n, record, problem in iter_records(path):
        rid = str((record or {}).get("id") or f"{path.stem}:{n}")
        try:
            if record is None:
                raise TrajectoryError("unparsable_record", f"{path.name} {problem}")
            missing = [k for k in ("repo", "base_commit", "statement", "patch") if not record.get(k)]
            if missing:
                raise TrajectoryError("unparsable_record", f"{path.name} record {n}: no {', '.join(missing)}")
            repo = Path(repos_root or ".") / record["repo"]
            if not (repo / ".git").exists() and not (repo / "HEAD").exists():
                raise TrajectoryError("repo_not_found", f"{path.name} record {n}: no git clone at {repo}")
            yield synthesize(SweTask(repo=str(repo), base_commit=record["base_commit"], statement=record["statement"],
                                     patch=record["patch"], id=rid))
        except TrajectoryError as err:
            err.id = rid
            yield err


class TrajectoryReader(Described, PipelineStep):
    """Every `kind: trajectories` input in one step (one removed/trajectories/ file per task).
    (source, file) pairs are dealt to tasks round-robin in sorted order. It passes on the documents
    of the step before it, so it follows the ingest reader in the same run."""

    name = "trajectories"
    type = "📖 - READER"
    columns: ClassVar[dict[str, str]] = {"messages": "string"}

    def __init__(self, *, inputs: dict[str, TrajectoriesInput | dict], tokenizer_path: str, removed_folder: str,
                 limit: int | None = None):
        """limit: at most this many trajectories per input per task (the pipeline's `limit`)."""
        super().__init__()
        self.inputs = {name: TrajectoriesInput.model_validate(cfg) for name, cfg in sorted(inputs.items())}
        self.tokenizer_path = tokenizer_path
        self.removed_folder = removed_folder
        self.limit = limit

    @classmethod
    def from_config(cls, ctx) -> TrajectoryReader | None:
        """The reader of the pipeline's `kind: trajectories` inputs (the recipe's StepContext); None without any."""
        inputs = {name: cfg for name, cfg in ctx.config.inputs.items() if isinstance(cfg, TrajectoriesInput)}
        if not inputs:
            return None
        return cls(inputs=inputs, tokenizer_path=ctx.tokenizer_path, removed_folder=str(ctx.layout.removed),
                   limit=ctx.config.limit)

    def doc_columns(self) -> dict[str, str]:
        return dict(self.columns)

    def outputs(self) -> list[Path]:
        return [Path(self.removed_folder) / STEP]

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if data:
            yield from data
        tokenizer = load_tokenizer(self.tokenizer_path)
        work = [(source, path) for source, cfg in self.inputs.items() for path in discover(cfg)]
        renderers = {s: ChatRenderer(tokenizer, cfg.chat) for s, cfg in self.inputs.items()}
        dedups = {s: NearDupIndex(threshold=cfg.hygiene.near_dup_threshold, num_perm=cfg.hygiene.num_perm,
                                  n_grams=cfg.hygiene.n_grams) if cfg.hygiene.near_dup_threshold else None
                  for s, cfg in self.inputs.items()}
        sink = ParquetSink(Path(self.removed_folder) / STEP, REMOVED_SCHEMA)
        sink.open(rank)  # an empty file still says the task ran
        emitted = dict.fromkeys(self.inputs, 0)
        with sink:
            for source, path in work[rank::world_size]:
                for item in parse_file(path, self.inputs[source].format, self.inputs[source].repos_root):
                    if self.limit is not None and emitted[source] >= self.limit:
                        break
                    if isinstance(item, TrajectoryError):
                        self._drop(sink, rank, source, f"{source}/{item.id}", item.reason, item.detail, str(path))
                        continue
                    for doc in self._documents(source, item, path, renderers[source], dedups[source], sink, rank):
                        emitted[source] += 1
                        yield doc

    def _documents(self, source: str, conv: Conversation, path: Path, renderer: ChatRenderer, dedup, sink,
                   rank) -> Iterator[Document]:
        hygiene = self.inputs[source].hygiene
        doc_id = f"{source}/{conv.id}"
        try:
            check(conv)
            if dedup is not None:
                dup = dedup.add(conv)
                if dup is not None:
                    self._drop(sink, rank, source, doc_id, "near_duplicate", "", str(path), conv,
                               kept_id=f"{source}/{dup.kept_id}", similarity=dup.similarity)
                    return
            rendered = renderer.render(conv)
            max_tokens = hygiene.max_tokens
            if len(rendered.ids) > max_tokens and not hygiene.split_long:
                raise TrajectoryError("too_long", f"{len(rendered.ids)} tokens > max_tokens {max_tokens}")
            pieces = split_at_turns(conv, rendered.message_starts, len(rendered.ids), max_tokens)
            if len(pieces) > 1:
                self.stat_update("split", value=1)
                for piece, r in zip(pieces, renderer.render_batch(pieces)):
                    if len(r.ids) > max_tokens:  # a template that is not additive over messages
                        raise TrajectoryError("too_long", f"piece {piece.id} renders to {len(r.ids)} tokens")
        except TrajectoryError as err:
            self._drop(sink, rank, source, doc_id, err.reason, err.detail, str(path), conv)
            return
        for piece in pieces:
            text = readable_text(piece)
            messages = piece.to_json()
            self.stat_update("documents")
            yield Document(text=text, id=f"{source}/{piece.id}", metadata={
                "source": source, "kind": "trajectory", "unit": "trajectory", "path": str(path),
                "size_bytes": len(messages.encode("utf-8")), "messages": messages,
            })  # content_hash: the hash step's, of the readable text (exact dedup compares it)

    def _drop(self, sink, rank, source, doc_id, reason, detail, path, conv=None, kept_id=None, similarity=None):
        self.stat_update(f"dropped_{reason}")
        # size_bytes as in docs/: of the conversation's JSON (the bytes a kept one would bring)
        size = len(conv.to_json().encode("utf-8")) if conv is not None else None
        sink.write(removed_row(id=doc_id, step=STEP, reason=reason, detail=detail,
                               meta={"source": source, "path": path, "size_bytes": size},
                               text=readable_text(conv) if conv is not None else None,
                               kept_id=kept_id, similarity=similarity), rank)
