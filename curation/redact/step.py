"""The redaction steps: `Redact` rewrites text (a formatter), `RedactionLimit` drops (a filter).

Two classes because they are two jobs: rewriting never drops, and the optional drop of documents
with more than `max_secrets` secrets is a filter with its own reason in `removed/redact/`. The
limit reads the counts `Redact` wrote into the metadata, so it must run right after it.
"""

from __future__ import annotations

from datatrove.data import Document

from curation.config.redact import RedactConfig
from curation.redact.labels import SECRET_LABELS, Label
from curation.redact.redactor import Redactor
from curation.steps import DropStep, RewriteStep
from curation.swe.render import SWE_UNIT, SweMarkerPieces, rewrite_task

STEP = "redact"
# One int64 column per placeholder type: fixed schema, never null, summable in DuckDB as it is
# (`SELECT sum(redacted_email) FROM 'OUT/docs/*.parquet'`) with Parquet min/max statistics per
# row group. Which detector fired (aws, github_token, url_password, ...) is in the stats.
COLUMNS = {label.column: "int64" for label in Label}


class Redact(RewriteStep):
    """Replaces secrets and personal data in doc.text (and the configured text metadata fields)
    with `<KEY>`, `<PASSWORD>`, `<PRIVATE_KEY>`, `<EMAIL>`, `<IP_ADDRESS>`; counts them per label."""

    step = STEP
    type = "🔏 - FORMAT"

    def __init__(self, *, config: RedactConfig | None = None):
        super().__init__()
        self.config = config or RedactConfig()
        self._redactor = None

    @classmethod
    def from_config(cls, ctx) -> Redact | None:
        config: RedactConfig = ctx.config.redact
        return cls(config=config) if config.enabled else None

    def doc_columns(self) -> dict[str, str]:
        return dict(COLUMNS)

    @property
    def redactor(self) -> Redactor:
        if self._redactor is None:  # built where the step runs: detect-secrets and hyperscan load there
            self._redactor = Redactor.from_config(self.config)
        return self._redactor

    def __getstate__(self):
        return {**self.__dict__, "_redactor": None}

    def rewrite(self, doc: Document) -> None:
        lang, path = doc.metadata.get("lang"), doc.metadata.get("path")
        counts = {label: 0 for label in Label}
        findings = []
        if doc.metadata.get("unit") == SWE_UNIT:
            # a task's text is rendered from its sections: redact them, then render again
            def redact(text: str) -> str:
                result = self.redactor.redact(text, lang, path)
                findings.extend(result.findings)
                return result.text

            doc.text = rewrite_task(doc.metadata, redact, SweMarkerPieces())
        else:
            result = self.redactor.redact(doc.text, lang, path)
            doc.text = result.text
            findings += result.findings
        for name in self.config.fields:
            value = doc.metadata.get(name)
            if isinstance(value, str) and value:
                field_result = self.redactor.redact(value, lang, path)
                doc.metadata[name] = field_result.text
                findings += field_result.findings
        for finding in findings:
            counts[finding.label] += 1
            self.stat_update(f"found_{finding.detector}")
        for label, n in counts.items():
            doc.metadata[label.column] = n
            if n:
                self.stat_update(label.column, value=n)
        self.stat_update("docs")
        if findings:
            self.stat_update("docs_redacted")


def secret_count(doc: Document) -> int:
    return sum(int(doc.metadata.get(label.column) or 0) for label in SECRET_LABELS)


class RedactionLimit(DropStep):
    """Drops documents with more than `max_secrets` secrets to removed/redact/ (reason
    `too_many_secrets`, detail with the counts). The dropped text is the redacted one: removed/
    must not become the place where the secrets survive."""

    step = STEP
    name = "redact_limit"  # its stats beside Redact's; the drops share the removed/redact/ folder

    def __init__(self, *, removed_folder: str, max_secrets: int):
        if max_secrets < 0:
            raise ValueError(f"max_secrets must be >= 0, got {max_secrets}")
        super().__init__(removed_folder=removed_folder)
        self.max_secrets = max_secrets

    @classmethod
    def from_config(cls, ctx) -> RedactionLimit | None:
        config: RedactConfig = ctx.config.redact
        if not config.enabled or config.max_secrets is None:
            return None
        return cls(removed_folder=str(ctx.layout.removed), max_secrets=config.max_secrets)

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        n = secret_count(doc)
        if n <= self.max_secrets:
            return True
        doc.metadata["filter_detail"] = f"{n} secrets > max_secrets {self.max_secrets}: " + ", ".join(
            f"{label.value}={doc.metadata.get(label.column)}" for label in SECRET_LABELS)
        return False, "too_many_secrets"
