"""The `redact:` section of a pipeline config."""

from __future__ import annotations

from pydantic import Field, field_validator

from curation.redact.plugins import DEFAULT_PLUGINS, PLUGIN_MODULES
from curation.schema import StrictModel


class RedactConfig(StrictModel):
    """Secrets and personal data replaced by typed placeholders (`<KEY>`, `<PASSWORD>`, `<EMAIL>`, ...)."""

    enabled: bool = True
    secrets: bool = True  # private keys, cloud/VCS/SaaS tokens, passwords in URLs, connection strings, assignments
    emails: bool = True
    ip_addresses: bool = True
    # detect-secrets plugin classes whose token formats are searched (see curation/redact/plugins.py for the
    # ones left out by default and why)
    plugins: list[str] = Field(default_factory=lambda: list(DEFAULT_PLUGINS))
    # Drop a document with more than this many secrets (keys + passwords + private keys) to removed/redact/:
    # a file that is mostly credentials (a dump, a fixture of keys) is not worth its redacted remains.
    # null keeps every document.
    max_secrets: int | None = Field(default=None, ge=0)
    # String metadata fields redacted with the text when a document has them (SWE tasks carry the
    # statement and the patches beside the rendered text).
    fields: list[str] = Field(default_factory=lambda: ["statement", "patch", "test_patch"])

    @field_validator("plugins")
    @classmethod
    def _known_plugins(cls, names: list[str]) -> list[str]:
        unknown = sorted(set(names) - set(PLUGIN_MODULES))
        if unknown:
            raise ValueError(f"unknown detect-secrets plugin(s) {unknown}; known: {sorted(PLUGIN_MODULES)}")
        return names
