"""The token formats of `detect-secrets` (Yelp), used as pattern libraries.

Its scan API reads files and builds baselines line by line; we only need spans in a string, so we
take each plugin's compiled `denylist` and run it with `finditer` (the plugin's own `analyze_string`
yields values without positions). Two corrections on top: a match is extended to the end of its
token (Stripe's pattern stops after 24 chars and JWT's lazy tail after the payload, which would
leave the rest of the secret in the text), and a match that starts inside a longer run of base64
is dropped (base64 data contains "eyJ", "AKIA", ... by chance).

Plugins left out of the default set, and why: the entropy plugins and KeywordDetector flag hashes,
test vectors and ordinary assignments on code (our `key_assignment`/`password_assignment` apply
value rules instead); BasicAuthDetector is `url_password`; PrivateKeyDetector only reports the
header line (`private_key_block` redacts the body); IPPublicDetector is `curation.redact.pii`.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterator

from curation.config.redact import DETECT_SECRETS_PLUGINS as PLUGIN_MODULES
from curation.redact.base import Detector
from curation.redact.labels import Finding, Label

_TOKEN_TAIL = re.compile(r"[A-Za-z0-9_\-]*")
_JWT_TAIL = re.compile(r"[A-Za-z0-9_\-.=+/]*")
_BASE64_CHAR = re.compile(r"[A-Za-z0-9+/]")
_AWS_KEY_ID = re.compile(r"(?:A3T[A-Z0-9]|ABIA|ACCA|AKIA|ASIA)")
_DNA = re.compile(r"^[ACGT]+$")
_KEY_EQUALS = re.compile(r"^[A-Za-z]+=")
# A capturing group this long is the secret value of an assignment pattern (AWS secret key, Cloudant,
# IBM); shorter groups are prefix alternations such as GitHub's (ghp|gho|...).
_MIN_GROUP_SECRET = 16


def plugin_class(name: str):
    if name not in PLUGIN_MODULES:
        raise ValueError(f"unknown detect-secrets plugin {name!r}; known: {', '.join(sorted(PLUGIN_MODULES))}")
    module = importlib.import_module(f"detect_secrets.plugins.{PLUGIN_MODULES[name]}")
    return getattr(module, name)


class PluginFinder:
    """find(text, lang) over one plugin's denylist. A class, so detectors pickle for every executor."""

    def __init__(self, name: str):
        plugin_class(name)  # an unknown name fails here, with the known ones listed
        self.name = name
        self.detector = PLUGIN_MODULES[name]  # aws, github_token, slack, ...
        self._plugin = None

    @property
    def plugin(self):
        if self._plugin is None:
            self._plugin = plugin_class(self.name)()
        return self._plugin

    def patterns(self) -> tuple[re.Pattern, ...]:
        return tuple(self.plugin.denylist)

    def __call__(self, text: str, lang: str | None) -> Iterator[Finding]:
        for pattern in self.plugin.denylist:
            for m in pattern.finditer(text):
                span = self._span(text, m)
                if span:
                    yield Finding(span[0], span[1], Label.KEY, self.detector)

    def __getstate__(self):
        return {"name": self.name, "detector": self.detector, "_plugin": None}

    def _span(self, text: str, m: re.Match) -> tuple[int, int] | None:
        groups = [m.span(g) for g in range(1, m.re.groups + 1) if m.group(g)]
        widest = max(groups, key=lambda span: span[1] - span[0], default=None)
        if widest and widest[1] - widest[0] >= _MIN_GROUP_SECRET:
            start, end = widest  # an assignment pattern: its group is the value, not a prefix like (ghp|gho)
        else:
            start, end = m.span()
            if start > 0 and _BASE64_CHAR.match(text, start - 1):
                return None  # the prefix is inside a longer base64 run
            tail = _JWT_TAIL if self.name == "JwtTokenDetector" else _TOKEN_TAIL
            end = tail.match(text, end).end()
        value = text[start:end].rstrip(".")
        end = start + len(value)
        key_value = _KEY_EQUALS.match(value)
        if key_value:  # Azure's pattern includes "AccountKey=": only the value is the secret
            start += key_value.end()
            value = value[key_value.end():]
        if "example" in value.lower():
            return None  # AKIAIOSFODNN7EXAMPLE and friends: the providers' documentation values
        if self.name == "JwtTokenDetector" and not self.plugin.is_formally_valid(value):
            return None
        if self.name == "AWSKeyDetector" and _AWS_KEY_ID.match(value) and (len(value) != 20 or _DNA.match(value)):
            return None  # a key id is exactly 20 chars; longer is a bigger token, ACGT-only is a genome
        if self.name == "NpmDetector":  # its pattern runs to the end of the line
            value = re.split(r"[\s\"']", value, maxsplit=1)[0]
            end = start + len(value)
        return (start, end) if value else None


def plugin_detectors(names) -> tuple[Detector, ...]:
    detectors = []
    for name in names:
        finder = PluginFinder(name)
        detectors.append(Detector(finder.detector, Label.KEY, finder.patterns(), finder))
    return tuple(detectors)
