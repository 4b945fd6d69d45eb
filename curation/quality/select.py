"""Keep or drop documents by score thresholds from YAML (scorers score; this decides).

    thresholds:                               # in a filter rule set or a pipeline config
      score_code_heuristic_v1: {min: 0.3}
      score_code_text_v1: {min: 0.5, kinds: [text]}
      signals_code_heuristic_v1.is_test: {max: 0}

A dotted key reads into a dict-valued score (the signals). A document without the score is kept
(`missing: keep`, the default) or dropped (`missing: drop`): a text document has no heuristic code
score, and that must not drop it. Drops go to `removed/quality/` with reason `<key>:below_min` or
`<key>:above_max` and the value as detail.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Optional

from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter
from pydantic import Field, RootModel, model_validator

from curation.documents import RemovedDocRow
from curation.io import REMOVED_SCHEMA, ParquetSink
from curation.schema import StrictModel, validate

STEP = "quality"


class Threshold(StrictModel):
    min: Optional[float] = Field(None, description="drop documents whose score is below this")
    max: Optional[float] = Field(None, description="drop documents whose score is above this")
    kinds: Optional[list[str]] = Field(None, description="apply to these document kinds only (code, text)")
    missing: Literal["keep", "drop"] = Field("keep", description="what to do with a document that has no such score")

    @model_validator(mode="after")
    def _has_bound(self):
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self


class Thresholds(RootModel[dict[str, Threshold]]):
    pass


def load_thresholds(data: dict, source: str | Path = "<thresholds>") -> dict[str, Threshold]:
    return validate(Thresholds, data or {}, source).root


def _lookup(meta: dict, key: str):
    head, _, rest = key.partition(".")
    value = meta.get(head)
    if rest and isinstance(value, dict):
        return value.get(rest)
    return None if rest else value


def decide(meta: dict, thresholds: dict[str, Threshold]) -> tuple[str, str] | None:
    """(reason, detail) of the first threshold a document fails, or None to keep it."""
    for key, t in thresholds.items():
        if t.kinds is not None and meta.get("kind") not in t.kinds:
            continue
        value = _lookup(meta, key)
        if value is None:
            if t.missing == "drop":
                return f"{key}:missing", ""
            continue
        if t.min is not None and value < t.min:
            return f"{key}:below_min", f"{value:.4f} < {t.min}"
        if t.max is not None and value > t.max:
            return f"{key}:above_max", f"{value:.4f} > {t.max}"
    return None


class ScoreThresholdFilter(BaseFilter):
    name = "quality"

    def __init__(self, thresholds: dict, removed_folder: str, *, source: str = "<thresholds>"):
        super().__init__(exclusion_writer=ParquetSink(Path(removed_folder) / STEP, REMOVED_SCHEMA,
                                                      to_row=RemovedDocRow(STEP)))
        self.thresholds = load_thresholds(thresholds, source)  # a bad key fails when the pipeline is built

    def run(self, data, rank: int = 0, world_size: int = 1):
        self.exclusion_writer.open(rank)  # an empty removed/quality file still marks the task done
        yield from super().run(data, rank, world_size)

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        failed = decide(doc.metadata, self.thresholds)
        if failed is None:
            return True
        reason, detail = failed
        doc.metadata["filter_detail"] = detail
        return False, reason
