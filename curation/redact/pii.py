"""Emails and IP addresses, with the exceptions that make them cheap to keep on real code.

Kept as they are, and why:
- emails at documentation domains (example.com/.net/.org, *.example, *.test, *.invalid, localhost;
  RFC 2606 and 6761) and `user@host` inside URLs or SSH remotes (`ssh://git@host/`, `git@host:org/x`):
  they name nobody. `icon@2x.png` style asset names and `a@b.T` matrix products are not emails at all.
- IP addresses that identify no one: private, loopback, link-local, multicast, reserved and
  unspecified ranges, the documentation ranges 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24 and
  2001:db8::/32, the well-known public resolvers (8.8.8.8, 1.1.1.1, ...), network and broadcast
  addresses and CIDR blocks (`104.16.0.0/12` names an operator's range, not a host). BigCode's
  StarCoder pipeline kept private addresses for the same reason: code needs `127.0.0.1`,
  `10.0.0.1` and `192.168.1.1` to mean what they mean, and they reveal nothing.
- version strings: a dotted quad after `version`, `ver`, `release` or a `v` on its line
  (`__version__ = "1.2.3.4"`, `v1.2.3.4`), or one that is part of a longer dotted chain (OIDs,
  `1.2.3.4.5`).
- addresses in test files (`curation.quality.heuristics.is_test_file`: the path or a test
  framework's markers) and documentation examples (`e.g.`, `for example`, `such as`, a doctest
  prompt, on the line or the one before): they are the inputs of IP parsers and validators
  (`ipv4.safeParse("114.71.82.94")`) or show a format, and name no one's machine. Replacing them
  breaks the code they test. Measured on the registry corpus (138 MB of published packages): 89 IP
  redactions before these two rules, all of them fixtures or examples (benchmarks/bench_redact.py
  lists what is left).
"""

from __future__ import annotations

import ipaddress
import itertools
import re
from collections.abc import Iterator

from curation.quality.heuristics import is_test_file
from curation.redact.base import Detector
from curation.redact.labels import Finding, Label

# --- emails -------------------------------------------------------------------------------------
# Searched from the "@" (a literal first character makes the scan fast), the local part is then
# read backwards. TLDs: any two letters (country codes) except those that are file extensions
# code writes next to an "@", or a known generic TLD.
_EMAIL_DOMAIN = re.compile(
    r"@(?P<domain>(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+(?P<tld>[A-Za-z]{2,24}))(?![A-Za-z0-9\-_@])")
_LOCAL_PART = re.compile(r"[A-Za-z0-9._%+\-]{1,64}\Z")  # \Z: "$" also matches before a final "\n"
_GENERIC_TLDS = frozenset("""
com org net edu gov mil int info biz name pro aero coop museum mobi asia tel travel jobs cat io ai
app dev tech cloud email online site xyz club store blog page digital systems solutions software
codes tools network services company global group world space live life news media design agency
studio academy school university science center community foundation social team works zone today
one top ltd inc llc gmbh berlin london nyc paris tokyo amsterdam wien swiss
""".split())  # noqa: SIM905 (a word list reads better as text)
_NOT_EMAIL_TLDS = frozenset({"py", "md", "sh", "rs", "pl", "pm", "cc", "ml", "so", "ps", "js", "ts", "hs", "cs",
                             "go", "rb", "kt", "gz", "xz", "im", "sc", "mk", "in", "am", "ac", "tf", "do"})
_EXAMPLE_DOMAIN = re.compile(r"(?:^|\.)(?:example\.(?:com|net|org)|example|test|invalid|localhost)$", re.IGNORECASE)


def find_emails(text: str, lang: str | None) -> Iterator[Finding]:
    for m in _EMAIL_DOMAIN.finditer(text):
        at = m.start()
        local = _LOCAL_PART.search(text, max(0, at - 64), at)
        if not local:
            continue
        start = at - len(local.group().lstrip("."))
        local_part = text[start:at]
        if start and text[start - 1] == "\\":
            continue  # "a\\n@b.com": the local part starts inside an escape sequence
        if not local_part or not any(c.isalpha() for c in local_part) or local_part.endswith("."):
            continue
        tld = m.group("tld").lower()
        if not ((len(tld) == 2 and tld not in _NOT_EMAIL_TLDS) or tld in _GENERIC_TLDS):
            continue
        if _EXAMPLE_DOMAIN.search(m.group("domain")):
            continue
        before = text[max(0, start - 7):start]
        if before.endswith(("/", ":")) and not before.lower().endswith("mailto:"):
            continue  # userinfo of a URL (ssh://git@host) — not an address anyone receives mail at
        if text.startswith(":", m.end()) and not text.startswith((": ", ":\n", ":\t"), m.end()):
            continue  # an SSH remote: git@github.com:org/repo.git
        yield Finding(start, m.end(), Label.EMAIL, "email")


# --- IPv4 ---------------------------------------------------------------------------------------
# Found from the dots in the middle (again a literal first character), then widened to the quad.
_IPV4_CORE = re.compile(r"\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]")
_IPV4 = re.compile(r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(?:\.(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}")
_DIGITS_BEFORE = re.compile(r"[0-9]{1,3}\Z")
_WORD = re.compile(r"[A-Za-z0-9_]")
# A letter, digit, dot or dash before the quad: `v1.2.3.4`, `pkg-1.2.3.4.tar.gz`, `1.1.2.3.4`
_TOKEN_BEFORE = re.compile(r"[A-Za-z0-9_.\-+~]")
_DOT_DIGIT = re.compile(r"\.[0-9]")
_DOT_WORD = re.compile(r"\.[A-Za-z0-9_]")
# Words before a dotted quad on its line that make it a version, a section or an object id:
# `version = "1.2.3.4"`, `v1.2.3.4`, "JLS 9.6.4.1", "RFC 5280, section 4.2.1.6", "OID 2.5.29.15".
_NOT_AN_ADDRESS_CONTEXT = re.compile(
    r"(?i)(?:version|\bver\b|release|\bv\s*$|\bv\.?$|section|\bsect?\b|§|\bjls\b|\bjvms\b|\brfc\b|\bspec\b"
    r"|specification|standard|\boid\b|chapter|clause|table|figure|paragraph)[^\n]{0,40}$")
# A documentation example: "e.g.", "for example", "such as" on the line of the address or the one before
# it, or a doctest / REPL prompt starting its line.
_EXAMPLE_CONTEXT = re.compile(r"(?i)\be\.\s?g\.|\bfor ex(?:ample)?\b|\bexamples?\b|\bsuch as\b|^\s*(?:>>>|\.\.\.|In \[\d+\]:)\s",
                              re.MULTILINE)
_PUBLIC_RESOLVERS = frozenset({"8.8.8.8", "8.8.4.4", "1.1.1.1", "1.0.0.1", "9.9.9.9", "149.112.112.112",
                               "208.67.222.222", "208.67.220.220", "4.2.2.2", "4.2.2.1"})
_DOCUMENTATION_NETS = tuple(ipaddress.ip_network(n) for n in
                            ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32"))


def _identifies_no_one(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_reserved
            or ip.is_unspecified or any(ip in net for net in _DOCUMENTATION_NETS))


def _made_up(address: str) -> bool:
    """Addresses people invent for tests and docs (1.2.3.4, 11.12.13.14, 12.34.56.78, 123.123.123.123),
    and dotted numbers that are not addresses at all."""
    octets = [int(o) for o in address.split(".")]
    if max(octets) < 40:
        # Section numbers, versions and object ids are dotted small numbers ("JLS 9.6.4.1", "17.0.21.1",
        # OID "2.5.29.15"); a random public address has all four parts below 40 about once in 2,000.
        return True
    if len(set(octets)) == 1 or all(b == a + 1 for a, b in itertools.pairwise(octets)):
        return True
    digits = address.replace(".", "")
    return len(digits) >= 4 and all(int(b) == (int(a) + 1) % 10 for a, b in itertools.pairwise(digits))


def addresses_are_fixtures(path: str | None, text: str) -> bool:
    """A test file's IP addresses are inputs of the code under test, not anyone's machine."""
    return is_test_file(path, text)


def _documentation_example(text: str, start: int) -> bool:
    line_start = text.rfind("\n", 0, start) + 1
    previous_line = text.rfind("\n", 0, max(0, line_start - 1)) + 1
    return bool(_EXAMPLE_CONTEXT.search(text, previous_line, start))


def find_ipv4(text: str, lang: str | None) -> Iterator[Finding]:
    pos = 0
    while True:
        core = _IPV4_CORE.search(text, pos)
        if not core:
            return
        head = _DIGITS_BEFORE.search(text, max(0, core.start() - 3), core.start())
        start = head.start() if head else core.start()
        m = _IPV4.match(text, start)
        pos = core.end()
        if not head or not m:
            continue
        end = m.end()
        pos = max(pos, end)
        if (start and _TOKEN_BEFORE.match(text, start - 1)) or _WORD.match(text, end) or _DOT_DIGIT.match(text, end):
            continue  # part of a longer token: an OID, a 5-part version, an identifier
        if text.startswith("/", end) and text[end + 1:end + 2].isdigit():
            continue  # a CIDR block
        address = m.group()
        if address in _PUBLIC_RESOLVERS or address.endswith((".0", ".255")):
            continue
        line_start = text.rfind("\n", 0, start) + 1
        if _NOT_AN_ADDRESS_CONTEXT.search(text, max(line_start, start - 60), start) or _made_up(address):
            continue
        if _identifies_no_one(ipaddress.IPv4Address(address)) or _documentation_example(text, start):
            continue
        yield Finding(start, end, Label.IP_ADDRESS, "ipv4")


# --- IPv6 ---------------------------------------------------------------------------------------
_IPV6_CORE = re.compile(r":(?::[0-9A-Fa-f]|[0-9A-Fa-f]{1,4}:[0-9A-Fa-f])")
_IPV6_LEFT = re.compile(r"[0-9A-Fa-f:]*\Z")
_IPV6_RIGHT = re.compile(r"[0-9A-Fa-f:]*(?:(?<=:)[0-9]{1,3}(?:\.[0-9]{1,3}){3})?")


def find_ipv6(text: str, lang: str | None) -> Iterator[Finding]:
    pos = 0
    while True:
        core = _IPV6_CORE.search(text, pos)
        if not core:
            return
        start = _IPV6_LEFT.search(text, max(0, core.start() - 40), core.start()).start()
        end = _IPV6_RIGHT.match(text, core.start()).end()
        pos = max(end, core.end())
        candidate = text[start:end]
        if (start and _WORD.match(text, start - 1)) or _WORD.match(text, end) or _DOT_WORD.match(text, end):
            continue  # inside an identifier (Foo::bar) or a longer token
        groups = [g for g in candidate.split(":") if g]
        if len(groups) < 2 or not any(c.isdigit() for c in candidate) or candidate.count(":") < 2:
            continue
        try:
            ip = ipaddress.IPv6Address(candidate)
        except ValueError:
            continue
        if text.startswith("/", end) and text[end + 1:end + 2].isdigit():
            continue  # a CIDR block
        if _identifies_no_one(ip) or (ip.ipv4_mapped and _identifies_no_one(ip.ipv4_mapped)):
            continue
        if _documentation_example(text, start):
            continue
        yield Finding(start, end, Label.IP_ADDRESS, "ipv6")


EMAIL_DETECTORS = (Detector("email", Label.EMAIL, (_EMAIL_DOMAIN,), find_emails),)
IP_DETECTORS = (
    Detector("ipv4", Label.IP_ADDRESS, (re.compile(r"[0-9]\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]"),), find_ipv4),
    # two or more colons between hex groups, not inside an identifier (Foo::bar, std::abs)
    Detector("ipv6", Label.IP_ADDRESS, (re.compile(r"(?:^|[^\w:.])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?:[^\w:]|$)"),),
             find_ipv6),
)
