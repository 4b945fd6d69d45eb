"""The file-filter step: applies a rule set from `filters/*.yaml` to code documents.

The step only decides; it never rewrites text. Dropped files go to `removed/filter/` with the rule
name as `reason` and the measured value against its bound as `detail`.
"""

from __future__ import annotations

from pathlib import Path

from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter

from curation.documents import RemovedDocRow
from curation.io import REMOVED_SCHEMA, ParquetSink

STEP = "filter"


class CodeFileFilter(BaseFilter):
    name = "filter"

    def __init__(self, rules_path: str, removed_folder: str):
        super().__init__(exclusion_writer=ParquetSink(Path(removed_folder) / STEP, REMOVED_SCHEMA,
                                                      to_row=RemovedDocRow(STEP)))
        self.rules_path = rules_path
        self._rules = None

    @property
    def rules(self):
        if self._rules is None:
            from curation.filters.rules import load_rules

            self._rules = load_rules(self.rules_path)
        return self._rules

    def run(self, data, rank: int = 0, world_size: int = 1):
        self.exclusion_writer.open(rank)  # an empty removed/filter file still marks the task done
        yield from super().run(data, rank, world_size)

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        from curation.filters.rules import check

        if doc.metadata.get("kind") != "code":
            self.stat_update("passthrough_text")
            return True
        failed = check(self.rules, doc.text, doc.metadata.get("lang"))
        if failed is None:
            return True
        reason, detail = failed
        doc.metadata["filter_detail"] = detail
        return False, reason
