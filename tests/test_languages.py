"""Language, vendored, generated and binary detection, on real installed files and crafted ones."""

from __future__ import annotations

import gzip
import importlib.metadata
import io
import zipfile
from pathlib import Path

import pytest

from curation.ingest import languages as L
from curation.ingest.filetypes import (
    BINARY_EXTENSIONS,
    binary_extension_reason,
    generated_reason,
    is_probably_binary,
    vendored_reason,
)
from curation.ingest.languages import LANGUAGE_KIND, detect_language, language_kind

# ---------------------------------------------------------------------------
# detect_language: a table of paths
# ---------------------------------------------------------------------------

PATH_CASES = [
    ("src/main.py", "python"), ("typings/mod.pyi", "python"), ("pkg/_speedups.pyx", "cython"),
    ("app/index.js", "javascript"), ("esm/util.mjs", "javascript"), ("cjs/util.cjs", "javascript"),
    ("web/App.jsx", "javascript"), ("src/app.ts", "typescript"), ("src/App.tsx", "tsx"),
    ("lib/mod.mts", "typescript"), ("src/Main.java", "java"), ("src/util.c", "c"),
    ("include/util.h", "c"), ("src/util.cpp", "cpp"), ("src/util.cc", "cpp"), ("src/util.cxx", "cpp"),
    ("src/legacy.C", "cpp"), ("include/util.hpp", "cpp"), ("include/util.hh", "cpp"),
    ("include/util.hxx", "cpp"), ("Program.cs", "csharp"), ("cmd/main.go", "go"),
    ("src/lib.rs", "rust"), ("lib/thing.rb", "ruby"), ("thing.gemspec", "ruby"),
    ("index.php", "php"), ("scripts/run.sh", "shell"), ("scripts/run.bash", "shell"),
    ("scripts/setup.zsh", "shell"), ("Main.kt", "kotlin"), ("build.gradle.kts", "kotlin"),
    ("Sources/App.swift", "swift"), ("src/Main.scala", "scala"), ("build.sbt", "scala"),
    ("Classes/View.m", "objective-c"), ("Classes/View.mm", "objective-cpp"), ("lib/main.dart", "dart"),
    ("init.lua", "lua"), ("script.pl", "perl"), ("lib/Mod.pm", "perl"), ("Makefile.PL", "perl"),
    ("analysis.R", "r"), ("analysis.r", "r"), ("src/Main.hs", "haskell"), ("lib/app.ex", "elixir"),
    ("test/app_test.exs", "elixir"), ("src/srv.erl", "erlang"), ("src/core.clj", "clojure"),
    ("src/Mod.jl", "julia"), ("build.groovy", "groovy"), ("tools/Deploy.ps1", "powershell"),
    ("db/schema.sql", "sql"), ("bin/main.ml", "ocaml"), ("src/Lib.fs", "fsharp"),
    ("Module1.vb", "visual-basic"), ("solver.f90", "fortran"), ("boot.asm", "assembly"),
    ("start.S", "assembly"), ("src/main.zig", "zig"), ("src/main.nim", "nim"), ("src/app.cr", "crystal"),
    ("components/Nav.vue", "vue"), ("routes/+page.svelte", "svelte"), ("contracts/Token.sol", "solidity"),
    ("kernels/add.cu", "cuda"), ("rtl/top.v", "verilog"), ("rtl/top.sv", "systemverilog"),
    ("rtl/top.vhd", "vhdl"), ("src/Main.elm", "elm"), ("init.el", "emacs-lisp"),
    ("src/core.lisp", "lisp"), ("lib/list.scm", "scheme"), ("main.rkt", "racket"), ("lib/util.tcl", "tcl"),
    ("app.coffee", "coffeescript"), ("unit.pas", "pascal"), ("src/app.d", "d"), ("run.bat", "batchfile"),
    ("notebooks/eda.ipynb", "jupyter-notebook"),
    # markup and prose
    ("README.md", "markdown"), ("docs/index.rst", "rst"), ("docs/guide.adoc", "asciidoc"),
    ("index.html", "html"), ("style.css", "css"), ("style.scss", "scss"), ("theme.less", "less"),
    ("paper.tex", "tex"), ("pom.xml", "xml"), ("notes.org", "org"), ("notes.txt", "text"),
    ("README", "text"), ("LICENSE", "text"), ("LICENSE-MIT", "text"), ("ChangeLog", "text"),
    ("logo.svg", "svg"),
    # config
    ("package.json", "json"), ("tsconfig.json", "json"), (".github/workflows/ci.yml", "yaml"),
    ("config.yaml", "yaml"), ("pyproject.toml", "toml"), ("Cargo.toml", "toml"), ("Cargo.lock", "toml"),
    ("setup.cfg", "ini"), ("tox.ini", "ini"), ("Dockerfile", "dockerfile"),
    ("docker/Dockerfile.prod", "dockerfile"), ("Makefile", "makefile"), ("GNUmakefile", "makefile"),
    ("rules.mk", "makefile"), ("CMakeLists.txt", "cmake"), ("cmake/Find.cmake", "cmake"),
    ("config.h.cmake.in", "cmake"), ("flake.nix", "nix"), ("main.tf", "hcl"),
    ("api/service.proto", "protobuf"), ("schema.graphql", "graphql"), ("BUILD", "starlark"),
    ("BUILD.bazel", "starlark"), ("WORKSPACE", "starlark"), ("defs.bzl", "starlark"),
    ("build.gradle", "gradle"), ("meson.build", "meson"), ("go.mod", "go-module"),
    ("Rakefile", "ruby"), ("Gemfile", "ruby"), ("Jenkinsfile", "groovy"), (".bashrc", "shell"),
    (".zshrc", "shell"), (".gitignore", "ignore-list"), (".editorconfig", "editorconfig"),
    (".env", "dotenv"), (".env.example", "dotenv"), ("app.properties", "properties"),
    ("data.csv", "csv"), ("fix.patch", "diff"),
    # unknown
    ("blob.xyz", None), ("bin/tool", None), ("", None),
]


def test_table_is_big_enough():
    assert len(PATH_CASES) >= 60


@pytest.mark.parametrize(("path", "lang"), PATH_CASES)
def test_detect_language_by_path(path, lang):
    assert detect_language(path) == lang


def test_windows_separators_and_case_insensitive_extension():
    assert detect_language("src\\pkg\\Mod.PY") == "python"
    assert detect_language("SRC/MAIN.JAVA") == "java"
    assert detect_language("x.C") == "cpp" and detect_language("x.c") == "c"


def test_every_language_has_a_kind():
    tables = [L._EXTENSIONS, L._CASE_SENSITIVE_EXTENSIONS, L._FILENAMES, L._INTERPRETERS]
    produced = {lang for table in tables for lang in table.values()}
    assert produced <= set(LANGUAGE_KIND)
    assert set(LANGUAGE_KIND.values()) == {"code", "markup", "config", "data", "prose"}


def test_brief_languages_are_covered():
    required = (
        "python javascript typescript tsx java c cpp csharp go rust ruby php shell kotlin swift scala "
        "objective-c dart lua perl r haskell elixir erlang clojure julia groovy powershell sql ocaml "
        "fsharp visual-basic fortran matlab assembly zig nim crystal vue svelte solidity cuda verilog "
        "vhdl elm lisp scheme racket tcl coffeescript pascal d markdown rst asciidoc html css scss less "
        "tex xml org text json yaml toml ini dockerfile makefile cmake nix hcl protobuf graphql "
        "starlark gradle jupyter-notebook"
    ).split()
    missing = [lang for lang in required if lang not in LANGUAGE_KIND]
    assert not missing


@pytest.mark.parametrize(
    ("lang", "kind"),
    [("python", "code"), ("jupyter-notebook", "code"), ("html", "markup"), ("yaml", "config"),
     ("dockerfile", "config"), ("csv", "data"), ("markdown", "prose"), ("text", "prose"),
     (None, "unknown"), ("klingon", "unknown"), ("", "unknown")],
)
def test_language_kind(lang, kind):
    assert language_kind(lang) == kind


# ---------------------------------------------------------------------------
# detect_language: shebangs and content hints
# ---------------------------------------------------------------------------

SHEBANG_CASES = [
    (b"#!/usr/bin/env python3\nimport sys\n", "python"),
    (b"#!/usr/bin/python3.11 -u\n", "python"),
    (b"#!/usr/bin/env pypy3\n", "python"),
    (b"#!/bin/bash\nset -e\n", "shell"),
    (b"#! /bin/sh\n", "shell"),
    (b"#!/usr/bin/env zsh\n", "shell"),
    (b"#!/usr/bin/env -S node --no-warnings\n", "javascript"),
    (b"#!/usr/local/bin/node\n", "javascript"),
    (b"#!/usr/bin/env -S deno run\n", "typescript"),
    (b"#!/usr/bin/perl -w\n", "perl"),
    (b"#!/usr/bin/env ruby\n", "ruby"),
    (b"#!/usr/bin/env php\n<?php\n", "php"),
    (b"#!/usr/bin/env lua5.1\n", "lua"),
    (b"#!/usr/bin/env Rscript\n", "r"),
    (b"#!/usr/bin/tclsh8.6\n", "tcl"),
    (b"#!/usr/bin/make -f\n", "makefile"),
    (b"#!/usr/bin/env LC_ALL=C awk -f\n", "awk"),
    (b"#!/usr/bin/env pwsh\n", "powershell"),
    (b"#!/usr/bin/env julia\n", "julia"),
    (b"#!/usr/bin/env escript\n", "erlang"),
    (b"#!/usr/bin/env unknown-interp\n", None),
    (b"#!\n", None),
    (b"<?php echo 1;\n", "php"),
    (b'<?xml version="1.0"?>\n<a/>', "xml"),
    (b"just some words\n", None),
]


@pytest.mark.parametrize(("head", "lang"), SHEBANG_CASES)
def test_shebang_of_extensionless_file(head, lang):
    assert detect_language("bin/tool", head) == lang


def test_shebang_read_from_real_files(tmp_path: Path):
    scripts = {
        "deploy": ("#!/usr/bin/env bash\necho deploying\n", "shell"),
        "manage": ("#!/usr/bin/env python3\nprint('hi')\n", "python"),
        "server": ("#!/usr/bin/env node\nconsole.log(1)\n", "javascript"),
        "report.cgi": ("#!/usr/bin/perl\nprint 1;\n", "perl"),  # unknown extension: shebang decides
    }
    for name, (body, _) in scripts.items():
        (tmp_path / name).write_text(body)
    for name, (_, lang) in scripts.items():
        head = (tmp_path / name).read_bytes()[:256]
        assert detect_language(f"bin/{name}", head) == lang, name


def test_extension_wins_over_shebang():
    # a .py file run through bash is still Python to a reader
    assert detect_language("tool.py", b"#!/bin/bash\n") == "python"


def test_content_settles_shared_extensions():
    assert detect_language("plot.m", b"function y = f(x)\n  y = x;\nend\n") == "matlab"
    assert detect_language("plot.m", b"% comment\nx = 1;\n") == "matlab"
    assert detect_language("View.m", b'#import "View.h"\n@implementation View\n@end\n') == "objective-c"
    assert detect_language("View.m") == "objective-c"
    assert detect_language("app_de.ts", b'<?xml version="1.0"?>\n<TS version="2.1">') == "xml"
    assert detect_language("main.d", b"main.o: main.c util.h\n") == "makefile"
    assert detect_language("main.d", b"import std.stdio;\n") == "d"
    assert detect_language("Acct.cls", b"public with sharing class Acct {\n}") == "apex"
    assert detect_language("thesis.cls", b"\\NeedsTeXFormat{LaTeX2e}\n") == "tex"


def test_h_headers_are_settled_by_their_content():
    c_header = '#ifndef LZ4_H\n#define LZ4_H\n#ifdef __cplusplus\nextern "C" {\n#endif\nint LZ4_compress(const char* s);\n'
    assert detect_language("lib/lz4.h", text=c_header) == "c"
    cpp = ["#include <vector>\nint f();\n", "namespace Eigen {\nint f();\n}\n", "template <typename T>\nT max(T a);\n",
           "class Foo : public Bar {\n};\n", "struct S {\n private:\n  int x;\n};\n", "inline std::string name();\n"]
    for text in cpp:
        assert detect_language("include/x.h", text=text) == "cpp", text
    assert detect_language("View.h", text="#import <Foundation/Foundation.h>\n@interface View\n@end\n") == "objective-c"
    assert detect_language("x.h") == "c"  # without the content, the extension's default
    assert detect_language("x.hpp", text="int f(void);\n") == "cpp"  # only ".h" is shared
    # a marker past the scanned head does not count
    late = "/* " + "x" * L.HEADER_SCAN_CHARS + " */\nnamespace a {\n}\n"
    assert L.header_language(late) == "c"


def test_h_headers_of_real_cpp_and_c_libraries(registry_corpus):
    """Eigen, Abseil and GoogleTest ship C++ headers named .h; LZ4 and Zstandard ship C headers."""
    def languages(pattern: str) -> dict[str, int]:
        found: dict[str, int] = {}
        for p in registry_corpus.glob(pattern):
            if p.suffix == ".h" and p.is_file():
                lang = detect_language(str(p), text=p.read_text("utf-8", "replace"))
                found[lang] = found.get(lang, 0) + 1
        return found

    eigen = languages("deb/libeigen3-dev_*/**/*.h")
    absl = languages("deb/libabsl-dev_*/**/*.h")
    c_libs = languages("pypi/lz4-*/**/*.h")
    assert eigen and absl and c_libs, "the corpus lacks Eigen, Abseil or LZ4"
    assert eigen.get("cpp", 0) >= 0.95 * sum(eigen.values()), eigen
    assert absl.get("cpp", 0) >= 0.95 * sum(absl.values()), absl
    assert set(c_libs) == {"c"}, c_libs


# ---------------------------------------------------------------------------
# detect_language and friends on the real installed packages
# ---------------------------------------------------------------------------

def _installed_files(dist_name: str) -> list[Path]:
    try:
        dist = importlib.metadata.distribution(dist_name)
    except importlib.metadata.PackageNotFoundError:
        return []
    return [Path(f.locate()) for f in dist.files or []]


def test_real_site_packages_files():
    files = [f for name in ("pytest", "pluggy", "numpy", "pyarrow", "pydantic") for f in _installed_files(name)]
    files = [f for f in files if f.exists() and "__pycache__" not in f.parts]
    if not files:
        pytest.skip("none of pytest/pluggy/numpy/pyarrow/pydantic is installed with a file list")
    seen = {"py": 0, "pyi": 0, "so": 0, "meta": 0}
    for f in files:
        path = f.as_posix().split("site-packages/")[-1]
        if f.suffix == ".py":
            head = f.read_bytes()[:8192]
            assert detect_language(path, head) == "python", path
            assert not is_probably_binary(head), path
            assert binary_extension_reason(path) is None
            seen["py"] += 1
        elif f.suffix == ".pyi":
            assert detect_language(path) == "python", path
            seen["pyi"] += 1
        elif f.suffix == ".so" or ".so." in f.name:
            assert binary_extension_reason(path) == "binary:extension", path
            if seen["so"] < 10:
                assert is_probably_binary(f.read_bytes()[:8192]), path
            seen["so"] += 1
        elif f.parent.name.endswith(".dist-info") and f.name in ("METADATA", "WHEEL", "LICENSE", "LICENSE.txt"):
            assert detect_language(path) == "text", path
            assert not is_probably_binary(f.read_bytes()), path
            seen["meta"] += 1
        elif f.suffix == ".json":
            assert detect_language(path) == "json", path
        elif f.suffix == ".txt" and f.name != "CMakeLists.txt":
            assert detect_language(path) == "text", path
        elif f.suffix in (".h", ".hpp", ".pxd", ".pyx"):
            assert language_kind(detect_language(path)) == "code", path
    assert seen["py"] > 50 and seen["meta"] > 0


def test_pip_vendored_tree_is_flagged():
    files = _installed_files("pip")
    if not files:
        pytest.skip("pip is not installed with a file list")
    rel = [f.as_posix().split("site-packages/")[-1] for f in files]
    vendored = [p for p in rel if p.startswith("pip/_vendor/")]
    own = [p for p in rel if p.startswith("pip/_internal/") and "__pycache__" not in p]
    assert vendored and own
    assert {vendored_reason(p) for p in vendored} == {"vendored:_vendor"}
    assert {vendored_reason(p) for p in own} == {None}


# ---------------------------------------------------------------------------
# vendored_reason
# ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("node_modules/react/index.js", "vendored:node_modules"),
        ("web/node_modules/lodash/lodash.js", "vendored:node_modules"),
        ("vendor/github.com/pkg/errors/errors.go", "vendored:vendor"),
        ("app/Vendor/lib.php", "vendored:vendor"),
        ("src/vendors/jquery.js", "vendored:vendors"),
        ("third_party/zlib/inflate.c", "vendored:third_party"),
        ("ThirdParty/lib/x.cpp", "vendored:thirdparty"),
        ("libs/3rdparty/json.hpp", "vendored:3rdparty"),
        ("static/bower_components/x/x.js", "vendored:bower_components"),
        ("jspm_packages/npm/x.js", "vendored:jspm_packages"),
        (".git/hooks/pre-commit.sample", "vendored:.git"),
        (".svn/entries", "vendored:.svn"),
        (".hg/store/data.i", "vendored:.hg"),
        ("pkg/__pycache__/mod.cpython-311.pyc", "vendored:__pycache__"),
        (".tox/py311/lib/x.py", "vendored:.tox"),
        (".venv/lib/python3.11/site-packages/six.py", "vendored:.venv"),
        ("env/venv/bin/activate", "vendored:venv"),
        ("lib/python3.11/site-packages/six.py", "vendored:site-packages"),
        ("ios/Pods/Alamofire/Source/AF.swift", "vendored:pods"),
        ("Carthage/Checkouts/x/y.swift", "vendored:carthage"),
        ("Godeps/_workspace/src/x.go", "vendored:godeps"),
    ],
)
def test_vendored(path, reason):
    assert vendored_reason(path) == reason


@pytest.mark.parametrize(
    "path",
    [
        "vendor.py", "src/vendoring.rs", "src/vendor_api.go", "lib/vendored_test.py",  # file names never count
        "pkg/vendor", "node_modules",
        "k8s/pods/deployment.yaml",  # lowercase "pods" is an ordinary folder
        "src/external/api.py", "deps/README.md", "dist/index.js", "tools/gen.py",
        "src/thirdparty_client.py", "src/main.rs", "",
    ],
)
def test_not_vendored(path):
    assert vendored_reason(path) is None


# ---------------------------------------------------------------------------
# generated_reason
# ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("package-lock.json", "generated:lockfile"), ("web/yarn.lock", "generated:lockfile"),
        ("pnpm-lock.yaml", "generated:lockfile"), ("Cargo.lock", "generated:lockfile"),
        ("poetry.lock", "generated:lockfile"), ("Pipfile.lock", "generated:lockfile"),
        ("composer.lock", "generated:lockfile"), ("Gemfile.lock", "generated:lockfile"),
        ("go.sum", "generated:lockfile"), ("uv.lock", "generated:lockfile"),
        ("static/jquery-3.7.1.min.js", "generated:minified"), ("css/site.min.css", "generated:minified"),
        ("js/app-min.js", "generated:minified"), ("dist/main.bundle.js", "generated:minified"),
        ("build/static/js/2.8f3e2a1b.chunk.js", "generated:minified"),
        ("dist/app.js.map", "generated:sourcemap"), ("dist/site.css.map", "generated:sourcemap"),
        ("api/service_pb2.py", "generated:protobuf"), ("api/service_pb2_grpc.py", "generated:protobuf"),
        ("api/service_pb2.pyi", "generated:protobuf"), ("api/service.pb.go", "generated:protobuf"),
        ("api/service_grpc.pb.go", "generated:protobuf"), ("api/service.pb.cc", "generated:protobuf"),
        ("api/service.pb.h", "generated:protobuf"),
    ],
)
def test_generated_by_name(path, reason):
    assert generated_reason(path) == reason


@pytest.mark.parametrize(
    "path",
    ["lock.py", "src/lockfile.rs", "minify.js", "admin.js", "src/min.js", "bundle.py", "map.py",
     "levels/world.map", "proto/service.proto", "pb2.py", "README.md", "package.json", "Cargo.toml"],
)
def test_not_generated_by_name(path):
    assert generated_reason(path) is None


def test_minified_by_content():
    minified = "var a=1;" * 200  # one 1600-character line
    assert generated_reason("static/app.js", minified) == "generated:minified"
    assert generated_reason("static/app.css", "a{b:c}" * 200) == "generated:minified"
    readable = "function add(a, b) {\n  return a + b;\n}\n" * 50
    assert generated_reason("static/app.js", readable) is None
    # tsc output: a source map reference but readable lines, kept
    assert generated_reason("lib/app.js", readable + "//# sourceMappingURL=app.js.map\n") is None
    # a bundle: short-ish mean line but one huge line plus the map reference
    bundle = "\n".join(["'use strict';"] * 30 + ["x=" + "a" * 3000, "//# sourceMappingURL=b.js.map"])
    assert generated_reason("dist/b.js", bundle) == "generated:minified"
    # long lines in a Python file are a filter's business, not a minifier's
    assert generated_reason("data.py", "x = 1;" * 1000) is None


def test_sourcemap_by_content():
    sourcemap = '{"version":3,"sources":["a.ts"],"names":[],"mappings":"AAAA"}'
    assert generated_reason("out/a.map", sourcemap) == "generated:sourcemap"
    assert generated_reason("out/a.map") is None  # without content, a .map may be a linker map
    assert generated_reason("link/firmware.map", "Memory Configuration\n.text 0x0\n") is None


# ---------------------------------------------------------------------------
# Binary detection
# ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    "path",
    ["img/logo.png", "a.JPG", "lib/libfoo.so", "lib/libfoo.so.1.2.3", "build/x.o", "libx.a",
     "mod.pyc", "Main.class", "app.jar", "pkg-1.0-py3-none-any.whl", "dist.zip", "src.tar.gz",
     "font.woff2", "doc.pdf", "model.safetensors", "data.parquet", ".DS_Store"],
)
def test_binary_extension(path):
    assert binary_extension_reason(path) == "binary:extension"


@pytest.mark.parametrize("path", ["main.py", "logo.svg", "README", "so.py", "a.json", "x.gz.txt", "Makefile"])
def test_not_binary_extension(path):
    assert binary_extension_reason(path) is None


def test_binary_extensions_are_lowercase_without_dot():
    assert all(e == e.lower() and not e.startswith(".") for e in BINARY_EXTENSIONS)
    assert {"png", "jpg", "so", "o", "a", "pyc", "class", "jar", "whl", "zip", "gz"} <= BINARY_EXTENSIONS


def test_is_probably_binary_on_real_formats(tmp_path: Path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("a.txt", "hello")
    samples = {
        "zip": buf.getvalue(),
        "gzip": gzip.compress(b"hello world"),
        "png": b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR",
        "jpeg": b"\xff\xd8\xff\xe0" + b"JFIF",
        "gif": b"GIF89a\x01\x00",
        "pdf": b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n",
        "elf": b"\x7fELF\x02\x01\x01",
        "class": b"\xca\xfe\xba\xbe\x00\x00\x00\x41",
        "wasm": b"\x00asm\x01\x00\x00\x00",
        "sqlite": b"SQLite format 3\x00",
        "nul-in-text": b"hello\x00world",
        "controls": bytes(range(1, 9)) * 100,
    }
    for name, data in samples.items():
        assert is_probably_binary(data), name
    # the interpreter running this test is a real binary
    import sys

    assert is_probably_binary(Path(sys.executable).resolve().read_bytes()[:8192])


def test_text_is_not_binary():
    assert not is_probably_binary(b"")
    assert not is_probably_binary("def f():\n\treturn 'héllo wörld ✓'\n".encode())
    assert not is_probably_binary("\x1b[31mred\x1b[0m log line\f\n".encode())
    assert not is_probably_binary(Path(__file__).read_bytes())
    assert not is_probably_binary(b"PK is a prefix of many words")  # not the full ZIP magic


def test_detection_is_fast():
    import time

    paths = [p for p, _ in PATH_CASES] * 100
    start = time.perf_counter()
    for p in paths:
        detect_language(p)
        vendored_reason(p)
        generated_reason(p)
        binary_extension_reason(p)
    per_file = (time.perf_counter() - start) / len(paths)
    assert per_file < 50e-6, f"{per_file * 1e6:.1f} us per file"
