"""Base for every typed config: unknown keys are errors, and errors name file, key path and reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError


class StrictModel(BaseModel):
    """A config section. Unknown keys are rejected so a typo never silently means 'default'."""

    model_config = ConfigDict(extra="forbid", validate_default=True)


class ConfigError(ValueError):
    """A config file is unreadable or invalid. The message names the file, key path and reason."""


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
