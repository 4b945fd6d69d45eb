"""The text-filter step: applies `filters/text.yaml` to `kind: text` documents (code passes).

It only decides: a dropped document goes to `removed/text_filter/` with the rule's name as
`reason` and the measured value against its bound as `detail`. Per-language thresholds follow the
document's `nl_lang` when a language identifier ran before; otherwise the defaults apply.
"""

from __future__ import annotations

from pathlib import Path

from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter

from curation.documents import RemovedDocRow
from curation.filters.text_rules import TextRuleSet, check_text, load_text_rules
from curation.io import REMOVED_SCHEMA, ParquetSink
from curation.schema import StrictModel


class TextFilterConfig(StrictModel):
    """The pipeline section (proposed key `text_filters`): the rule set for text documents."""

    rules: str = "filters/text.yaml"


class TextFileFilter(BaseFilter):
    """Drops text documents that fail a prose rule; writes each to removed/text_filter/."""

    name = "text_filter"
    step = "text_filter"
    columns: dict[str, str] = {}

    def __init__(self, *, removed_folder: str, rules_path: str):
        super().__init__(exclusion_writer=ParquetSink(Path(removed_folder) / self.step, REMOVED_SCHEMA,
                                                      to_row=RemovedDocRow(self.step)))
        self.rules_path = rules_path
        self._rules: TextRuleSet | None = None

    @classmethod
    def from_config(cls, ctx) -> "TextFileFilter | None":
        section = getattr(ctx.cfg, "text_filters", None)
        if section is None:
            return None
        from curation.config import resolve_path

        return cls(removed_folder=str(ctx.layout.removed),
                   rules_path=str(resolve_path(section.rules, getattr(ctx, "config_path", "."))))

    @property
    def rules(self) -> TextRuleSet:
        if self._rules is None:
            self._rules = load_text_rules(self.rules_path)
        return self._rules

    def run(self, data, rank: int = 0, world_size: int = 1):
        self.exclusion_writer.open(rank)  # an empty removed/text_filter file still marks the task done
        yield from super().run(data, rank, world_size)

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        if doc.metadata.get("kind") != "text":
            return True
        failed = check_text(self.rules, doc.text, doc.metadata.get("nl_lang"))
        if failed is None:
            return True
        reason, detail = failed
        doc.metadata["filter_detail"] = detail
        return False, reason
