"""License detection on the real license files of installed distributions, and on crafted texts."""

from __future__ import annotations

import importlib.metadata
import json
from pathlib import Path

import pytest

from curation.ingest.licenses import (
    KNOWN_IDS,
    LICENSE_FILE_NAMES,
    is_license_file,
    license_class,
    normalize_spdx,
    resolve_repo_license,
    spdx_from_license_text,
    spdx_from_manifest,
)

# ---------------------------------------------------------------------------
# Real license files shipped in the venv's dist-info folders
# ---------------------------------------------------------------------------

# distribution -> {license file name inside dist-info: expected SPDX}. Chosen to cover
# every family we detect plus the traps: pyarrow appends 100 KB of third-party notices
# after Apache's "END OF TERMS"; numpy bundles GPL-3 runtime texts; tqdm mixes MPL and
# MIT; regex adds CNRI's Python license; packaging's LICENSE only points elsewhere.
REAL_LICENSES = {
    "pytest": {"LICENSE": "MIT"},
    "pluggy": {"LICENSE": "MIT"},
    "iniconfig": {"LICENSE": "MIT"},
    "pydantic": {"LICENSE": "MIT"},
    "rich": {"LICENSE": "MIT"},
    "PyYAML": {"LICENSE": "MIT"},
    "humanize": {"LICENCE": "MIT"},
    "click": {"LICENSE.txt": "BSD-3-Clause"},
    "fsspec": {"LICENSE": "BSD-3-Clause"},
    "idna": {"LICENSE.md": "BSD-3-Clause"},
    "protobuf": {"LICENSE": "BSD-3-Clause"},
    "Pygments": {"LICENSE": "BSD-2-Clause"},
    "xxhash": {"LICENSE": "BSD-2-Clause"},
    "huggingface_hub": {"LICENSE": "Apache-2.0"},
    "transformers": {"LICENSE": "Apache-2.0"},
    "datatrove": {"LICENSE": "Apache-2.0"},
    "safetensors": {"LICENSE": "Apache-2.0"},
    "pyarrow": {"LICENSE.txt": "Apache-2.0"},
    "shellingham": {"LICENSE": "ISC"},
    "typing_extensions": {"LICENSE": "Python-2.0"},
    "packaging": {"LICENSE": None, "LICENSE.APACHE": "Apache-2.0", "LICENSE.BSD": "BSD-2-Clause"},
    "numpy": {"LICENSE.txt": None},
    "tqdm": {"LICENCE": None},
    "regex": {"LICENSE.txt": None},
}


def _dist_license_files(dist) -> dict[str, Path]:
    """Top-level license files of a dist-info folder (either directly in it or in licenses/)."""
    found = {}
    for f in dist.files or []:
        parts = Path(str(f)).parts
        if len(parts) >= 2 and parts[0].endswith(".dist-info"):
            inner = parts[1:] if parts[1:2] != ("licenses",) else parts[2:]
            if len(inner) == 1:
                found[inner[0]] = Path(f.locate())
    return found


def _distribution(name: str):
    try:
        return importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def test_real_license_files_of_installed_distributions():
    checked = 0
    for name, expected_by_file in REAL_LICENSES.items():
        dist = _distribution(name)
        if dist is None:
            continue
        files = _dist_license_files(dist)
        for file_name, expected in expected_by_file.items():
            if file_name not in files or not files[file_name].exists():
                continue
            assert is_license_file(file_name), file_name
            text = files[file_name].read_text(encoding="utf-8", errors="replace")
            assert spdx_from_license_text(text) == expected, f"{name}: {file_name}"
            checked += 1
    if checked == 0:
        pytest.skip("none of the reference distributions is installed")


def test_license_files_agree_with_declared_license_expressions():
    """Where a distribution declares one known license and its file is clear, both must agree."""
    same = {"PSF-2.0": {"PSF-2.0", "Python-2.0"}}  # the full Python text is the PSF stack
    compared = 0
    for dist in importlib.metadata.distributions():
        declared = normalize_spdx(dist.metadata.get("License-Expression") or "")
        if declared is None or " " in declared:
            continue
        for file_name, path in _dist_license_files(dist).items():
            if not is_license_file(file_name) or not path.exists():
                continue
            detected = spdx_from_license_text(path.read_text(encoding="utf-8", errors="replace"))
            if detected is not None:
                assert detected in same.get(declared, {declared}), f"{dist.metadata['Name']}: {file_name}"
                compared += 1
    if compared == 0:
        pytest.skip("no installed distribution declares a License-Expression with a license file")


def test_real_metadata_files_as_manifests():
    compared = 0
    for dist in importlib.metadata.distributions():
        text = dist.read_text("METADATA")
        if not text:
            continue
        expression = dist.metadata.get("License-Expression")
        got = spdx_from_manifest("METADATA", text)
        if expression:
            assert got == normalize_spdx(expression), dist.metadata["Name"]
            compared += 1
        assert got is None or license_class(got) in ("permissive", "copyleft")
    if compared == 0:
        pytest.skip("no installed distribution declares a License-Expression")


# Debian and Ubuntu ship the canonical texts; other systems skip.
COMMON_LICENSES = Path("/usr/share/common-licenses")


@pytest.mark.parametrize(
    ("name", "expected"),
    [("Apache-2.0", "Apache-2.0"), ("BSD", "BSD-3-Clause"), ("CC0-1.0", "CC0-1.0"), ("GPL-2", "GPL-2.0"),
     ("GPL-3", "GPL-3.0"), ("LGPL-2.1", "LGPL-2.1"), ("LGPL-3", "LGPL-3.0"), ("MPL-2.0", "MPL-2.0"),
     ("MPL-1.1", None), ("Artistic", None), ("GFDL-1.3", None), ("LGPL-2", None), ("GPL-1", None)],
)
def test_canonical_license_texts(name, expected):
    path = COMMON_LICENSES / name
    if not path.exists():
        pytest.skip(f"{path} is not on this system (Debian/Ubuntu ship it)")
    assert spdx_from_license_text(path.read_text(encoding="utf-8", errors="replace")) == expected


def test_gpl_or_later_comes_from_the_notice_not_the_appendix():
    path = COMMON_LICENSES / "GPL-3"
    if not path.exists():
        pytest.skip(f"{path} is not on this system")
    full = path.read_text(encoding="utf-8")
    assert "(at your option) any later version" in full  # the how-to-apply appendix says it
    assert spdx_from_license_text(full) == "GPL-3.0"
    notice = (
        "frobnicate - Copyright (C) 2024 Jane Doe\n\n"
        "This program is free software: you can redistribute it and/or modify it under the terms of\n"
        "the GNU General Public License as published by the Free Software Foundation, either version 3\n"
        "of the License, or (at your option) any later version.\n\n"
    )
    assert spdx_from_license_text(notice + full) == "GPL-3.0-or-later"


# ---------------------------------------------------------------------------
# Crafted texts
# ---------------------------------------------------------------------------

MIT = """MIT License

Copyright (c) 2024 Jane Doe

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND.
"""
BSD_2 = """Copyright (c) 2024, Jane Doe
Redistribution and use in source and binary forms, with or without modification,
are permitted provided that the following conditions are met:
1. Redistributions of source code must retain the above copyright notice, this
   list of conditions and the following disclaimer.
2. Redistributions in binary form must reproduce the above copyright notice,
   this list of conditions and the following disclaimer in the documentation
   and/or other materials provided with the distribution.
THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS "AS IS".
"""
BSD_3 = BSD_2.replace(
    "THIS SOFTWARE",
    "3. Neither the name of the copyright holder nor the names of its contributors may be\n"
    "   used to endorse or promote products derived from this software without specific\n"
    "   prior written permission.\nTHIS SOFTWARE",
)
BSD_4 = BSD_3.replace(
    "3. Neither",
    "3. All advertising materials mentioning features or use of this software must display\n"
    "   the following acknowledgement: This product includes software developed by Jane.\n4. Neither",
)
ISC = """ISC License

Copyright (c) 2024, Jane Doe

Permission to use, copy, modify, and/or distribute this software for any
purpose with or without fee is hereby granted, provided that the above
copyright notice and this permission notice appear in all copies.

THE SOFTWARE IS PROVIDED "AS IS" AND THE AUTHOR DISCLAIMS ALL WARRANTIES.
"""
ZERO_BSD = """Copyright (C) 2024 by Jane Doe

Permission to use, copy, modify, and/or distribute this software for any
purpose with or without fee is hereby granted.

THE SOFTWARE IS PROVIDED "AS IS" AND THE AUTHOR DISCLAIMS ALL WARRANTIES.
"""
UNLICENSE = """This is free and unencumbered software released into the public domain.

Anyone is free to copy, modify, publish, use, compile, sell, or distribute this software.
"""
ZLIB = """Copyright (c) 2024 Jane Doe

This software is provided 'as-is', without any express or implied warranty. In no event
will the authors be held liable for any damages arising from the use of this software.

Permission is granted to anyone to use this software for any purpose, including commercial
applications, and to alter it and redistribute it freely, subject to the following restrictions:

1. The origin of this software must not be misrepresented; you must not claim that you wrote
   the original software. If you use this software in a product, an acknowledgment in the
   product documentation would be appreciated but is not required.
2. Altered source versions must be plainly marked as such, and must not be misrepresented as
   being the original software.
3. This notice may not be removed or altered from any source distribution.
"""
BOOST = """Boost Software License - Version 1.0 - August 17th, 2003

Permission is hereby granted, free of charge, to any person or organization
obtaining a copy of the software and accompanying documentation covered by
this license (the "Software") to use, reproduce, display, distribute,
execute, and transmit the Software.
"""
APACHE_NOTICE = """Copyright 2024 Jane Doe

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
"""
GPL2_ONLY_NOTICE = """This program is free software; you can redistribute it and/or modify it under
the terms of the GNU General Public License version 2 as published by the Free Software Foundation.
"""
LGPL21_NOTICE = """This library is free software; you can redistribute it and/or modify it under the
terms of the GNU Lesser General Public License as published by the Free Software Foundation;
either version 2.1 of the License, or (at your option) any later version.
"""
AGPL_NOTICE = """This program is free software: you can redistribute it and/or modify
it under the terms of the GNU Affero General Public License as published
by the Free Software Foundation, either version 3 of the License, or
(at your option) any later version.
"""
MPL_NOTICE = """This Source Code Form is subject to the terms of the Mozilla Public
License, v. 2.0. If a copy of the MPL was not distributed with this
file, You can obtain one at http://mozilla.org/MPL/2.0/.
"""
EPL_NOTICE = """This program and the accompanying materials are made available under the
terms of the Eclipse Public License 2.0 which is available at https://www.eclipse.org/legal/epl-2.0
"""
CC0_NOTICE = """To the extent possible under law, Jane Doe has waived all copyright and
related or neighboring rights to this work.
"""
COMMONS_CLAUSE = """"Commons Clause" License Condition v1.0

The Software is provided to you by the Licensor under the License, as defined below, subject
to the following condition.
"""
X11_CLAUSE = """Except as contained in this notice, the name of the X Consortium shall not be used in
advertising or otherwise to promote the sale, use or other dealings in this Software without prior
written authorization from the X Consortium.
"""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (MIT, "MIT"),
        # reflowed, commented and re-quoted copies still match
        ("\n".join("# " + line for line in MIT.split()), "MIT"),
        (MIT.replace('"', "\u201c").replace("\n", " "), "MIT"),
        (BSD_2, "BSD-2-Clause"), (BSD_3, "BSD-3-Clause"), (BSD_4, None),
        (ISC, "ISC"), (ZERO_BSD, "0BSD"), (UNLICENSE, "Unlicense"), (ZLIB, "Zlib"), (BOOST, "BSL-1.0"),
        (APACHE_NOTICE, "Apache-2.0"), (GPL2_ONLY_NOTICE, "GPL-2.0"), (LGPL21_NOTICE, "LGPL-2.1-or-later"),
        (AGPL_NOTICE, "AGPL-3.0-or-later"), (MPL_NOTICE, "MPL-2.0"), (EPL_NOTICE, "EPL-2.0"),
        (CC0_NOTICE, "CC0-1.0"),
        ("SPDX-License-Identifier: Apache-2.0\n", "Apache-2.0"),
        ("/* SPDX-License-Identifier: MIT OR Apache-2.0 */\n", "MIT OR Apache-2.0"),
        # ambiguous or unknown
        (MIT + "\n\n" + APACHE_NOTICE, None),  # two licenses
        (MIT + "\n\n" + COMMONS_CLAUSE, None),  # MIT made non-free
        (MIT + "\n" + X11_CLAUSE, None),  # X11, not on our list
        ("MIT License\n\nCopyright (c) 2024 Jane Doe\n", None),  # a title is not a license
        ("Apache License\nVersion 2.0, January 2004\n", None),
        ("This project is licensed under the GPL.\n", None),
        ("All rights reserved.\n", None),
        ("", None),
    ],
)
def test_crafted_texts(text, expected):
    assert spdx_from_license_text(text) == expected


# ---------------------------------------------------------------------------
# SPDX normalization and manifests
# ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("MIT", "MIT"), ("mit", "MIT"), ("MIT License", "MIT"), ("The MIT License (MIT)", "MIT"),
        ("Apache 2.0", "Apache-2.0"), ("Apache License, Version 2.0", "Apache-2.0"),
        ("Apache 2.0 License", "Apache-2.0"), ("apache-2.0", "Apache-2.0"),
        ("BSD-3-Clause", "BSD-3-Clause"), ("3-Clause BSD License", "BSD-3-Clause"), ("New BSD", "BSD-3-Clause"),
        ("Simplified BSD", "BSD-2-Clause"), ("ISC License (ISCL)", "ISC"),
        ("GPL-3.0-only", "GPL-3.0"), ("GPL-3.0", "GPL-3.0"), ("GPLv3+", "GPL-3.0-or-later"),
        ("GPL-2.0-or-later", "GPL-2.0-or-later"), ("LGPL-2.1+", "LGPL-2.1-or-later"), ("AGPL-3.0", "AGPL-3.0"),
        ("MPL-2.0", "MPL-2.0"), ("Unlicense", "Unlicense"), ("CC0-1.0", "CC0-1.0"), ("Zlib", "Zlib"),
        ("BSL-1.0", "BSL-1.0"), ("EPL-2.0", "EPL-2.0"), ("0BSD", "0BSD"), ("PSF-2.0", "PSF-2.0"),
        ("Python-2.0", "Python-2.0"),
        ("MIT OR Apache-2.0", "MIT OR Apache-2.0"), ("(MIT OR Apache-2.0)", "MIT OR Apache-2.0"),
        ("MIT/Apache-2.0", "MIT OR Apache-2.0"), ("mit or apache-2.0", "MIT OR Apache-2.0"),
        ("BSD-3-Clause AND 0BSD AND MIT AND Zlib AND CC0-1.0", "BSD-3-Clause AND 0BSD AND MIT AND Zlib AND CC0-1.0"),
        ("MIT OR MIT", "MIT"),
        ("BSD", None), ("GPL", None), ("Apache", None), ("Apache Software License", None),
        ("UNKNOWN", None), ("Proprietary", None), ("SEE LICENSE IN LICENSE.txt", None),
        ("GPL-2.0 WITH Classpath-exception-2.0", None), ("MIT AND (Apache-2.0 OR BSD-3-Clause)", None),
        ("Apache-2.0 OR MIT AND BSD-3-Clause", None), ("Artistic-2.0", None), ("", None),
    ],
)
def test_normalize_spdx(value, expected):
    assert normalize_spdx(value) == expected


@pytest.mark.parametrize(
    ("path", "text", "expected"),
    [
        ("package.json", json.dumps({"name": "x", "license": "MIT"}), "MIT"),
        ("package.json", json.dumps({"license": "(MIT OR Apache-2.0)"}), "MIT OR Apache-2.0"),
        ("package.json", json.dumps({"license": {"type": "ISC", "url": "http://x"}}), "ISC"),
        ("package.json", json.dumps({"licenses": [{"type": "BSD-3-Clause"}]}), "BSD-3-Clause"),
        ("package.json", json.dumps({"license": "UNLICENSED"}), None),  # npm: proprietary
        ("package.json", json.dumps({"license": "SEE LICENSE IN LICENSE.md"}), None),
        ("package.json", json.dumps({"name": "x"}), None),
        ("package.json", "{not json", None),
        ("package.json", "[1, 2]", None),
        ("composer.json", json.dumps({"license": ["MIT", "GPL-3.0-or-later"]}), "MIT OR GPL-3.0-or-later"),
        ("Cargo.toml", '[package]\nname = "x"\nlicense = "MIT OR Apache-2.0"\n', "MIT OR Apache-2.0"),
        ("Cargo.toml", '[package]\nname = "x"\nlicense = "MIT/Apache-2.0"\n', "MIT OR Apache-2.0"),
        ("Cargo.toml", '[package]\nlicense.workspace = true\n[workspace.package]\nlicense = "Apache-2.0"\n',
         "Apache-2.0"),
        ("Cargo.toml", '[package]\nname = "x"\nlicense-file = "LICENSE"\n', None),
        ("Cargo.toml", "[package\nbroken", None),
        ("pyproject.toml", '[project]\nname = "x"\nlicense = "BSD-3-Clause"\n', "BSD-3-Clause"),
        ("pyproject.toml", '[project]\nname = "x"\nlicense = {text = "MIT License"}\n', "MIT"),
        ("pyproject.toml", '[project]\nname = "x"\nlicense = {file = "LICENSE"}\n', None),
        ("pyproject.toml", '[tool.poetry]\nname = "x"\nlicense = "GPL-3.0-or-later"\n', "GPL-3.0-or-later"),
        ("setup.cfg", "[metadata]\nname = x\nlicense = Apache 2.0\n", "Apache-2.0"),
        ("setup.cfg", "[metadata]\nname = x\nlicense = BSD\n", None),
        ("PKG-INFO", "Metadata-Version: 2.4\nName: x\nLicense-Expression: MPL-2.0\n\nbody", "MPL-2.0"),
        ("PKG-INFO", "Metadata-Version: 2.1\nName: x\nLicense: MIT\n\nLicense: GPL-3.0", "MIT"),
        ("METADATA", "Metadata-Version: 2.1\nName: x\nLicense: UNKNOWN\n"
                     "Classifier: License :: OSI Approved :: MIT License\n", "MIT"),
        ("METADATA", "Metadata-Version: 2.1\nName: x\n"
                     "Classifier: License :: OSI Approved :: BSD License\n", None),
        ("METADATA", "Metadata-Version: 2.1\nName: x\nLicense: Copyright (c) 2001 Foo.\n"
                     "        All rights reserved.\n", None),
        # only root-level manifests count; other files are not manifests
        ("sub/package.json", json.dumps({"license": "MIT"}), None),
        ("README.md", "license = MIT", None),
        ("./package.json", json.dumps({"license": "MIT"}), "MIT"),
    ],
)
def test_spdx_from_manifest(path, text, expected):
    assert spdx_from_manifest(path, text) == expected


# ---------------------------------------------------------------------------
# License file names
# ---------------------------------------------------------------------------

def test_documented_license_file_names_are_recognized():
    assert all(is_license_file(name) for name in LICENSE_FILE_NAMES)


@pytest.mark.parametrize(
    "path",
    ["LICENSE", "./LICENSE", "license", "License.md", "LICENCE.txt", "COPYING", "COPYING.LESSER",
     "COPYING.LIB", "COPYING3", "COPYRIGHT", "UNLICENSE", "LICENSE-MIT", "LICENSE-APACHE",
     "LICENSE-APACHE-2.0.txt", "LICENSE.BSD", "MIT-LICENSE", "MIT-LICENSE.txt", "LICENSE_1_0.txt",
     "LICENSES.txt", "license.rst"],
)
def test_is_license_file(path):
    assert is_license_file(path)


@pytest.mark.parametrize(
    "path",
    ["src/LICENSE", "vendor/x/LICENSE", "license.py", "license-checker.js", "LICENSE.json",
     "licensing.md", "NOTICE", "README.md", "AUTHORS", "copyright.go", ""],
)
def test_is_not_license_file(path):
    assert not is_license_file(path)


# ---------------------------------------------------------------------------
# Classes and repository-level resolution
# ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("spdx", "cls"),
    [
        ("MIT", "permissive"), ("Apache-2.0", "permissive"), ("BSD-3-Clause", "permissive"),
        ("ISC", "permissive"), ("Zlib", "permissive"), ("BSL-1.0", "permissive"), ("Unlicense", "permissive"),
        ("CC0-1.0", "permissive"), ("0BSD", "permissive"), ("PSF-2.0", "permissive"),
        ("GPL-3.0", "copyleft"), ("GPL-2.0-or-later", "copyleft"), ("LGPL-2.1", "copyleft"),
        ("AGPL-3.0", "copyleft"), ("MPL-2.0", "copyleft"), ("EPL-2.0", "copyleft"),
        ("MIT OR Apache-2.0", "permissive"), ("GPL-3.0 OR MIT", "permissive"),  # the user may choose MIT
        ("MIT AND GPL-3.0", "copyleft"), ("BSD-3-Clause AND 0BSD AND MIT", "permissive"),
        ("mit", "permissive"), ("apache-2.0", "permissive"),  # The Stack's lowercase ids
        ("Artistic-2.0", "other"), ("LicenseRef-proprietary", "other"),
        (None, "none"), ("", "none"),
        (["mit", "apache-2.0"], "permissive"), (["mit", "gpl-3.0"], "copyleft"), ([], "none"),
    ],
)
def test_license_class(spdx, cls):
    assert license_class(spdx) == cls


def test_every_known_id_has_a_class():
    assert {license_class(i) for i in KNOWN_IDS} == {"permissive", "copyleft"}
    assert all(normalize_spdx(i) == i for i in KNOWN_IDS)


@pytest.mark.parametrize(
    ("votes", "expected"),
    [
        (["MIT"], "MIT"), (["MIT", "MIT"], "MIT"), ([], None), (["MIT", "Apache-2.0"], None),
        (["GPL-3.0", "GPL-3.0-or-later"], "GPL-3.0-or-later"), (["GPL-2.0", "GPL-3.0-or-later"], None),
    ],
)
def test_resolve_repo_license(votes, expected):
    assert resolve_repo_license(votes) == expected
