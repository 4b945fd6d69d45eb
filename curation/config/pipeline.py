"""Typed schema of `pipelines/*.yaml`: one section per concern, every key checked.

A pipeline config states intent (which inputs, which rule set, which tokenizer, how long a
sequence); `curation.load` reads it with `--set` overrides and resolves what it names, and the
steps of `curation.recipe` derive everything else (task plans, file names, bands x rows).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, model_validator

from curation.config.assemble import FimConfig, RepoAssembleConfig
from curation.config.decontam import DecontaminateConfig
from curation.config.inputs import InputConfig
from curation.config.quality import QualityConfig
from curation.config.redact import RedactConfig
from curation.config.text import RouteConfig, TextFilterConfig
from curation.schema import StrictModel


class IngestConfig(StrictModel):
    max_file_bytes: int = Field(1 * 2**20, gt=0, description="files above this are not read (BigCode: 1 MB)")
    max_repo_bytes: int = Field(512 * 2**20, gt=0)
    drop_vendored: bool = True
    drop_generated: bool = True
    keep_unknown_language: bool = False
    languages: list[str] | None = Field(None, description="keep only these languages (ids); null keeps all")


class NearDedupConfig(StrictModel):
    """MinHash LSH over code-aware shingles. State the threshold; bands and rows are derived."""

    threshold: float = Field(0.7, gt=0, lt=1, description="estimated Jaccard at or above which files are duplicates")
    n_grams: int = Field(5, ge=1, description="shingle length in code tokens (identifiers, numbers, operators)")
    num_perm: int = Field(256, ge=16, le=4096)
    seed: int = 1
    normalize_identifiers: bool = Field(False, description="map identifiers to one symbol: catches renamed clones")
    false_negative_weight: float = Field(
        0.9, gt=0, lt=1,
        description="weight of missed pairs vs spurious candidates when deriving bands; candidates are verified "
                    "by estimated Jaccard, so a spurious candidate costs a comparison, a missed pair a duplicate",
    )
    # Task counts say how the work is split, not what it produces: excluded from dumps (index.json
    # carries the config, and must not change with them), added back by `fingerprint`.
    bucket_tasks: int = Field(1, ge=1, exclude=True,
                              description="tasks of the bucket stage (each takes a share of the bands)")
    cluster_tasks: int = Field(
        1, ge=1, exclude=True, description="tasks of the cluster stage: more than 1 adds a components stage (local connected "
                             "components of a share of the edges); each cluster task merges them and decides the "
                             "clusters it owns. Removals and shards are the same for any count")
    level: Literal["file", "repo", "both"] = Field(
        "file", description="file: near-duplicate files; repo: whole repositories (DeepSeek-Coder, for "
                            "repository-level stages), a removed repository takes all its files; both: repo first")



class DedupConfig(StrictModel):
    exact: bool = True
    tasks: int = Field(1, ge=1, exclude=True, description="hash buckets of the global exact-dedup run (a task "
                                                        "count: excluded from dumps, see NearDedupConfig)")
    near: NearDedupConfig | None = None


class FileAssembleConfig(StrictModel):
    """Stage 1: one document per file."""

    unit: Literal["file"] = "file"
    syntax_signals: bool = Field(False, description="parse supported languages with tree-sitter: has_syntax_error "
                                                    "and syntax_error_fraction columns in docs/")
    drop_syntax_errors: bool = Field(False, description="drop files whose syntax error share exceeds the bound")
    max_syntax_error_fraction: float = Field(0.0, ge=0, lt=1)

    @model_validator(mode="after")
    def _drop_needs_signals(self):
        if self.drop_syntax_errors and not self.syntax_signals:
            raise ValueError("drop_syntax_errors needs syntax_signals: true")
        return self


AssembleConfig = Annotated[FileAssembleConfig | RepoAssembleConfig, Field(discriminator="unit")]


DEFAULT_TOKENIZER = "Tele-AI/TeleChat3-Coder-36B-Thinking"
DEFAULT_LINE_CACHE = 1_000_000


class TokenizerConfig(StrictModel):
    name_or_path: str = DEFAULT_TOKENIZER
    threads: int = Field(1, ge=1, description="SentencePiece threads per task")
    batch_docs: int = Field(256, ge=1)
    line_cache: int = Field(
        DEFAULT_LINE_CACHE, ge=0,
        description="distinct lines a tokenize task keeps encoded, when the tokenizer never merges across a "
                    "newline (SentencePiece with '\\n' a user-defined piece, as TeleChat3): a repeated line is "
                    "not encoded again; the ids are the same. 0: encode whole texts",
    )


class PackConfig(StrictModel):
    seq_len: int = Field(8192, ge=16)
    method: Literal["concat", "best_fit"] = Field(
        "best_fit",
        description="best_fit: the mixture's sampled documents, shuffled, best-fit decreasing into rows (documents "
                    "longer than seq_len split); concat: documents in input order, EOS after each, cut into rows",
    )
    window_rows: int | None = Field(None, ge=1, description="best_fit: rows packed together (default 64)")
    buckets: int | None = Field(
        None, ge=1, description="best_fit: shuffle buckets. Each bucket is best-fit packed alone, by one task, into "
                                "its own shards (its last rows close in it), so the count is part of the output. "
                                "Default from the sampled tokens: enough that a bucket's ids fit in 256 MiB "
                                "(64M tokens), and up to 16 while each bucket still holds 1,024 rows of seq_len "
                                "(e.g. 40M tokens at 8K: 4 buckets; 3T tokens: ~45,000)")
    # Task counts say how the work is split, not what it produces (see NearDedupConfig): excluded from
    # dumps, added back by `fingerprint`.
    tasks: int | None = Field(None, ge=1, exclude=True,
                              description="tasks of the pack run: task r packs the buckets (concat: the token files) "
                                          "u with u % tasks == r; null: executor.tasks. Shards are the same for any "
                                          "count; more tasks than buckets leave tasks idle")
    scatter_tasks: int | None = Field(None, ge=1, exclude=True,
                                      description="best_fit: tasks of the scatter run, each writing its share of the "
                                                  "token files into every bucket; null: executor.tasks")
    rows_per_shard: int = Field(512, ge=1)
    fim: FimConfig | None = Field(None, description="fill-in-the-middle; null: none")


class ExecutorConfig(StrictModel):
    """Where the tasks of each stage run. The outputs do not depend on it (only `tasks` does)."""

    kind: Literal["local", "slurm", "ray"] = "local"
    tasks: int = Field(4, ge=1)
    workers: int = Field(2, ge=1, description="tasks run at once (Slurm: the array's %N limit)")
    partition: str | None = Field(None, description="Slurm partition; null: the cluster's default")
    time: str | None = Field(None, description="Slurm time limit per task, [D-]HH:MM:SS; null: the partition's "
                                               "default. Not used by Ray (a timed-out Ray task crashes datatrove's loop)")
    cpus_per_task: int = Field(1, ge=1, description="Slurm and Ray: CPUs reserved per task")
    mem_per_cpu_gb: float = Field(2, gt=0, description="Slurm and Ray: memory reserved per CPU, GB")
    job_name: str = Field("curation", pattern=r"^[A-Za-z0-9_.-]+$",
                          description="Slurm job name prefix; each stage is <job_name>-<stage>")
    sbatch_args: dict[str, str] = Field(default_factory=dict,
                                        description="extra sbatch options without '--', e.g. {account: proj1, qos: high}")
    venv_path: str | None = Field(None, description="the venv the Slurm job activates (its bin/activate or the folder); "
                                                    "null: the venv `curate` runs in")
    ray_address: str | None = Field(None, description="Ray cluster to join (host:port, ray://host:port, auto); "
                                                      "null: $RAY_ADDRESS, else auto")

    @model_validator(mode="after")
    def _cluster_settings(self):
        import re

        if self.time is not None and not re.fullmatch(r"(\d+-)?\d+(:\d{1,2}){0,2}", self.time):
            raise ValueError(f"time: {self.time!r} is not a Slurm time limit; use [D-]HH:MM:SS, e.g. 04:00:00")
        if self.ray_address is not None and self.ray_address != "auto" and not re.fullmatch(
                r"(ray://)?[\w.-]+:\d+", self.ray_address):
            raise ValueError(f"ray_address: {self.ray_address!r}: expected host:port, ray://host:port or auto")
        if self.venv_path is not None:
            path = Path(self.venv_path).expanduser()
            if path.is_dir():  # the folder of a venv: datatrove needs its activate script
                path = path / "bin" / "activate"
            if not path.is_file() or path.name != "activate":
                raise ValueError(f"venv_path: {self.venv_path}: no such venv activate script (give <venv>/bin/activate)")
            self.venv_path = str(path)
        return self


class PipelineConfig(StrictModel):
    name: str
    stage: int = Field(1, ge=1, le=3)
    inputs: dict[str, InputConfig] = Field(min_length=1)
    ingest: IngestConfig = Field(default_factory=IngestConfig)
    filters: str | None = Field("filters/code.yaml", description="rule set for code files; null: no filtering")
    redact: RedactConfig = Field(default_factory=RedactConfig)
    dedup: DedupConfig = Field(default_factory=DedupConfig)
    assemble: AssembleConfig = Field(default_factory=FileAssembleConfig)
    tokenizer: TokenizerConfig = Field(default_factory=TokenizerConfig)
    quality: QualityConfig | None = None
    text_filters: TextFilterConfig | None = Field(None, description="rule set for kind=text documents")
    route: RouteConfig | None = Field(None, description="route general text into the mixture's text sources by score")
    decontaminate: DecontaminateConfig = Field(default_factory=DecontaminateConfig)
    mixture: str | None = Field(None, description="mixtures/*.yaml; null: every source once, natural shares")
    pack: PackConfig = Field(default_factory=PackConfig)
    executor: ExecutorConfig = Field(default_factory=ExecutorConfig)
    limit: int | None = Field(None, gt=0, description="read at most this many files per input per task")

    @model_validator(mode="after")
    def _mixture_needs_best_fit(self):
        if self.assemble.unit == "repo" and self.assemble.context and self.assemble.context > self.pack.seq_len:
            raise ValueError(f"assemble.context {self.assemble.context} is longer than pack.seq_len {self.pack.seq_len}")
        if self.mixture and self.pack.method != "best_fit":
            raise ValueError("a mixture is sampled, shuffled and packed best-fit: set pack.method to best_fit")
        return self

    @model_validator(mode="after")
    def _source_names(self):
        for name in self.inputs:
            if not name.replace("_", "").replace("-", "").isalnum():
                raise ValueError(f"input name {name!r} must be letters, digits, '-' or '_' (it names a folder)")
        return self

    def fingerprint(self) -> str:
        """Hash of everything that changes outputs (the executor's layout does not)."""
        data = self.model_dump(mode="json", exclude={"executor"})
        data["tasks"] = self.executor.tasks  # task count changes document order
        # The dedup task counts change no output, but a resumed run must not mix two splits of one stage.
        near = self.dedup.near
        data["dedup_tasks"] = [self.dedup.tasks, near.bucket_tasks if near else 1, near.cluster_tasks if near else 1]
        data["pack_tasks"] = [self.pack.tasks or self.executor.tasks, self.pack.scatter_tasks or self.executor.tasks]
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]
