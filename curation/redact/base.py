"""The detector contract: a name, the label it assigns, cheap trigger patterns, and a span finder.

`triggers` are regular expressions that match wherever the detector could find something (often
its own patterns). The prefilter runs all detectors' triggers over a document in one pass and calls
`find` only for the detectors that fired, which is what keeps redaction cheap on clean code.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from curation.redact.labels import Finding, Label


@dataclass(frozen=True)
class Detector:
    name: str
    label: Label
    triggers: tuple[re.Pattern, ...]
    # find(text, lang) -> findings; lang is the document's language id (None when unknown)
    find: Callable[[str, str | None], Iterator[Finding]]
