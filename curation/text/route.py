"""Routing general text into the mixture's text sources by classifier scores (Qwen2.5-Coder's
code-related : general : math split of the non-code share; OpenCoder / DeepSeek-Coder recall
code-related text with fastText).

    route:                          # pipeline section (proposed key `route`)
      inputs: [web]                 # the inputs whose documents are routed
      routes:                       # first match wins
        - {source: math, score: score_math_v1, min: 0.5}
        - {source: code_text, score: score_code_text_v1, min: 0.5}
      default: general              # what no route takes

The step re-labels `source` and keeps where a document came from in `source_input`; scores are
the scorer's columns and stay in docs/. It never drops. A routed source is a source of the
mixture like any other (tokens/<source>/, a share in mixtures/*.yaml), so the names of `routes`
and `default` must be mixture sources: `check_routes` says which are not.
"""

from __future__ import annotations

from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from curation.config.text import Route, RouteConfig  # noqa: F401  (the section this step applies)
from curation.steps import Described


def route_source(meta: dict, cfg: RouteConfig) -> str:
    """The source a document goes to: the first route whose score it reaches, else the default."""
    for r in cfg.routes:
        value = meta.get(r.score)
        if value is not None and value >= r.min:
            return r.source
    return cfg.default


def output_sources(inputs: list[str], cfg: RouteConfig | None) -> list[str]:
    """The sources of tokens/ and shards: the inputs, with routed inputs replaced by the targets."""
    if cfg is None:
        return sorted(inputs)
    return sorted((set(inputs) - set(cfg.inputs)) | set(cfg.targets()))


def check_routes(cfg: RouteConfig, inputs: list[str], mixture_sources: list[str] | None) -> list[str]:
    """Problems of a route section against the pipeline's inputs and its mixture's sources."""
    problems = [f"route.inputs: {name!r} is not an input (inputs: {sorted(inputs)})"
                for name in cfg.inputs if name not in inputs]
    if mixture_sources is not None:
        problems += [f"route: target {name!r} is not a source of the mixture (sources: {sorted(mixture_sources)})"
                     for name in cfg.targets() if name not in mixture_sources]
    return problems


class TextRouter(Described, PipelineStep):
    """Sets `source` of the routed inputs' documents from their scores; counts per target."""

    name = "route"
    type = "🔀 - ROUTER"

    def __init__(self, *, config: dict | RouteConfig):
        super().__init__()
        self.config = config if isinstance(config, RouteConfig) else RouteConfig.model_validate(config)
        self._inputs = frozenset(self.config.inputs)

    @classmethod
    def from_config(cls, ctx) -> TextRouter | None:
        section = getattr(ctx.config, "route", None)
        return None if section is None else cls(config=section)

    def doc_columns(self) -> dict[str, str]:
        return {"source_input": "string"}

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        for doc in data:
            source = doc.metadata.get("source")
            doc.metadata.setdefault("source_input", source)
            if source in self._inputs:
                target = route_source(doc.metadata, self.config)
                doc.metadata["source"] = target
                self.stat_update(f"to_{target}")
            yield doc
