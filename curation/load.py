"""`load_pipeline`: a pipeline config read, overridden, typed and cross-checked, before any stage.

Everything a config names is resolved and checked here, once: the rule set is parsed, the mixture
is parsed and its sources matched against the inputs, model files and input paths exist. `curate
run` and `curate validate` both call it, so a typo fails in a second, naming the file, the key and
the reason, instead of hours into a run. Steps then receive typed sections, never raw dicts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from curation.config.mixture import MixtureConfig
from curation.config.pipeline import PipelineConfig
from curation.filters.ruleset import RuleSet, load_rules
from curation.filters.text_rules import TextRuleSet, load_text_rules
from curation.objstore import is_remote
from curation.quality.scorer import model_spec
from curation.schema import ConfigError, load_model, read_yaml, resolve_path, validate
from curation.text.route import check_routes, output_sources


@dataclass(frozen=True)
class Pipeline:
    """A pipeline config with everything it names resolved."""

    config: PipelineConfig
    path: Path  # the config file (its folder resolves relative paths)
    rules: RuleSet | None = None
    rules_path: Path | None = None
    mixture: MixtureConfig | None = None
    mixture_path: Path | None = None
    models: dict[str, str] = field(default_factory=dict)  # quality model name -> resolved path
    text_rules: TextRuleSet | None = None  # filters/text.yaml, parsed once (TextFileFilter)

    @property
    def sources(self) -> list[str]:
        return output_sources(list(self.config.inputs), self.config.route)  # routed inputs -> their targets


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


def read_pipeline_config(path: str | Path, overrides: list[str] | None = None) -> PipelineConfig:
    """The typed config alone (schema and overrides), nothing it names opened yet."""
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    data = apply_overrides(data, overrides or [], path)
    return validate(PipelineConfig, data, path)


def load_pipeline(path: str | Path, overrides: list[str] | None = None, *, check_inputs: bool = True) -> Pipeline:
    """check_inputs=False: the input paths need not exist here (`curate validate` of a config meant
    for another machine); everything else is still opened and checked."""
    return resolve_pipeline(read_pipeline_config(path, overrides), path, check_inputs=check_inputs)


def resolve_pipeline(cfg: PipelineConfig, config_path: str | Path, *, check_inputs: bool = True) -> Pipeline:
    """Open and check everything `cfg` names; every problem found is reported at once."""
    problems: list[str] = []
    for name, inp in cfg.inputs.items() if check_inputs else ():
        for p in getattr(inp, "paths", []) or []:
            if not is_remote(p) and not Path(p).expanduser().exists():  # a URL is staged in when the run starts
                problems.append(f"inputs.{name}.paths: {p}: no such file or directory")

    rules = rules_path = None
    if cfg.filters is not None:
        rules_path = resolve_path(cfg.filters, config_path)
        if not rules_path.exists():
            problems.append(f"filters: {cfg.filters}: no such file")
        else:
            rules = load_rules(rules_path)

    text_rules = None
    if cfg.text_filters is not None:
        text_rules_path = resolve_path(cfg.text_filters.rules, config_path)
        if not text_rules_path.exists():
            problems.append(f"text_filters.rules: {cfg.text_filters.rules}: no such file")
        else:
            text_rules = load_text_rules(text_rules_path)

    mixture = mixture_path = None
    if cfg.mixture is not None:
        mixture_path = resolve_path(cfg.mixture, config_path)
        if not mixture_path.exists():
            problems.append(f"mixture: {cfg.mixture}: no such file")
        else:
            mixture = load_model(MixtureConfig, mixture_path)
            problems += [f"mixture: {mixture_path}: {p}" for p in mixture_problems(mixture, output_sources(list(cfg.inputs), cfg.route))]
            if cfg.route is not None:
                problems += check_routes(cfg.route, list(cfg.inputs), [n for g in mixture.groups.values() for n in g.sources])

    models: dict[str, str] = {}
    if cfg.quality is not None:
        for name, model in cfg.quality.models.items():
            path = resolve_path(model.path, config_path)
            try:
                model_spec(path)
            except FileNotFoundError as err:
                problems.append(f"quality.models.{name}.path: {err}")
            models[name] = str(path)

    problems += decontaminate_problems(cfg, config_path)
    if problems:
        raise ConfigError(f"{config_path}:\n  " + "\n  ".join(problems))
    return Pipeline(config=cfg, path=Path(config_path), rules=rules, rules_path=rules_path, mixture=mixture,
                    mixture_path=mixture_path, models=models, text_rules=text_rules)


def mixture_problems(mixture: MixtureConfig, inputs: list[str]) -> list[str]:
    """A required source that no input provides, or an input the mixture never names (its
    documents would be tokenized and then never reach a shard): both are typos until fixed."""
    named = {name for group in mixture.groups.values() for name in group.sources}
    problems = [f"groups.{g}.sources.{name}: no input of this pipeline is named {name!r} (inputs: "
                f"{', '.join(inputs)}); fix the name, add the input, or mark the source required: false"
                for g, group in mixture.groups.items() for name, src in group.sources.items()
                if src.required and name not in inputs]
    problems += [f"input {name!r} is not a source of this mixture: its documents would never reach the shards"
                 for name in inputs if name not in named]
    return problems


def decontaminate_problems(cfg: PipelineConfig, config_path: str | Path) -> list[str]:
    """Benchmark files the decontamination step will need, checked before any stage runs."""
    d = cfg.decontaminate
    if not d.enabled:
        return []
    problems = []
    if d.require_builtin and d.builtin and (not d.benchmarks_dir or not resolve_path(d.benchmarks_dir, config_path).is_dir()):
        problems.append(f"decontaminate.benchmarks_dir: {d.benchmarks_dir}: no such folder (require_builtin is on)")
    for i, extra in enumerate(d.extra):
        if extra.path and not resolve_path(extra.path, config_path).exists():
            problems.append(f"decontaminate.extra.{i}.path: {extra.path}: no such file or folder")
    return problems

