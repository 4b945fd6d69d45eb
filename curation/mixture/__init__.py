"""Mixtures: plan tokens per source from `mixtures/*.yaml`, sample and shuffle them, pack into shards."""

from pathlib import Path

from curation.config.mixture import MixtureConfig
from curation.mixture.plan import (
    Plan,
    SourcePlan,
    available_tokens,
    format_plan,
    plan_mixture,
)
from curation.schema import load_model

__all__ = ["Plan", "SourcePlan", "available_tokens", "format_plan", "plan_mixture", "load_mixture"]


def load_mixture(path: str | Path) -> MixtureConfig:
    """A validated MixtureConfig from a YAML file; errors name the file, key path and reason."""
    return load_model(MixtureConfig, path)
