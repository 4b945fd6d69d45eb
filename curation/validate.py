"""`curate validate`: which schema a config file follows, and whether it holds."""

from __future__ import annotations

from pathlib import Path

from curation.config.mixture import MixtureConfig
from curation.filters.ruleset import load_rules
from curation.filters.text_rules import load_text_rules
from curation.layout import Layout
from curation.load import load_pipeline
from curation.recipe import recipe
from curation.schema import ConfigError, load_model, read_yaml
from curation.steps import StepContext


def detect_kind(path: Path, data) -> str:
    folder = path.resolve().parent.name
    if folder in ("pipelines", "filters", "mixtures"):
        return {"pipelines": "pipeline", "filters": "filters", "mixtures": "mixture"}[folder]
    if isinstance(data, dict):
        if "inputs" in data:
            return "pipeline"
        if "groups" in data:
            return "mixture"
        if "defaults" in data or "languages" in data:
            return "filters"
    raise ConfigError(f"{path}: cannot tell whether this is a pipeline, filters or mixture config "
                      "(put it in pipelines/, filters/ or mixtures/)")


def validate_file(path: str | Path) -> str:
    """The kind of config `path` is; raises ConfigError naming the file, key and reason."""
    path = Path(path)
    data = read_yaml(path)
    kind = detect_kind(path, data)
    if kind == "pipeline":
        pipeline = load_pipeline(path, check_inputs=False)
        recipe(StepContext(pipeline=pipeline, layout=Layout(Path.cwd() / "out" / pipeline.config.name)))
    elif kind == "filters" and isinstance(data, dict) and data.get("kind") == "text":
        load_text_rules(path)  # filters/text.yaml: the prose rule set
        kind = "text filters"
    elif kind == "filters":
        load_rules(path)
    else:
        load_model(MixtureConfig, path)
    return kind
