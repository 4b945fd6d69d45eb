"""High-precision secret patterns of our own: the ones whose extent or context the detect-secrets
plugins do not give (whole private key blocks, the password inside a URL or a connection string,
`password = "..."` in code and config), plus cloud keys whose plugin pattern is too narrow.

Each finder yields only the secret value's span, so `postgres://app:s3cr3t@db/x` becomes
`postgres://app:<PASSWORD>@db/x` and the rest of the line stays as it was.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from curation.redact.base import Detector
from curation.redact.labels import Finding, Label
from curation.redact.values import identifier_words, looks_like_key, looks_like_password

# Languages whose files are configuration, where `password: s3cr3t` needs no quotes. In code an
# unquoted right-hand side is an expression (a variable, a call), never the secret itself.
CONFIG_LANGS = frozenset({"yaml", "ini", "properties", "dotenv", "toml", "shell", "dockerfile", "makefile",
                          "editorconfig", "nginx", "apacheconf", "hcl", "terraform"})

# --- private key blocks ------------------------------------------------------------------------
_PEM_BEGIN = re.compile(r"-----BEGIN ((?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?)-----")
_B64 = re.compile(r"[A-Za-z0-9+/=]")
# Without an END line the body runs while it is base64, whitespace, quotes or escaped newlines.
_PEM_BODY_RUN = re.compile(r"(?:[A-Za-z0-9+/=\s\"',]|\\n|\\r)+")
_PEM_EDGE_START = re.compile(r"(?:\s|\\n|\\r)*")
_PEM_EDGE_END = re.compile(r"(?:\s|\\n|\\r)*\Z")
_MIN_KEY_BODY = 64  # base64 chars; "..." or "<key here>" between the armor lines is an example, not a key
_MAX_KEY_BODY = 40_000  # an RSA-16384 key is ~12 KB of base64; a larger span is not one key


def find_private_key_blocks(text: str, lang: str | None) -> Iterator[Finding]:
    """The body between `-----BEGIN ... PRIVATE KEY-----` and its END line (the armor lines stay,
    they carry no secret), also inside string literals with escaped newlines (GCP key files)."""
    for m in _PEM_BEGIN.finditer(text):
        start = m.end()
        end = text.find(f"-----END {m.group(1)}-----", start, start + _MAX_KEY_BODY)
        if end < 0:
            run = _PEM_BODY_RUN.match(text, start)
            end = run.end() if run else start
        body = text[start:end]
        if len(_B64.findall(body)) >= _MIN_KEY_BODY:
            # the line breaks (real or escaped) around the body stay, so the armor keeps its shape
            end = start + _PEM_EDGE_END.search(body).start()
            start += _PEM_EDGE_START.match(body).end()
            yield Finding(start, end, Label.PRIVATE_KEY, "private_key_block")


# --- cloud keys ---------------------------------------------------------------------------------
# GCP service-account files: the private key is a PEM block (above); its id is 40 hex chars.
_GCP_KEY_ID = re.compile(r'"private_key_id"\s*:\s*"([0-9a-f]{40})"')
# GitHub fine-grained personal access tokens (the plugin knows only the ghp_/gho_/... formats).
_GITHUB_PAT = re.compile(r"\bgithub_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}\b")
# Azure: storage account and Service Bus / Event Hubs keys in connection strings, SAS signatures.
_AZURE_KEY = re.compile(r"\b(?:AccountKey|SharedAccessKey)=([A-Za-z0-9+/]{20,}={0,2})")
_AZURE_SAS_SIG = re.compile(r"[?&;]sig=([A-Za-z0-9%+/]{20,}(?:%3D|=){0,2})")


def _group_spans(pattern: re.Pattern, label: Label, name: str):
    def find(text: str, lang: str | None) -> Iterator[Finding]:
        for m in pattern.finditer(text):
            yield Finding(m.start(1), m.end(1), label, name)
    return find


def _match_spans(pattern: re.Pattern, name: str):
    def find(text: str, lang: str | None) -> Iterator[Finding]:
        for m in pattern.finditer(text):
            yield Finding(m.start(), m.end(), Label.KEY, name)
    return find


# --- passwords in URLs and connection strings ---------------------------------------------------
# scheme://user:password@host — the userinfo of RFC 3986 (no reserved characters inside).
_URL_CREDENTIALS = re.compile(
    r"\b[A-Za-z][A-Za-z0-9+.\-]{1,30}://(?P<user>[^\s:/?#@\"'<>\[\]]{1,128}):(?P<password>[^\s/?#@\"'<>\[\]]{1,256})"
    r"@(?P<host>[A-Za-z0-9.\-_]+|\[[0-9A-Fa-f:.]+\])")
# Hosts of documentation (RFC 2606 / 6761): credentials there are examples by definition.
_EXAMPLE_HOST = re.compile(r"(?:^|\.)(?:example\.(?:com|net|org)|example|test|invalid|localhost)$|^example\.", re.IGNORECASE)
# ADO.NET / ODBC / JDBC property strings: `Server=db;User Id=app;Password=s3cr3t;`
_KV_PASSWORD = re.compile(r"(?i)(?:^|[;\"'\s])(?:password|pwd)\s*=\s*(?P<value>[^;\"'\s]{1,128})(?=;)")


def find_url_passwords(text: str, lang: str | None) -> Iterator[Finding]:
    for m in _URL_CREDENTIALS.finditer(text):
        password = m.group("password")
        if password == m.group("user") or _EXAMPLE_HOST.search(m.group("host").strip("[]")):
            continue
        if looks_like_password(password) or (len(password) >= 16 and looks_like_key(password)):
            yield Finding(m.start("password"), m.end("password"), Label.PASSWORD, "url_password")


def find_kv_passwords(text: str, lang: str | None) -> Iterator[Finding]:
    for m in _KV_PASSWORD.finditer(text):
        if looks_like_password(m.group("value")):
            yield Finding(m.start("value"), m.end("value"), Label.PASSWORD, "connection_string_password")


# --- assignments in code and config: password = "...", api_key: "..." ---------------------------
# Found from the keyword (str.find on a lowercased copy: a case-insensitive regex with alternatives
# runs at ~5 MB/s in Python's re), then the identifier around it and an anchored match of the
# assignment and its value.
_ASSIGN_VALUE = re.compile(
    r"""["'\]]?[ \t]*(?::=|=>|=|:)[ \t]*"""
    r"""(?:"(?P<dq>[^"\n\\]{1,512})"|'(?P<sq>[^'\n\\]{1,512})'|`(?P<bq>[^`\n\\]{1,512})`"""
    r"""|(?P<bare>[^\s"'`;,)}\]]{1,512}))""")
_IDENT_LEFT = re.compile(r"[A-Za-z0-9_.\-]*\Z")  # \Z: "$" also matches before a final "\n"
_IDENT_RIGHT = re.compile(r"[A-Za-z0-9_]*")
_UPPER = re.compile(r"[A-Z]+")
_YAML_SYNTAX = ("&", "*", "!", "|", ">", "@", "[", "%")

_PASSWORD_KEYWORDS = ("pass", "pwd")
_PASSWORD_WORDS = frozenset({"password", "passwd", "passwort", "passphrase", "pwd", "pass"})
_KEY_KEYWORDS = ("secret", "token", "key")
_KEY_LAST_WORDS = frozenset({"secret", "token", "apikey", "accesskey", "secretkey", "privatekey"})
_KEY_QUALIFIERS = frozenset({"api", "access", "secret", "private", "auth", "client", "signing", "encryption",
                             "master", "app", "account", "subscription", "service"})
# Hyperscan triggers: the keyword, an assignment, a quote or a config value (prefilter only).
_PASSWORD_TRIGGER = re.compile(r"(?:pass|pwd)[A-Za-z0-9_]*[\"'\]]?[ \t]*(?::=|=>|=|:)[ \t]*[^\s]", re.IGNORECASE)
_KEY_TRIGGER = re.compile(r"(?:secret|token|key)[A-Za-z0-9_]*[\"'\]]?[ \t]*(?::=|=>|=|:)[ \t]*[^\s]{16}", re.IGNORECASE)


def ascii_lower(text: str) -> str:
    """Lowercase that keeps every index: str.lower() can change the length of non-ASCII text."""
    low = text.lower()
    return low if len(low) == len(text) else _UPPER.sub(lambda m: m.group().lower(), text)


def _is_password_name(words: list[str]) -> bool:
    return bool(words) and words[-1] in _PASSWORD_WORDS


def _is_key_name(words: list[str]) -> bool:
    if not words:
        return False
    if words[-1] in _KEY_LAST_WORDS:
        return True
    return words[-1] == "key" and len(words) > 1 and words[-2] in _KEY_QUALIFIERS


def _assignments(text: str, lang: str | None, keywords, is_name, looks_right, label: Label, name: str):
    low = ascii_lower(text)
    seen_ends: set[int] = set()
    for keyword in keywords:
        pos = low.find(keyword)
        while pos >= 0:
            ident_end = _IDENT_RIGHT.match(text, pos).end()
            pos = low.find(keyword, pos + 1)
            if ident_end in seen_ends:
                continue  # "secret_key" holds two keywords; one identifier, one check
            seen_ends.add(ident_end)
            m = _ASSIGN_VALUE.match(text, ident_end)
            if not m:
                continue
            group = next(g for g in ("dq", "sq", "bq", "bare") if m.group(g) is not None)
            if group == "bare" and (lang not in CONFIG_LANGS or m.group(group).startswith(_YAML_SYNTAX)):
                continue  # an expression in code; an alias, tag or block scalar in YAML
            ident = _IDENT_LEFT.search(text, max(0, ident_end - 80), ident_end).group().lstrip(".-")
            if is_name(identifier_words(ident)) and looks_right(m.group(group)):
                yield Finding(m.start(group), m.end(group), label, name)


def find_password_assignments(text: str, lang: str | None) -> Iterator[Finding]:
    yield from _assignments(text, lang, _PASSWORD_KEYWORDS, _is_password_name, looks_like_password,
                            Label.PASSWORD, "password_assignment")


def find_key_assignments(text: str, lang: str | None) -> Iterator[Finding]:
    yield from _assignments(text, lang, _KEY_KEYWORDS, _is_key_name, looks_like_key, Label.KEY, "key_assignment")


def _t(pattern: str, flags: int = 0) -> re.Pattern:
    return re.compile(pattern, flags)


DETECTORS = (
    Detector("private_key_block", Label.PRIVATE_KEY, (_t(r"PRIVATE KEY(?: BLOCK)?-----"),), find_private_key_blocks),
    Detector("gcp_private_key_id", Label.KEY, (_GCP_KEY_ID,), _group_spans(_GCP_KEY_ID, Label.KEY, "gcp_private_key_id")),
    Detector("github_fine_grained_token", Label.KEY, (_GITHUB_PAT,), _match_spans(_GITHUB_PAT, "github_fine_grained_token")),
    Detector("azure_key", Label.KEY, (_AZURE_KEY,), _group_spans(_AZURE_KEY, Label.KEY, "azure_key")),
    Detector("azure_sas_signature", Label.KEY, (_AZURE_SAS_SIG,),
             _group_spans(_AZURE_SAS_SIG, Label.KEY, "azure_sas_signature")),
    Detector("url_password", Label.PASSWORD, (_t(r"://[^\s:/?#@]{1,128}:[^\s/?#@]{1,256}@"),), find_url_passwords),
    Detector("connection_string_password", Label.PASSWORD,
             (_t(r"(?:password|pwd)\s*=\s*[^;\"'\s]{1,128};", re.IGNORECASE),), find_kv_passwords),
    Detector("password_assignment", Label.PASSWORD, (_PASSWORD_TRIGGER,), find_password_assignments),
    Detector("key_assignment", Label.KEY, (_KEY_TRIGGER,), find_key_assignments),
)
