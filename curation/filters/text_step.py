"""The text-filter step: applies `filters/text.yaml` to `kind: text` documents (code passes).

It only decides: a dropped document goes to `removed/text_filter/` with the rule's name as
`reason` and the measured value against its bound as `detail`. Per-language thresholds follow the
document's `nl_lang`. The filter runs in the ingest run, before the quality scorer, so when the rule
set has per-language overrides (`languages:`) and a document has no `nl_lang` yet, the filter
identifies it with lid.176 (the scorer's identifier and model) and writes `nl_lang` and
`score_nl_lang_v1`: the language the rules were chosen by is in docs/ and in removed/. Without
overrides nothing is identified and the defaults apply to every document.
"""

from __future__ import annotations

from datatrove.data import Document

from curation.config.text import TextFilterConfig  # noqa: F401  (the section this step applies)
from curation.filters.text_rules import TextRuleSet, check_text
from curation.langid import LanguageIdentifier, ensure_lid_model
from curation.steps import DropStep


class TextFileFilter(DropStep):
    step = "text_filter"

    def __init__(self, *, rules: TextRuleSet, removed_folder: str, lid_model: str | None = None):
        """rules: the parsed rule set (read once when the pipeline is resolved, before any task);
        lid_model: the lid.176 file (default: the verified cached copy, fetched on first use)."""
        super().__init__(removed_folder=removed_folder)
        self.rules = rules
        self.identify = bool(rules.languages)
        self.lid_model = lid_model
        self._lid = None

    @classmethod
    def from_config(cls, ctx) -> TextFileFilter | None:
        """Built when the resolved pipeline carries a text rule set (`Pipeline.text_rules`, parsed
        from `text_filters.rules` by `load.resolve_pipeline`)."""
        rules = getattr(ctx.pipeline, "text_rules", None)
        if rules is None:
            return None
        return cls(rules=rules, removed_folder=ctx.layout.removed)

    def doc_columns(self) -> dict[str, str]:
        return {"nl_lang": "string", "score_nl_lang_v1": "float64"} if self.identify else {}

    def prepare(self) -> None:
        """The driver fetches and verifies the model once, so that no task has to (and a missing
        model fails the run before any task starts, with the reason)."""
        if self.identify and self.lid_model is None:
            self.lid_model = str(ensure_lid_model())

    def __getstate__(self):
        return {**self.__dict__, "_lid": None}  # every task loads the model itself

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        if doc.metadata.get("kind") != "text":
            self.stat_update("passthrough_code")
            return True
        if self.identify and doc.metadata.get("nl_lang") is None:
            if self._lid is None:
                self._lid = LanguageIdentifier(self.lid_model)
            [(lang, p)] = self._lid.identify([doc.text])
            doc.metadata["nl_lang"], doc.metadata["score_nl_lang_v1"] = lang, p
            self.stat_update(f"nl_lang_{lang}")
        failed = check_text(self.rules, doc.text, doc.metadata.get("nl_lang"))
        if failed is None:
            return True
        reason, detail = failed
        lang = doc.metadata.get("nl_lang")
        # removed/ has no nl_lang column: the detail says which language's bounds were applied
        doc.metadata["filter_detail"] = f"{detail} ({lang} rules)" if lang in self.rules.languages else detail
        return False, reason
