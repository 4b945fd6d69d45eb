"""Is this value a secret, or a placeholder, a template, a reference or a word?

These rules are what keeps false redactions low on real code: tests and docs are full of
`password="secret"`, `token = os.environ["TOKEN"]`, `api_key: ${API_KEY}` and `"changeme"`.
A value must look like something a person or a machine generated to be secret.
"""

from __future__ import annotations

import math
import re
from collections import Counter

# Values that stand for "put the real one here" (compared lowercased, separators removed).
_PLACEHOLDER_WORDS = frozenset("""
password passwd passwort pass pwd secret secrets token apikey key changeme changeit example sample
dummy fake test testing tests placeholder redacted none null nil undefined true false empty default
todo fixme admin root user username guest foo bar baz qux quux foobar abc abcdef abc123 letmein
qwerty welcome mypassword mysecret mytoken yourpassword yoursecret yourtoken yourapikey
""".split())  # noqa: SIM905 (a word list reads better as text)
# Substrings that mark a template, an environment lookup or an obvious stand-in.
_PLACEHOLDER_PARTS = (
    "example", "changeme", "change_me", "change-me", "changeit", "placeholder", "your_", "your-", "yourpass",
    "dummy", "redacted", "xxxx", "****", "....", "<", ">", "${", "{{", "}}", "%(", "%s", "$(", "env(",
    "environ", "getenv", "process.env", "secrets.", "vault:", "insert", "replace", "fixme", "todo",
)
_NON_ALNUM = re.compile(r"[^a-z0-9]")
_LEET = str.maketrans("430157$@", "aeoilsta")
# A value that starts with one of these is a test value ("test1234", "foo(bar", "secret_2"), not a secret.
_PLACEHOLDER_PREFIXES = ("test", "foo", "bar", "baz", "dummy", "fake", "sample", "secret", "password", "passw",
                         "changeme", "example", "demo", "mysecret", "mypass", "qwerty", "asdf", "abc123")
_SAME_CHAR = re.compile(r"^(.)\1*$")
# Stored hashes (Django, passlib, crypt): a hash is not the password and leaks little.
_PASSWORD_HASHES = ("pbkdf2_", "pbkdf2-", "argon2", "bcrypt", "scrypt", "sha1$", "md5$", "sha256$", "{ssha}", "{sha}")
_DEMO_PASSWORD_PARTS = ("pass", "pwd", "secret", "sekrit", "private", "priv", "test", "example", "sample", "changeme",
                        "dummy", "fake", "demo")
_CAMEL = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")
_SNAKE_IDENTIFIER = re.compile(r"^[a-z][a-z0-9]*(?:[_.-][a-z0-9]+)+$")
_CHUNK = re.compile(r"[^_\-.:/]+")
_HEX = re.compile(r"^[0-9a-fA-F]+$")
_KEY_CHARS = re.compile(r"^[A-Za-z0-9+/=_\-.~]+$")


def _unleet(value: str) -> str:
    """"s3cr3t" -> "secret", "p@ssw0rd" -> "password": test values dressed up as passwords."""
    return value.translate(_LEET)


def is_placeholder(value: str) -> bool:
    low = value.lower()
    if not low.strip() or low.startswith(("$", "{", "%")):
        return True  # shell/Makefile variables, templates, printf formats, URL-escaped test vectors
    letters = _NON_ALNUM.sub("", _unleet(low))
    if letters in _PLACEHOLDER_WORDS or _SAME_CHAR.match(low) or letters.startswith(_PLACEHOLDER_PREFIXES):
        return True
    if any(part in low for part in _PLACEHOLDER_PARTS):
        return True
    return "{" in value and "}" in value  # a format template such as "{password}"


def shannon_entropy(value: str) -> float:
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in Counter(value).values())


def char_classes(value: str) -> int:
    return (any(c.islower() for c in value) + any(c.isupper() for c in value) + any(c.isdigit() for c in value)
            + any(not c.isalnum() for c in value))


def looks_like_password(value: str) -> bool:
    """A password someone typed: 6-100 chars, no spaces, at least two character classes, not a
    placeholder, and not a reference to a password (field names such as "password1", "new_pass")."""
    if not 6 <= len(value) <= 100 or any(c.isspace() for c in value):
        return False
    low = value.lower()
    if is_placeholder(value) or _SNAKE_IDENTIFIER.match(value) or low.startswith(_PASSWORD_HASHES):
        return False
    plain = _NON_ALNUM.sub("", _unleet(low))
    if any(word in plain for word in _DEMO_PASSWORD_PARTS):
        return False  # "superS3cret", "priv4te", "password1": a demo password or a field name
    # Letters only, even in mixed case ("CircleOfLife", "overEvery"), is a name or a phrase in code;
    # what people and generators use as passwords has a digit or a symbol.
    return char_classes(value) >= 2 and not value.isalpha()


def looks_like_key(value: str) -> bool:
    """A generated token: 16-512 chars of a key alphabet, letters and digits mixed within one chunk
    of at least 10 chars (so "django_tests_secret_key" or "2021-01-key" are words, not keys), or a
    hex string of 32+ chars; not a URL, not a placeholder."""
    if not 16 <= len(value) <= 512 or not _KEY_CHARS.match(value) or is_placeholder(value):
        return False
    if _HEX.match(value):
        return len(value) >= 32 and shannon_entropy(value) >= 3.0
    if _repetitive(value):
        return False
    mixed = any(len(ch) >= 10 and any(c.isdigit() for c in ch) and any(c.isalpha() for c in ch)
                for ch in _CHUNK.findall(value))
    return mixed and shannon_entropy(value) >= 3.0


def _repetitive(value: str) -> bool:
    """"1bcdefghij2bcdefghij...": a typed pattern, not a generated key (most 4-grams repeat)."""
    grams = [value[i:i + 4] for i in range(len(value) - 3)]
    return len(set(grams)) < 0.75 * len(grams)


def identifier_words(identifier: str) -> list[str]:
    """`db.masterPassword_2` -> ['db', 'master', 'password', '2'] (lowercase)."""
    words = []
    for part in re.split(r"[_\-.\s]+", identifier):
        words.extend(w.lower() for w in _CAMEL.findall(part))
    return words
