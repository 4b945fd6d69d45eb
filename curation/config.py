"""Typed schema of `pipelines/*.yaml`, loading with `--set` overrides, and path resolution.

A pipeline config states intent (which inputs, which rule set, which tokenizer, how long a
sequence); everything derived from it (task plans, file names) is computed by `curation.pipeline`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import Field, model_validator

from curation.repo.settings import FimConfig
from curation.schema import ConfigError, StrictModel, validate

DEFAULT_TOKENIZER = "Tele-AI/TeleChat3-Coder-36B-Thinking"


class RepoInput(StrictModel):
    """Repositories: each path is a repository (dir, git work tree, archive) or a folder of them."""

    kind: Literal["repos"]
    paths: list[str] = Field(min_length=1)
    rev: str = Field("HEAD", description="git revision to read; only tracked files of it are used")
    layout: Literal["auto", "repo", "collection"] = "auto"


class StackInput(StrictModel):
    """A Stack-style dataset: one row per file, with content, path and repo columns."""

    kind: Literal["stack"]
    paths: list[str] = Field(min_length=1)
    columns: dict[str, str] = Field(
        default_factory=lambda: {"content": "content", "path": "path", "repo": "repo"},
        description="our name -> column name; content and path are required, repo/license/rev optional",
    )

    @model_validator(mode="after")
    def _required_columns(self):
        missing = {"content", "path"} - set(self.columns)
        if missing:
            raise ValueError(f"columns must map {sorted(missing)}")
        unknown = set(self.columns) - {"content", "path", "repo", "license", "rev"}
        if unknown:
            raise ValueError(f"unknown column roles {sorted(unknown)}; known: content, path, repo, license, rev")
        return self


class TextInput(StrictModel):
    """General text (JSONL or Parquet), one document per row, tagged with the input's name as source."""

    kind: Literal["jsonl", "parquet"]
    paths: list[str] = Field(min_length=1)
    text_key: str = "text"
    id_key: str = "id"


class InstalledInput(StrictModel):
    """The installed Python distributions, each one a repository: real code on every machine (demo)."""

    kind: Literal["installed"]
    names: list[str] | None = Field(None, description="distribution names; all installed ones when null")
    max_bytes: int | None = Field(None, gt=0, description="stop adding distributions past this many bytes")


InputConfig = Annotated[RepoInput | StackInput | TextInput | InstalledInput, Field(discriminator="kind")]


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
    bucket_tasks: int = Field(1, ge=1, description="tasks of the bucket stage (each takes a share of the bands)")
    level: Literal["file", "repo", "both"] = Field(
        "file", description="file: near-duplicate files; repo: whole repositories (DeepSeek-Coder, for "
                            "repository-level stages), a removed repository takes all its files; both: repo first")

    def bands_rows(self) -> tuple[int, int]:
        from curation.dedup.minhash import derive_bands

        return derive_bands(self.threshold, self.num_perm, 1 - self.false_negative_weight, self.false_negative_weight)


class DedupConfig(StrictModel):
    exact: bool = True
    tasks: int = Field(1, ge=1, description="hash buckets of the global exact-dedup run")
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


def _assemble_configs():
    from curation.repo.settings import RepoAssembleConfig

    return Annotated[FileAssembleConfig | RepoAssembleConfig, Field(discriminator="unit")]


AssembleConfig = _assemble_configs()


class TokenizerConfig(StrictModel):
    name_or_path: str = DEFAULT_TOKENIZER
    threads: int = Field(1, ge=1, description="SentencePiece threads per task")
    batch_docs: int = Field(256, ge=1)


class PackConfig(StrictModel):
    seq_len: int = Field(8192, ge=16)
    method: Literal["concat", "best_fit"] = Field(
        "best_fit",
        description="best_fit: the mixture's sampled documents, shuffled, best-fit decreasing into rows (documents "
                    "longer than seq_len split); concat: documents in input order, EOS after each, cut into rows",
    )
    window_rows: int | None = Field(None, ge=1, description="best_fit: rows packed together (default 64)")
    buckets: int | None = Field(None, ge=1, description="best_fit: shuffle buckets (default from total tokens)")
    rows_per_shard: int = Field(512, ge=1)
    fim: FimConfig | None = Field(None, description="fill-in-the-middle; null: none")


class QualityModel(StrictModel):
    path: str = Field(description="fastText .bin from `curate train-quality` (its .json sidecar beside it)")
    kinds: list[Literal["code", "text"]] | None = Field(None, description="document kinds it scores; null: all")


class QualityConfig(StrictModel):
    """Scores are metadata (`score_<name>_v<N>` columns of docs/); thresholds decide."""

    heuristic: bool = Field(True, description="score_code_heuristic_v1 for code files")
    models: dict[str, QualityModel] = Field(default_factory=dict, description="name -> fastText model")
    langid: bool = Field(False, description="nl_lang / score_nl_lang_v1 for text documents (lid.176)")
    langid_comments: bool = Field(False, description="comment_lang / score_comment_lang_v1 for code")
    thresholds: dict[str, dict] = Field(
        default_factory=dict,
        description="score column -> {min, max, kinds, missing}; documents outside go to removed/quality/",
    )

    @model_validator(mode="after")
    def _thresholds(self):
        from curation.quality.select import load_thresholds

        load_thresholds(self.thresholds, "quality.thresholds")
        return self


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
    dedup: DedupConfig = Field(default_factory=DedupConfig)
    assemble: AssembleConfig = Field(default_factory=FileAssembleConfig)
    tokenizer: TokenizerConfig = Field(default_factory=TokenizerConfig)
    quality: QualityConfig | None = None
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
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


# --- loading ---------------------------------------------------------------------------------


def read_yaml(path: str | Path) -> Any:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: cannot read: {err}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        where = ""
        mark = getattr(err, "problem_mark", None)
        if mark is not None:
            where = f" (line {mark.line + 1}, column {mark.column + 1})"
        problem = getattr(err, "problem", None) or str(err)
        raise ConfigError(f"{path}: invalid YAML{where}: {problem}") from None


def apply_overrides(data: dict, overrides: list[str], source: str | Path) -> dict:
    """Apply `a.b.c=value` overrides; the value is parsed as YAML (`[a, b]`, `8192`, `null`)."""
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: expected KEY.PATH=VALUE")
        try:
            value = yaml.safe_load(raw) if raw != "" else ""
        except yaml.YAMLError as err:
            raise ConfigError(f"--set {item!r}: value is not valid YAML: {err}") from None
        node = data
        parts = key.split(".")
        for i, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise ConfigError(f"{source}: --set {key}: {'.'.join(parts[: i + 1])} is not a mapping")
            node = child
        node[parts[-1]] = value
    return data


def load_pipeline(path: str | Path, overrides: list[str] | None = None) -> PipelineConfig:
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    data = apply_overrides(data, overrides or [], path)
    return validate(PipelineConfig, data, path)


def resolve_path(ref: str, config_path: str | Path) -> Path:
    """A path named inside a config: absolute, or relative to the config's folder, its parent
    (so `pipelines/x.yaml` can name `filters/code.yaml`), or the working directory."""
    p = Path(ref).expanduser()
    if p.is_absolute():
        return p
    base = Path(config_path).resolve().parent
    for candidate in (base / p, base.parent / p, Path.cwd() / p):
        if candidate.exists():
            return candidate
    return base.parent / p  # the path users most likely meant; its absence is reported by the caller


def check_references(cfg: PipelineConfig, config_path: str | Path) -> None:
    """The rule set and mixture a pipeline names exist and are valid themselves."""
    if cfg.filters is not None:
        from curation.filters.rules import load_rules

        path = resolve_path(cfg.filters, config_path)
        if not path.exists():
            raise ConfigError(f"{config_path}: filters: {cfg.filters}: no such file")
        load_rules(path)
    if cfg.mixture is not None:
        from curation.mixture_config import MixtureConfig

        path = resolve_path(cfg.mixture, config_path)
        if not path.exists():
            raise ConfigError(f"{config_path}: mixture: {cfg.mixture}: no such file")
        validate(MixtureConfig, read_yaml(path), path)
