"""The license a repository declares: from its root license file or its package manifest.

Detection is deliberately conservative, like licensee (GitHub) and go-license-detector:
a text counts only when it contains the *distinctive clauses* of one license (not just
its title), and a text that carries two different licenses gives None. A wrong
"permissive" would let copyleft code win dedup ties, so "don't know" is the safe answer.

Ids are SPDX, with one simplification for the GNU family: "GPL-3.0" means the plain
license text (SPDX's "-only" form), "GPL-3.0-or-later" is given only when the text says
"or (at your option) any later version". Manifests' "GPL-3.0-only" maps to "GPL-3.0", so
a manifest and a license file of one repository agree.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

# ---------------------------------------------------------------------------
# Ids, aliases and classes
# ---------------------------------------------------------------------------

PERMISSIVE = frozenset({
    "MIT", "Apache-2.0", "BSD-2-Clause", "BSD-3-Clause", "ISC", "Zlib", "BSL-1.0",
    "Unlicense", "CC0-1.0", "0BSD", "Python-2.0", "PSF-2.0",
})
# MPL-2.0 and EPL-2.0 are "weak" copyleft: a modified file must stay under the same
# license with its source available. That is an obligation a permissive license does not
# carry, so for the dedup keep rule (permissive > none > other) they rank with copyleft:
# of two copies of a file, the MIT one is kept over the MPL one.
COPYLEFT = frozenset({
    "GPL-2.0", "GPL-2.0-or-later", "GPL-3.0", "GPL-3.0-or-later", "LGPL-2.1",
    "LGPL-2.1-or-later", "LGPL-3.0", "LGPL-3.0-or-later", "AGPL-3.0", "AGPL-3.0-or-later",
    "MPL-2.0", "EPL-2.0",
})
KNOWN_IDS = PERMISSIVE | COPYLEFT


def _key(value: str) -> str:
    """Spelling-insensitive key: "The MIT License" and "mit" meet at "mit"."""
    key = re.sub(r"[\s_,()\"']+", " ", value.lower()).strip()
    key = re.sub(r"^the ", "", key)
    key = re.sub(r" (?:license|licence)$", "", key)
    return key.replace("-", " ").replace("licence", "license").strip()


_ALIASES: dict[str, str] = {}


def _alias(spdx: str, *spellings: str) -> None:
    for spelling in (spdx, *spellings):
        _ALIASES[_key(spelling)] = spdx


_alias("MIT", "Expat", "MIT License", "The MIT License (MIT)", "MIT/Expat")
_alias("Apache-2.0", "Apache 2.0", "Apache 2", "Apache2", "Apache v2", "Apache-2",
       "Apache License 2.0", "Apache License, Version 2.0", "Apache License Version 2.0",
       "Apache Software License 2.0", "Apache Software License, Version 2.0", "ASL 2.0",
       "ASL2", "Apache 2.0 License", "Apache License v2.0", "ALv2")
_alias("BSD-2-Clause", "BSD 2-Clause", "2-Clause BSD", "Simplified BSD", "FreeBSD",
       "BSD 2 Clause", "BSD-2", "BSD2")
_alias("BSD-3-Clause", "BSD 3-Clause", "3-Clause BSD", "New BSD", "Modified BSD",
       "Revised BSD", "BSD 3 Clause", "BSD-3", "BSD3", "BSD License 3-Clause")
_alias("ISC", "ISC License (ISCL)", "ISCL")
_alias("MPL-2.0", "MPL 2.0", "MPL2", "Mozilla Public License 2.0", "Mozilla Public License, v. 2.0",
       "Mozilla Public License Version 2.0")
_alias("GPL-2.0", "GPL-2.0-only", "GPLv2", "GPL v2", "GPL-2", "GPL2", "GNU GPL v2", "GNU GPLv2",
       "GNU General Public License v2", "GNU General Public License v2 (GPLv2)")
_alias("GPL-2.0-or-later", "GPL-2.0+", "GPLv2+", "GPL v2+", "GPL-2+", "GPL2+",
       "GNU General Public License v2 or later (GPLv2+)")
_alias("GPL-3.0", "GPL-3.0-only", "GPLv3", "GPL v3", "GPL-3", "GPL3", "GNU GPL v3", "GNU GPLv3",
       "GNU General Public License v3", "GNU General Public License v3 (GPLv3)")
_alias("GPL-3.0-or-later", "GPL-3.0+", "GPLv3+", "GPL v3+", "GPL-3+", "GPL3+",
       "GNU General Public License v3 or later (GPLv3+)")
_alias("LGPL-2.1", "LGPL-2.1-only", "LGPLv2.1", "LGPL v2.1", "LGPL2.1")
_alias("LGPL-2.1-or-later", "LGPL-2.1+", "LGPLv2.1+", "LGPL v2.1+")
_alias("LGPL-3.0", "LGPL-3.0-only", "LGPLv3", "LGPL v3", "LGPL-3", "LGPL3",
       "GNU Lesser General Public License v3 (LGPLv3)")
_alias("LGPL-3.0-or-later", "LGPL-3.0+", "LGPLv3+", "LGPL v3+", "LGPL-3+",
       "GNU Lesser General Public License v3 or later (LGPLv3+)")
_alias("AGPL-3.0", "AGPL-3.0-only", "AGPLv3", "AGPL v3", "AGPL-3", "AGPL3",
       "GNU Affero General Public License v3")
_alias("AGPL-3.0-or-later", "AGPL-3.0+", "AGPLv3+", "AGPL v3+",
       "GNU Affero General Public License v3 or later (AGPLv3+)")
_alias("Unlicense", "The Unlicense (Unlicense)", "Unlicensed Public Domain")
_alias("CC0-1.0", "CC0", "CC0 1.0", "CC0 1.0 Universal",
       "CC0 1.0 Universal (CC0 1.0) Public Domain Dedication")
_alias("Zlib", "zlib/libpng")
_alias("BSL-1.0", "Boost", "Boost Software License 1.0", "Boost Software License 1.0 (BSL-1.0)",
       "Boost Software License, Version 1.0")
_alias("EPL-2.0", "Eclipse Public License 2.0", "Eclipse Public License 2.0 (EPL-2.0)",
       "Eclipse Public License v2.0")
_alias("0BSD", "Zero-Clause BSD", "BSD Zero Clause", "BSD-0-Clause")
_alias("Python-2.0", "Python License", "Python License 2.0")
_alias("PSF-2.0", "PSF", "PSFL", "Python Software Foundation License", "PSF License",
       "Python Software Foundation License 2.0")


def _normalize_id(term: str) -> str | None:
    return _ALIASES.get(_key(term))


_OPERATOR = re.compile(r"\s+(OR|AND)\s+", re.I)


def normalize_spdx(value: str) -> str | None:
    """A known SPDX id or a flat `A OR B` / `A AND B` expression in canonical spelling.

    None for anything else: unknown ids, "BSD" or "GPL" without a version, "WITH"
    exceptions, mixed AND/OR (precedence would matter), "SEE LICENSE IN ...".
    """
    value = value.strip()
    whole = _normalize_id(value)  # "ISC License (ISCL)", "The MIT License (MIT)"
    if whole:
        return whole
    if value.startswith("(") and value.endswith(")"):
        value = value[1:-1].strip()
    if not value or "(" in value or re.search(r"\bWITH\b", value, re.I):
        return None
    if "/" in value and not _OPERATOR.search(value):
        value = " OR ".join(value.split("/"))  # Cargo's old "MIT/Apache-2.0" meant OR
    parts = _OPERATOR.split(value)
    terms, operators = parts[0::2], {op.upper() for op in parts[1::2]}
    if len(operators) > 1:
        return None
    ids = [_normalize_id(t) for t in terms]
    if not all(ids):
        return None
    unique = list(dict.fromkeys(ids))
    if len(unique) == 1:
        return unique[0]
    return f" {operators.pop()} ".join(unique)


_CLASS_RANK = {"permissive": 0, "copyleft": 1, "other": 2}


def license_class(spdx: str | Iterable[str] | None) -> str:
    """"permissive", "copyleft", "other" (a license we cannot place) or "none" (no license).

    An OR expression takes its best choice (the user may pick it); an AND expression, or a
    list of licenses found in one repository (The Stack's column), takes its worst.
    """
    if spdx is None:
        return "none"
    if not isinstance(spdx, str):
        classes = [license_class(s) for s in spdx if s]
        classes = [c for c in classes if c != "none"]
        return max(classes, key=_CLASS_RANK.__getitem__) if classes else "none"
    if not spdx.strip():
        return "none"
    expression = normalize_spdx(spdx)
    if expression is None:
        return "other"
    operator = " OR " if " OR " in expression else " AND "
    classes = ["permissive" if t in PERMISSIVE else "copyleft" for t in expression.split(operator)]
    pick = min if operator == " OR " else max
    return pick(classes, key=_CLASS_RANK.__getitem__)


def resolve_repo_license(votes: Iterable[str]) -> str | None:
    """One license for a repository from what its license files and manifests say.

    Agreeing votes give that license. A GNU license text alone reads as "GPL-3.0" while
    its notice or manifest may say "GPL-3.0-or-later": the more specific one wins. Any
    other disagreement gives None.
    """
    unique = set(votes)
    if len(unique) == 1:
        return unique.pop()
    if len(unique) == 2:
        a, b = sorted(unique, key=len)
        if b == f"{a}-or-later":
            return b
    return None


# ---------------------------------------------------------------------------
# License files
# ---------------------------------------------------------------------------

LICENSE_FILE_NAMES = frozenset({
    "LICENSE", "LICENSE.txt", "LICENSE.md", "LICENSE.rst", "LICENSE.markdown",
    "LICENCE", "LICENCE.txt", "LICENCE.md", "LICENSES", "License", "License.txt", "license",
    "license.txt", "license.md", "COPYING", "COPYING.txt", "COPYING.md", "COPYING.LESSER",
    "COPYING.LIB", "COPYING3", "COPYRIGHT", "COPYRIGHT.txt", "UNLICENSE", "UNLICENSE.txt",
    "LICENSE-MIT", "LICENSE-APACHE", "LICENSE-MIT.txt", "LICENSE-APACHE.txt",
    "LICENSE.MIT", "LICENSE.APACHE", "LICENSE.BSD", "LICENSE.GPL", "LICENSE-2.0.txt",
    "LICENSE_1_0.txt", "MIT-LICENSE", "MIT-LICENSE.txt", "MIT_LICENSE",
})
_SUFFIX = r"(?:[-_][a-z0-9+]+|\.\d+)*"  # -MIT, _1_0, -APACHE-2.0; dots only between digits
_LICENSE_TOKEN = r"(?:mit|apache2?|bsd|gpl|gplv[23]|lgpl|lgplv[23]|agpl|mpl|lesser|lib|gnu|isc|zlib|boost|cc0)"
_DOC_EXT = r"(?:\.(?:txt|text|md|markdown|rst|adoc|asciidoc|org|html?))?"
_LICENSE_NAME = re.compile(
    rf"^(?:(?:(?:un)?licen[cs]es?|copying|copyright|copyleft)\d*{_SUFFIX}(?:\.{_LICENSE_TOKEN}{_SUFFIX})?"
    rf"|{_LICENSE_TOKEN}{_SUFFIX}[-_.]licen[cs]e){_DOC_EXT}$",
    re.I,
)


def is_license_file(path: str) -> bool:
    """True for a license file at the repository root (LICENSE, COPYING.LESSER, ...)."""
    path = path.replace("\\", "/").removeprefix("./")
    return "/" not in path and bool(_LICENSE_NAME.match(path))


# ---------------------------------------------------------------------------
# License texts
# ---------------------------------------------------------------------------


def _normalize_text(text: str) -> str:
    """Lowercase words and numbers separated by single spaces.

    Punctuation, quotes, markdown and comment markers all become spaces, so one pattern
    matches every reflowed, commented or re-quoted copy. Dots survive only inside
    version numbers ("2.0", "1.6.1").
    """
    text = text.lower().replace("licence", "license")
    text = re.sub(r"(?<=\d)\.(?=\d)", "\x00", text)
    text = re.sub(r"[^a-z0-9\x00]+", " ", text)
    return text.replace("\x00", ".").strip()


def _phrases(*patterns: str) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in patterns))


# A license counts when one of its patterns matches. Each is a clause of the license body
# or of its official notice, never the title alone.
_FSF = r"as published by the free software foundation"
_FSF_COPYRIGHT = r"copyright (?:c )?"  # followed by the year of the license text
_LICENSE_PATTERNS: dict[str, re.Pattern[str]] = {
    "MIT": _phrases(
        r"permission is hereby granted free of charge to any person obtaining a copy of this software"
        r".{0,600}?the above copyright notice and this permission notice shall be included in all copies"
        r" or substantial portions of the software"),
    "Apache-2.0": _phrases(r"apache license version 2\.0 january 2004 .{0,80}?terms and conditions for use"
                           r" reproduction and distribution",
                           r"licensed under the apache license version 2\.0"),
    "ISC": _phrases(
        r"permission to use copy modify and (?:or )?distribute this software for any purpose with or"
        r" without fee is hereby granted provided that the above copyright notice and this permission"
        r" notice appear in all copies"),
    "0BSD": _phrases(
        r"permission to use copy modify and (?:or )?distribute this software for any purpose with or"
        r" without fee is hereby granted (?!provided)"),
    "MPL-2.0": _phrases(r"mozilla public license version 2\.0 1 definitions",
                        r"subject to the terms of the mozilla public license v 2\.0"),
    "GPL-2.0": _phrases(rf"gnu general public license version 2 june 1991 {_FSF_COPYRIGHT}1989",
                        rf"gnu general public license (?:gpl )?{_FSF} (?:either )?version 2\b",
                        rf"gnu general public license (?:gpl )?(?:version|v) ?2(?:\.0)? (?:only )?{_FSF}"),
    "GPL-3.0": _phrases(rf"gnu general public license version 3 29 june 2007 {_FSF_COPYRIGHT}2007",
                        rf"gnu general public license (?:gpl )?{_FSF} (?:either )?version 3\b",
                        rf"gnu general public license (?:gpl )?(?:version|v) ?3(?:\.0)? (?:only )?{_FSF}"),
    "LGPL-2.1": _phrases(rf"gnu lesser general public license version 2\.1 february 1999 {_FSF_COPYRIGHT}1991",
                         rf"gnu lesser general public license (?:lgpl )?{_FSF} (?:either )?version 2\.1",
                         rf"gnu lesser general public license (?:version|v) ?2\.1 (?:only )?{_FSF}"),
    "LGPL-3.0": _phrases(rf"gnu lesser general public license version 3 29 june 2007 {_FSF_COPYRIGHT}2007",
                         rf"gnu lesser general public license (?:lgpl )?{_FSF} (?:either )?version 3\b",
                         rf"gnu lesser general public license (?:version|v) ?3(?:\.0)? (?:only )?{_FSF}"),
    "AGPL-3.0": _phrases(rf"gnu affero general public license version 3 19 november 2007 {_FSF_COPYRIGHT}2007",
                         rf"gnu affero general public license (?:agpl )?{_FSF} (?:either )?version 3\b",
                         rf"gnu affero general public license (?:version|v) ?3(?:\.0)? (?:only )?{_FSF}"),
    "Unlicense": _phrases(r"this is free and unencumbered software released into the public domain"),
    "CC0-1.0": _phrases(r"affirmer hereby overtly fully permanently irrevocably and unconditionally waives",
                        r"to the extent possible under law .{0,200}?has waived all copyright and related"
                        r" or neighboring rights"),
    "Zlib": _phrases(
        r"the origin of this software must not be misrepresented you must not claim that you wrote the"
        r" original software.{0,400}?altered source versions must be plainly marked as such"),
    "BSL-1.0": _phrases(
        r"permission is hereby granted free of charge to any person or organization obtaining a copy of"
        r" the software and accompanying documentation covered by this license",
        r"distributed under the boost software license version 1\.0"),
    "EPL-2.0": _phrases(r"eclipse public license v 2\.0 the accompanying program is provided under the terms",
                        r"made available under the terms of the eclipse public license (?:v |version )?2\.0"),
    "Python-2.0": _phrases(r"beopen com license agreement for python 2\.0"),
    "PSF-2.0": _phrases(r"this license agreement is between the python software foundation psf"),
    # Licenses outside our list. They are detected only so that a text mixing one of them
    # with a known license is ambiguous instead of silently reading as the known one.
    "other:BSD-4-Clause": _phrases(r"all advertising materials mentioning features or use of this software"),
    "other:Apache-1.1": _phrases(r"the end user documentation included with the redistribution if any must include"),
    "other:LGPL-2.0": _phrases(r"gnu library general public license"),
    "other:MPL-1.x": _phrases(r"mozilla public license version 1\.[01]"),
    "other:EPL-1.0": _phrases(r"eclipse public license (?:v |version )?1\.0"),
    "other:X11": _phrases(r"shall not be used in advertising or otherwise to promote the sale use or other dealings"),
    "other:CNRI-Python": _phrases(r"cnri s python 1\.6 license", r"cnri license agreement for python"),
    "other:Commons-Clause": _phrases(r"commons clause license condition"),
    "other:GPL-exception": _phrases(r"gcc runtime library exception",
                                    r"classpath exception",
                                    r"linking this library statically or dynamically with other modules"
                                    r" is making a combined work"),
    "other:CDDL": _phrases(r"common development and distribution license"),
    "other:Artistic": _phrases(r"the artistic license"),
    "other:EUPL": _phrases(r"european union public license"),
    "other:SSPL": _phrases(r"server side public license"),
    "other:BUSL": _phrases(r"business source license"),
    "other:Elastic": _phrases(r"elastic license 2\.0"),
    "other:CC-BY": _phrases(r"creative commons attribution"),
    "other:WTFPL": _phrases(r"do what the fuck you want to public license"),
    "other:JSON": _phrases(r"the software shall be used for good not evil"),
    "other:OFL": _phrases(r"sil open font license"),
    "other:GFDL": _phrases(r"gnu free documentation license"),
    "other:BSD-3-Clause-Clear": _phrases(r"no express or implied licenses to any party s patent rights"),
}

# BSD is decided by its clauses rather than one phrase: 2 conditions or 3 (the
# "endorse or promote" clause), and the 4-clause advertising variant is "other" above.
_BSD_GRANT = re.compile(
    r"redistribution and use in source and binary forms with or without modification are permitted"
    r" provided that")
_BSD_SOURCE = re.compile(r"redistributions of source code must retain the above copyright notice")
_BSD_BINARY = re.compile(r"redistributions in binary form must reproduce the above copyright notice")
_BSD_ENDORSE = re.compile(r"(?:may|shall|must) not be used to endorse or promote products derived from this software"
                          r"|nor the names? of .{0,200}?may be used to endorse or promote products derived")

# Everything after the first "END OF TERMS AND CONDITIONS" is the "how to apply" appendix
# (which contains the "or any later version" template) or notices appended by the
# packager, not the license; licensee cuts there too.
_END_OF_TERMS = re.compile(r"\bend\W+of\W+(?:the\W+)?terms\W+and\W+conditions\b", re.I)
_OR_LATER = re.compile(r"or at your option any later version|or at your option any later")
_SPDX_LINE = re.compile(r"spdx-license-identifier:\s*([^\n*#]+?)\s*(?:\*/|-->|$)", re.I | re.M)

# When one license embeds another, the embedding one is the answer:
# - the Python license stack contains the PSF agreement, the CNRI one and (since 3.8) a
#   0BSD grant for documentation examples;
# - LGPL-3.0 is a set of permissions on top of GPL-3.0, and projects ship both texts.
_SUBSUMES: dict[str, tuple[str, ...]] = {
    "Python-2.0": ("PSF-2.0", "0BSD", "other:CNRI-Python"),
    "LGPL-3.0": ("GPL-3.0",),
}
_GNU = ("GPL-2.0", "GPL-3.0", "LGPL-2.1", "LGPL-3.0", "AGPL-3.0")


def _candidates(norm: str) -> set[str]:
    found = {lid for lid, pattern in _LICENSE_PATTERNS.items() if pattern.search(norm)}
    if _BSD_GRANT.search(norm) and _BSD_SOURCE.search(norm) and _BSD_BINARY.search(norm):
        found.add("BSD-3-Clause" if _BSD_ENDORSE.search(norm) else "BSD-2-Clause")
    if "ISC" in found:
        found.discard("0BSD")
    for outer, inner in _SUBSUMES.items():
        if outer in found:
            found.difference_update(inner)
    return found


def spdx_from_license_text(text: str) -> str | None:
    """The SPDX id of a license file's text when exactly one license is evident, else None."""
    cut = _END_OF_TERMS.search(text)
    if cut:
        text = text[: cut.start()]
    found: set[str] = set()
    for declared in _SPDX_LINE.findall(text):
        spdx = normalize_spdx(declared)
        found.add(spdx if spdx else f"other:{declared.strip()}")
    norm = _normalize_text(text)
    found |= _candidates(norm)
    if len(found) != 1:
        return None
    (spdx,) = found
    if spdx.startswith("other:"):
        return None
    if spdx in _GNU and _OR_LATER.search(norm):
        spdx += "-or-later"
    return spdx


# ---------------------------------------------------------------------------
# Package manifests
# ---------------------------------------------------------------------------


def spdx_from_manifest(path: str, text: str) -> str | None:
    """The license a root-level package manifest declares, when it is one we know.

    Reads package.json, composer.json, Cargo.toml, pyproject.toml, setup.cfg and
    PKG-INFO / METADATA. Any other file, a parse error, a license-file reference or an
    id outside our list gives None: a manifest is a hint, never a reason to fail.
    """
    path = path.replace("\\", "/").removeprefix("./")
    if "/" in path:
        return None
    reader = _MANIFEST_READERS.get(path)
    if reader is None:
        return None
    try:
        declared = reader(text)
    except (ValueError, TypeError, KeyError, AttributeError):
        return None  # malformed manifests are common in the wild; they declare nothing
    if isinstance(declared, str):
        return normalize_spdx(declared)
    return None


def _from_package_json(text: str) -> str | None:
    data = json.loads(text)
    value = data.get("license")
    if isinstance(value, dict):  # npm's deprecated {"type": "MIT", "url": ...}
        value = value.get("type")
    if value is None and isinstance(data.get("licenses"), list) and len(data["licenses"]) == 1:
        value = data["licenses"][0].get("type")
    if not isinstance(value, str) or value.upper() == "UNLICENSED":
        return None  # npm's UNLICENSED means proprietary, not the Unlicense
    return value


def _from_composer_json(text: str) -> str | None:
    value = json.loads(text).get("license")
    if isinstance(value, list):  # composer: a list means the user may choose (OR)
        return " OR ".join(value) if value and all(isinstance(v, str) for v in value) else None
    return value if isinstance(value, str) else None


def _toml(text: str) -> dict:
    import tomllib  # stdlib, but only manifests need it

    return tomllib.loads(text)


def _from_cargo_toml(text: str) -> str | None:
    data = _toml(text)
    value = data.get("package", {}).get("license")
    if isinstance(value, dict):  # license.workspace = true
        value = None
    return value or data.get("workspace", {}).get("package", {}).get("license")


def _from_pyproject(text: str) -> str | None:
    data = _toml(text)
    value = data.get("project", {}).get("license")
    if isinstance(value, dict):  # PEP 621 {text = "..."}; {file = "..."} declares nothing here
        value = value.get("text")
    return value or data.get("tool", {}).get("poetry", {}).get("license")


def _from_setup_cfg(text: str) -> str | None:
    import configparser

    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.read_string(text)
    return parser.get("metadata", "license", fallback=None)


# Trove classifiers that name exactly one license we know ("BSD License" and
# "Apache Software License" do not say which version, so they are absent).
_CLASSIFIERS: dict[str, str] = {
    "MIT License": "MIT", "ISC License (ISCL)": "ISC",
    "Mozilla Public License 2.0 (MPL 2.0)": "MPL-2.0",
    "GNU General Public License v2 (GPLv2)": "GPL-2.0",
    "GNU General Public License v2 or later (GPLv2+)": "GPL-2.0-or-later",
    "GNU General Public License v3 (GPLv3)": "GPL-3.0",
    "GNU General Public License v3 or later (GPLv3+)": "GPL-3.0-or-later",
    "GNU Lesser General Public License v3 (LGPLv3)": "LGPL-3.0",
    "GNU Lesser General Public License v3 or later (LGPLv3+)": "LGPL-3.0-or-later",
    "GNU Affero General Public License v3": "AGPL-3.0",
    "GNU Affero General Public License v3 or later (AGPLv3+)": "AGPL-3.0-or-later",
    "The Unlicense (Unlicense)": "Unlicense",
    "CC0 1.0 Universal (CC0 1.0) Public Domain Dedication": "CC0-1.0",
    "Boost Software License 1.0 (BSL-1.0)": "BSL-1.0",
    "Eclipse Public License 2.0 (EPL-2.0)": "EPL-2.0",
    "Python Software Foundation License": "PSF-2.0",
    "Zero-Clause BSD (0BSD)": "0BSD",
}


def _from_core_metadata(text: str) -> str | None:
    """PKG-INFO / METADATA: License-Expression, else a one-line License, else one classifier."""
    headers: dict[str, list[str]] = {}
    for line in text.split("\n"):
        if not line.strip():
            break  # the body (long description) starts after the first blank line
        if line[:1] in (" ", "\t"):
            continue  # continuation of a multi-line License: a full text, not an id
        name, sep, value = line.partition(":")
        if sep:
            headers.setdefault(name.strip().lower(), []).append(value.strip())
    if headers.get("license-expression"):
        return headers["license-expression"][0]
    license_value = (headers.get("license") or [""])[0]
    if license_value and license_value.upper() != "UNKNOWN" and normalize_spdx(license_value):
        return license_value
    found = {
        _CLASSIFIERS[c.rsplit(" :: ", 1)[-1]]
        for c in headers.get("classifier", [])
        if c.startswith("License ::") and c.rsplit(" :: ", 1)[-1] in _CLASSIFIERS
    }
    return found.pop() if len(found) == 1 else None


_MANIFEST_READERS = {
    "package.json": _from_package_json,
    "composer.json": _from_composer_json,
    "Cargo.toml": _from_cargo_toml,
    "pyproject.toml": _from_pyproject,
    "setup.cfg": _from_setup_cfg,
    "PKG-INFO": _from_core_metadata,
    "METADATA": _from_core_metadata,
}
