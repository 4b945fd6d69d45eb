"""`curate validate`: which schema a config file follows, and whether it holds."""

from __future__ import annotations

from pathlib import Path

from curation.schema import ConfigError


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
    from curation.config import check_references, load_pipeline, read_yaml

    path = Path(path)
    data = read_yaml(path)
    kind = detect_kind(path, data)
    if kind == "pipeline":
        cfg = load_pipeline(path)
        check_references(cfg, path)
    elif kind == "filters":
        from curation.filters.rules import load_rules

        load_rules(path)
    else:
        from curation.mixture_config import MixtureConfig
        from curation.schema import validate

        if not isinstance(data, dict):
            raise ConfigError(f"{path}: expected a mapping at the top level")
        validate(MixtureConfig, data, path)
    return kind
