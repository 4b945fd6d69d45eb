"""Mixtures: plan tokens per source from `mixtures/*.yaml`, sample and shuffle them, pack into shards."""

from curation.mixture.plan import Plan, SourcePlan, available_tokens, format_plan, plan_mixture

__all__ = ["Plan", "SourcePlan", "available_tokens", "format_plan", "plan_mixture", "load_mixture"]


def load_mixture(path):
    """A validated MixtureConfig from a YAML file; errors name the file, key path and reason."""
    from curation.config import read_yaml
    from curation.mixture_config import MixtureConfig
    from curation.schema import ConfigError, validate

    data = read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return validate(MixtureConfig, data, path)
