"""Find, resolve overlaps, replace: the whole redaction of one string, independent of datatrove."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from curation.redact import pii, plugins, secrets
from curation.redact.base import Detector
from curation.redact.labels import SECRET_LABELS, Finding, Label
from curation.redact.prefilter import Prefilter


@dataclass
class Redaction:
    text: str
    findings: list[Finding] = field(default_factory=list)

    @property
    def counts(self) -> Counter:
        """Findings per label (every label present, zeros included)."""
        counts = Counter({label: 0 for label in Label})
        counts.update(f.label for f in self.findings)
        return counts

    @property
    def secrets(self) -> int:
        return sum(1 for f in self.findings if f.label in SECRET_LABELS)


def resolve_overlaps(findings: list[Finding]) -> list[Finding]:
    """Non-overlapping findings in text order; where two overlap the higher-priority label wins, then
    the longer span (a private key block over a key inside it, a URL password over `pass@host.com`)."""
    chosen: list[Finding] = []
    for f in sorted(findings, key=lambda f: (f.label.priority, f.start - f.end, f.start)):
        if f.end > f.start and all(f.end <= c.start or f.start >= c.end for c in chosen):
            chosen.append(f)
    return sorted(chosen, key=lambda f: f.start)


def apply(text: str, findings: list[Finding]) -> str:
    parts, pos = [], 0
    for f in findings:
        parts.append(text[pos:f.start])
        parts.append(f.label.placeholder)
        pos = f.end
    parts.append(text[pos:])
    return "".join(parts)


class Redactor:
    def __init__(self, detectors: Sequence[Detector]):
        self.detectors = tuple(detectors)
        self.prefilter = Prefilter(self.detectors)

    @classmethod
    def from_config(cls, config) -> Redactor:
        detectors: list[Detector] = []
        if config.secrets:
            detectors += secrets.DETECTORS + plugins.plugin_detectors(config.plugins)
        if config.emails:
            detectors += pii.EMAIL_DETECTORS
        if config.ip_addresses:
            detectors += pii.IP_DETECTORS
        return cls(detectors)

    def find(self, text: str, lang: str | None = None, path: str | None = None) -> list[Finding]:
        """path: the document's file path (None when it has none), for `pii.addresses_are_fixtures`."""
        findings: list[Finding] = []
        fixtures = None  # decided on the first IP trigger: most documents have none
        for index in self.prefilter.triggered(text):
            detector = self.detectors[index]
            if detector.label is Label.IP_ADDRESS:
                if fixtures is None:
                    fixtures = pii.addresses_are_fixtures(path, text)
                if fixtures:
                    continue
            findings.extend(detector.find(text, lang))
        return resolve_overlaps(findings)

    def redact(self, text: str, lang: str | None = None, path: str | None = None) -> Redaction:
        findings = self.find(text, lang, path)
        return Redaction(apply(text, findings) if findings else text, findings)
