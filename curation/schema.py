"""Base for every typed config: unknown keys are errors, and errors name file, key path and reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError


class StrictModel(BaseModel):
    """A config section. Unknown keys are rejected so a typo never silently means 'default'."""

    model_config = ConfigDict(extra="forbid", validate_default=True)


class ConfigError(ValueError):
    """A config file is unreadable or invalid. The message names the file, key path and reason."""

    exit_code = 2  # `curate` exits 2 for a config to fix, 1 for a run that failed


def format_validation_error(source: str | Path, err: ValidationError) -> str:
    lines = [f"{source}: invalid config"]
    for item in err.errors():
        key = ".".join(str(p) for p in item["loc"]) or "(top level)"
        reason = item["msg"]
        if item["type"] == "extra_forbidden":
            reason = "unknown key"
        lines.append(f"  {key}: {reason}")
    return "\n".join(lines)


def validate(model: type[BaseModel], data: Any, source: str | Path) -> BaseModel:
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise ConfigError(format_validation_error(source, err)) from None


def read_yaml(path: str | Path) -> Any:
    """A YAML file's data; unreadable or invalid YAML is a ConfigError naming the file and line."""
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


def load_model(model: type[BaseModel], path: str | Path) -> BaseModel:
    """A YAML file validated against `model`; errors name the file, key path and reason."""
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return validate(model, data, path)


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
