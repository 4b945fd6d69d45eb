"""Config of scoring and score thresholds (`quality:` of a pipeline; thresholds also in rule sets).

    thresholds:
      score_code_heuristic_v2: {min: 0.3}
      score_code_text_v1: {min: 0.5, kinds: [text]}
      signals_code_heuristic_v2.is_test: {max: 0}
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Optional

from pydantic import Field, RootModel, model_validator

from curation.schema import StrictModel, validate


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


class QualityModel(StrictModel):
    path: str = Field(description="fastText .bin from `curate train-quality` (its .json sidecar beside it)")
    kinds: list[Literal["code", "text"]] | None = Field(None, description="document kinds it scores; null: all")


class QualityConfig(StrictModel):
    """Scores are metadata (`score_<name>_v<N>` columns of docs/); thresholds decide."""

    heuristic: bool = Field(True, description="score_code_heuristic_v2 for code files")
    models: dict[str, QualityModel] = Field(default_factory=dict, description="name -> fastText model")
    langid: bool = Field(False, description="nl_lang / score_nl_lang_v1 for text documents (lid.176)")
    langid_comments: bool = Field(False, description="comment_lang / score_comment_lang_v1 for code")
    thresholds: dict[str, Threshold] = Field(
        default_factory=dict,
        description="score column -> {min, max, kinds, missing}; documents outside go to removed/quality/",
    )


def load_thresholds(data: dict, source: str | Path = "<thresholds>") -> dict[str, Threshold]:
    return validate(Thresholds, data or {}, source).root
