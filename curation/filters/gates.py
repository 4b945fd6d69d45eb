"""Exact pre-screens for the shipped encoded-data regexes (StarCoder2's base64, hex and unicode
escape patterns), so that one bytes.translate rules most files out before sre tries a match at
every position.

Each gate states what every match of its pattern is: a run of at least `min_len` characters from
an ASCII alphabet (whitespace runs collapsed to one space when the pattern allows any whitespace).
The gates were read off the patterns by hand; tests/test_filter_rules.py checks on real and
synthetic text that a gate never rules out a text its pattern matches. A pattern not listed here
(a rule set's own) runs without a gate: slower, never wrong.
"""

from __future__ import annotations

import re
import string
from typing import Callable

_HEX = string.hexdigits
# str's \s on ASCII: \t \n \v \f \r, the separators \x1c-\x1f and space
_SPACE = "".join(c for c in map(chr, range(128)) if re.match(r"\s", c))
_SPLIT_SPACE = set(b" \t\n\r\x0b\x0c")  # what bytes.split() splits on

# pattern -> (alphabet of any match, the fewest characters of a match not counting whitespace)
GATES: dict[str, tuple[str, int]] = {
    r"[a-zA-Z0-9+/\n=]{64,}": (string.ascii_letters + string.digits + "+/\n=", 64),
    # 8 or more hex bytes, each optionally 0x- or \x-prefixed, separated by commas or whitespace
    r"(?=[0-9a-fA-F\\])(?:\b(?:0x|\\x)?[0-9a-fA-F]{2}(?:,|\b\s*)){8,}": (_HEX + "x\\," + _SPACE, 16),
    # 8 or more \uXXXX escapes: 8 x (\ u and 4 hex digits) = 48 characters
    r"\\u[0-9a-fA-F]{4}(?:\\u[0-9a-fA-F]{4}){7,}": (_HEX + "\\u", 48),
}


class RunGate:
    """A cheap, exact pre-screen for a regex: every match is a run of at least `min_len` chars from
    a known ASCII alphabet. One bytes.translate plus a substring search (~1 GB/s) rules most files
    out before sre tries a match at every position (~70-100 MB/s for the encoded-data regexes)."""

    def __init__(self, alphabet: set[int], min_len: int, slot: int = -1):
        if any(i >= 0x80 for i in alphabet):
            raise ValueError("a run gate's alphabet is ASCII")
        self.table = bytes(1 if i in alphabet else 0 for i in range(256))
        self.min_len = min_len
        self.slot = slot  # its row in `gate_tables()`, which the compiled pass of FileStats measures
        self.needle = b"\x01" * min_len
        # A pattern that allows any whitespace (hex bytes separated by \s*) would pass on every
        # deep indentation; so screen the text with whitespace runs collapsed to one space, with
        # `min_len` counting only the non-whitespace characters of the shortest match.
        self.collapse = _SPLIT_SPACE <= alphabet

    def may_match(self, data: bytes, collapsed: Callable[[], bytes]) -> bool:
        # Non-ASCII bytes map to 0: the alphabet is ASCII, so no match can contain them.
        return self.needle in (collapsed() if self.collapse else data).translate(self.table)


_gates: dict[str, RunGate] = {pattern: RunGate(set(alphabet.encode()), min_len, slot)
                              for slot, (pattern, (alphabet, min_len)) in enumerate(GATES.items())}


def gate_tables() -> tuple[bytes, list[bool], bytes]:
    """(alphabet rows of every gate in slot order, 256 bytes each; whether each collapses whitespace;
    the bytes that bytes.split() splits on, as a 256-byte table)."""
    gates = sorted(_gates.values(), key=lambda g: g.slot)
    split = bytes(1 if i in _SPLIT_SPACE else 0 for i in range(256))
    return b"".join(g.table for g in gates), [g.collapse for g in gates], split


def run_gate(pattern: re.Pattern) -> RunGate | None:
    """The gate of a shipped pattern (compiled without flags that widen it), else None."""
    if pattern.flags & (re.IGNORECASE | re.DOTALL | re.VERBOSE):
        return None
    return _gates.get(pattern.pattern)
