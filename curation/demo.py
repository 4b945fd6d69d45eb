"""`curate demo`: the stage-1 pipeline, offline, on real code that every install has.

Inputs: the installed Python distributions named in `pipelines/demo.yaml` (each one a
repository) and, when running from a checkout, this project's own git repository. The tokenizer
is TeleChat3 when it can be resolved (a folder passed with --tokenizer or $CURATION_TOKENIZER, or
the hub); otherwise the demo says so and trains a small byte-level BPE on the demo corpus.
"""

from __future__ import annotations

import os
import sys
from importlib import resources
from pathlib import Path

from curation.config.pipeline import PipelineConfig
from curation.ingest.sources import installed_distributions
from curation.load import resolve_pipeline
from curation.pipeline import run_pipeline
from curation.schema import read_yaml, validate
from curation.tokenize.tokenizer import (
    TokenizerError,
    load_fallback_tokenizer,
    load_tokenizer,
)

FALLBACK_SAMPLE_BYTES = 4 * 2**20


def packaged(folder: str, name: str) -> Path:
    """A shipped config: from the checkout when running from one, else from the installed package
    (pyproject maps filters/, pipelines/ and mixtures/ into `curation._<folder>`)."""
    local = Path(__file__).resolve().parents[1] / folder / name
    if local.exists():
        return local
    return Path(str(resources.files(f"curation._{folder}") / name))


def project_checkout() -> Path | None:
    root = Path(__file__).resolve().parents[1]
    return root if (root / ".git").exists() and (root / "pyproject.toml").exists() else None


def demo_config(tokenizer_path: str | None = None, tasks: int | None = None, workers: int | None = None):
    config_path = packaged("pipelines", "demo.yaml")
    data = read_yaml(config_path)
    data["filters"] = str(packaged("filters", "code.yaml"))
    data["text_filters"] = {"rules": str(packaged("filters", "text.yaml"))}
    data["mixture"] = str(packaged("mixtures", "demo.yaml"))
    if (root := project_checkout()) is not None:
        data["inputs"]["project"] = {"kind": "repos", "paths": [str(root)], "layout": "repo", "rev": "HEAD"}
    if tokenizer_path:
        data.setdefault("tokenizer", {})["name_or_path"] = tokenizer_path
    for key, value in (("tasks", tasks), ("workers", workers)):
        if value:
            data.setdefault("executor", {})[key] = value
    return validate(PipelineConfig, data, config_path), config_path


def _sample_texts(cfg, limit_bytes: int):
    """Real code of the demo's own inputs, to train the fallback tokenizer on."""

    names = cfg.inputs["installed"].names
    seen = 0
    for dist in installed_distributions(names):
        for f in dist.files():
            if f.data is None or not f.path.endswith(".py"):
                continue
            try:
                text = f.data.decode("utf-8")
            except UnicodeDecodeError:
                continue
            yield text
            seen += len(f.data)
            if seen >= limit_bytes:
                return


def resolve_demo_tokenizer(requested: str | None, cfg):
    name = requested or os.environ.get("CURATION_TOKENIZER") or cfg.tokenizer.name_or_path
    try:
        return load_tokenizer(name)
    except TokenizerError as err:
        if requested:
            raise
        cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "curation" / "demo-tokenizer"
        print(f"note: the TeleChat3 tokenizer could not be resolved offline ({err}).", file=sys.stderr)
        tok = load_fallback_tokenizer(cache, _sample_texts(cfg, FALLBACK_SAMPLE_BYTES))
        print(f"note: using {tok.name} instead (byte-level BPE trained on the demo corpus, cached in {cache}); "
              "pass --tokenizer DIR with a local TeleChat3 tokenizer for real ids.", file=sys.stderr)
        return tok


def run_demo(out: Path, tokenizer: str | None = None, tasks: int | None = None, workers: int | None = None) -> None:
    cfg, config_path = demo_config(tokenizer, tasks, workers)
    tok = resolve_demo_tokenizer(tokenizer, cfg)
    cfg = cfg.model_copy(update={"tokenizer": cfg.tokenizer.model_copy(update={"name_or_path": tok.path})})
    run_pipeline(resolve_pipeline(cfg, config_path), out, tokenizer=tok)
