"""The text-filter step: applies `filters/text.yaml` to `kind: text` documents (code passes).

It only decides: a dropped document goes to `removed/text_filter/` with the rule's name as
`reason` and the measured value against its bound as `detail`. Per-language thresholds follow the
document's `nl_lang` when a language identifier ran before; otherwise the defaults apply.
"""

from __future__ import annotations

from datatrove.data import Document

from curation.config.text import TextFilterConfig  # noqa: F401  (the section this step applies)
from curation.filters.text_rules import TextRuleSet, check_text
from curation.steps import DropStep


class TextFileFilter(DropStep):
    step = "text_filter"

    def __init__(self, *, rules: TextRuleSet, removed_folder: str):
        """rules: the parsed rule set (read once when the pipeline is resolved, before any task)."""
        super().__init__(removed_folder=removed_folder)
        self.rules = rules

    @classmethod
    def from_config(cls, ctx) -> TextFileFilter | None:
        """Built when the resolved pipeline carries a text rule set (`Pipeline.text_rules`, parsed
        from `text_filters.rules` by `load.resolve_pipeline`)."""
        rules = getattr(ctx.pipeline, "text_rules", None)
        if rules is None:
            return None
        return cls(rules=rules, removed_folder=ctx.layout.removed)

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        if doc.metadata.get("kind") != "text":
            self.stat_update("passthrough_code")
            return True
        failed = check_text(self.rules, doc.text, doc.metadata.get("nl_lang"))
        if failed is None:
            return True
        reason, detail = failed
        doc.metadata["filter_detail"] = detail
        return False, reason
