"""The file-filter step: applies a rule set from `filters/*.yaml` to code documents.

The step only decides; it never rewrites text. Dropped files go to `removed/filter/` with the rule
name as `reason` and the measured value against its bound as `detail`.
"""

from __future__ import annotations

from datatrove.data import Document

from curation.filters.rules import check
from curation.filters.ruleset import RuleSet
from curation.steps import DropStep
from curation.swe.render import SWE_UNIT


class CodeFileFilter(DropStep):
    step = "filter"

    def __init__(self, *, rules: RuleSet, removed_folder: str):
        """rules: the parsed rule set (`load_pipeline` reads it once, before any task starts)."""
        super().__init__(removed_folder=removed_folder)
        self.rules = rules

    @classmethod
    def from_config(cls, ctx) -> CodeFileFilter | None:
        if ctx.pipeline.rules is None:
            return None
        return cls(rules=ctx.pipeline.rules, removed_folder=ctx.layout.removed)

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        if doc.metadata.get("kind") != "code":
            self.stat_update("passthrough_text")
            return True
        if doc.metadata.get("unit") == SWE_UNIT:
            # A task is several files plus a diff: the per-file rules (line lengths, fractions) do
            # not describe it; its files were read from a repository whose own files are filtered.
            self.stat_update("passthrough_swe_task")
            return True
        failed = check(self.rules, doc.text, doc.metadata.get("lang"))
        if failed is None:
            return True
        reason, detail = failed
        doc.metadata["filter_detail"] = detail
        return False, reason
