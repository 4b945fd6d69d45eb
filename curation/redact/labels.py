"""What a redaction replaces a span with, and the finding that says where.

Placeholders are ordinary text in BigCode's style (`<KEY>`, `<EMAIL>`, ...): the tokenizer reads
them as the characters they are, never as special ids (tests/test_redact.py checks this against the
real TeleChat3 tokenizer), so a model learns that a value was here without learning the value.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Label(str, enum.Enum):
    """One placeholder type. The order is the priority when two findings overlap: a private key
    block beats a key inside it, a password in a URL beats the `pass@host` that looks like an email."""

    PRIVATE_KEY = "private_key"
    KEY = "key"
    PASSWORD = "password"
    EMAIL = "email"
    IP_ADDRESS = "ip_address"

    @property
    def placeholder(self) -> str:
        return f"<{self.name}>"

    @property
    def column(self) -> str:
        """The int64 docs/ column with this label's count per document."""
        return f"redacted_{self.value}"

    @property
    def priority(self) -> int:
        return list(Label).index(self)


# Secrets (the `max_secrets` drop counts these); emails and IP addresses are personal data, not secrets.
SECRET_LABELS = (Label.PRIVATE_KEY, Label.KEY, Label.PASSWORD)


@dataclass(frozen=True, slots=True)
class Finding:
    """A span [start, end) of the text to replace with `label`'s placeholder, and which detector found it."""

    start: int
    end: int
    label: Label
    detector: str
