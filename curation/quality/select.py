"""Keep or drop documents by score thresholds from YAML (scorers score; this decides).

    thresholds:                               # in a filter rule set or a pipeline config
      score_code_heuristic_v2: {min: 0.3}
      score_code_text_v1: {min: 0.5, kinds: [text]}
      signals_code_heuristic_v2.is_test: {max: 0}

A dotted key reads into a dict-valued score (the signals). A document without the score is kept
(`missing: keep`, the default) or dropped (`missing: drop`): a text document has no heuristic code
score, and that must not drop it. Drops go to `removed/quality/` with reason `<key>:below_min` or
`<key>:above_max` and the value as detail.
"""

from __future__ import annotations

from datatrove.data import Document

from curation.config.quality import Threshold
from curation.steps import DropStep

STEP = "quality"


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


class ScoreThresholdFilter(DropStep):
    step = "quality"

    def __init__(self, *, thresholds: dict[str, Threshold], removed_folder: str):
        super().__init__(removed_folder=removed_folder)
        self.thresholds = thresholds

    @classmethod
    def from_config(cls, ctx) -> ScoreThresholdFilter | None:
        q = ctx.config.quality
        if q is None or not q.thresholds:
            return None
        return cls(thresholds=q.thresholds, removed_folder=ctx.layout.removed)

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        failed = decide(doc.metadata, self.thresholds)
        if failed is None:
            return True
        reason, detail = failed
        doc.metadata["filter_detail"] = detail
        return False, reason
