"""Repository graphs: parsing, import extraction, resolution per language, dependency order.

Fast tests run on real installed packages (PyYAML, pydantic) and on small multi-file repositories
written here, with exact expected edges. Slow tests run on the registry corpus.
"""

from __future__ import annotations

import random
import re
import sys
from pathlib import Path

import pytest
from conftest import load_benchmark

from curation.repo.graph import build_repo_graph, read_repository
from curation.repo.imports import extract_imports
from curation.repo.order import dependency_order, strongly_connected_components
from curation.repo.parsing import parse

ROOT = Path(__file__).resolve().parents[1]


def graph_of(files: dict[str, str]):
    graph = build_repo_graph(files)
    return graph, set(graph.edges)


def package_files(module) -> dict[str, str]:
    """An installed package's .py files, keyed as they sit in a repository ("yaml/loader.py")."""
    root = Path(module.__file__).parent
    return {f"{root.name}/{p.relative_to(root).as_posix()}": p.read_text(encoding="utf-8")
            for p in sorted(root.rglob("*.py"))}


# --- parsing -----------------------------------------------------------------------------

def test_parse_reports_error_share_and_unsupported_languages():
    clean = parse("def f(x):\n    return x + 1\n", "python")
    assert (clean.has_error, clean.error_fraction) == (False, 0.0)
    broken = parse("def f(x):\n    return x +\n" + "y = 1\n" * 10, "python")
    assert broken.has_error and 0 < broken.error_fraction < 0.5
    garbage = parse(")))) ((((", "python")
    assert garbage.error_fraction > 0.5
    assert parse("puts 1", "ruby") is None
    for lang in ("javascript", "typescript", "tsx", "java", "go", "rust", "c", "cpp", "csharp"):
        assert parse("", lang).error_fraction == 0.0


# --- extraction --------------------------------------------------------------------------

def test_python_extraction_keeps_levels_and_names():
    refs = extract_imports("import a.b as c, d\nfrom ..x.y import (z, w as q)\nfrom . import k\n"
                           "from m import *\n", "python").refs
    assert [(r.kind, r.target, r.level, r.names) for r in refs] == [
        ("import", "a.b", 0, ()), ("import", "d", 0, ()), ("from", "x.y", 2, ("z", "w")),
        ("from", "", 1, ("k",)), ("from", "m", 0, ("*",))]


def test_rust_use_trees_expand_to_leaf_paths():
    refs = extract_imports("mod a;\npub mod b { mod c; use super::x; }\n"
                           "use crate::a::{b, c::D as E, self};\nuse ::std::io;\n", "rust").refs
    assert [(r.kind, r.target, r.names) for r in refs] == [
        ("mod", "a", ()), ("inline_mod", "b", ()), ("mod", "b::c", ()), ("use", "super::x", ("b",)),
        ("use", "crate::a::b", ()), ("use", "crate::a::c::D", ()), ("use", "crate::a", ()),
        ("use", "::std::io", ())]


def test_js_csharp_java_extraction_kinds():
    js = extract_imports('import x from "./a";\nexport * from "./b";\nconst r = require("./r");\n'
                         'const d = import("./d");\nimport fs = require("./eq");\nfoo("./no");\n', "typescript")
    assert [(r.kind, r.target) for r in js.refs] == [
        ("import", "./a"), ("export", "./b"), ("require", "./r"), ("dynamic", "./d"), ("require", "./eq")]
    cs = extract_imports("global using A.B;\nusing static A.C;\nusing X = A.D.E;\n"
                         "namespace N.M { namespace K { } }\n", "csharp")
    assert [(r.kind, r.target) for r in cs.refs] == [("using", "A.B"), ("using_static", "A.C"),
                                                     ("using_alias", "A.D.E")]
    assert cs.declares == ("N.M", "N.M.K")
    java = extract_imports("package a.b;\nimport a.b.C;\nimport a.c.*;\nimport static a.b.C.m;\n", "java")
    assert java.declares == ("a.b",)
    assert [(r.kind, r.target) for r in java.refs] == [("import", "a.b.C"), ("import_all", "a.c"),
                                                       ("static", "a.b.C.m")]


# --- Python on real installed packages ----------------------------------------------------

def test_pyyaml_relative_imports_become_exact_edges():
    import yaml

    files = package_files(yaml)
    graph, edges = graph_of(files)
    # Every `from .x import` in PyYAML's own source is an edge to yaml/x.py, and nothing else is.
    expected = set()
    for path, text in files.items():
        for module in re.findall(r"^\s*from \.(\w+) import", text, re.M):
            expected.add((path, f"yaml/{module}.py"))
    assert expected and expected <= edges
    assert {e for e in edges if e[0] == "yaml/loader.py"} == {
        ("yaml/loader.py", f"yaml/{m}.py") for m in ("reader", "scanner", "parser", "composer", "constructor",
                                                       "resolver")}
    assert graph.unresolved == []


def test_pydantic_resolves_all_intra_imports_and_orders_them():
    import pydantic

    files = package_files(pydantic)
    graph, edges = graph_of(files)
    counts = graph.counts["python"]
    assert counts.intra > 300 and counts.resolved == counts.intra, graph.unresolved[:5]
    # absolute self-imports resolve like relative ones
    assert ("pydantic/fields.py", "pydantic/_internal/_fields.py") in edges
    assert_dependencies_first(files, graph.edges)


def test_python_layouts_src_scripts_and_relative_levels():
    files = {
        "pyproject.toml": "",
        "src/pkg/__init__.py": "from .core import run\n",
        "src/pkg/core.py": "from . import util\nfrom .sub.deep import thing\nimport json\n",
        "src/pkg/util.py": "import pkg.core\n",
        "src/pkg/sub/__init__.py": "",
        "src/pkg/sub/deep.py": "from ..util import helper\nfrom ... import escape\n",
        "scripts/tool.py": "import helpers\nfrom pkg import core\n",
        "scripts/helpers.py": "",
        "tests/typing/check.py": "",
        "tests/test_core.py": "from pkg.core import run\nimport typing\n",
    }
    graph, edges = graph_of(files)
    assert edges == {
        ("src/pkg/__init__.py", "src/pkg/core.py"),
        ("src/pkg/core.py", "src/pkg/util.py"), ("src/pkg/core.py", "src/pkg/sub/deep.py"),
        ("src/pkg/util.py", "src/pkg/core.py"),
        ("src/pkg/sub/deep.py", "src/pkg/util.py"),
        ("scripts/tool.py", "scripts/helpers.py"), ("scripts/tool.py", "src/pkg/core.py"),
        ("tests/test_core.py", "src/pkg/core.py"),
    }
    # `from ... import escape` climbs above src/ (a package-less folder): intra, unresolved;
    # json and typing are not in the repo (tests/typing/ is a namespace folder, not `typing`).
    assert [(p, r.level) for p, r in graph.unresolved] == [("src/pkg/sub/deep.py", 3)]
    counts = graph.counts["python"]
    assert (counts.seen, counts.intra, counts.resolved) == (11, 9, 8)


# --- other languages on crafted repositories ---------------------------------------------

def test_go_module_packages_are_folders():
    files = {
        "go.mod": "module example.com/app\n\ngo 1.21\n",
        "main.go": 'package main\nimport (\n\t"fmt"\n\t"example.com/app/internal/store"\n\t"example.com/app/util"\n)\n',
        "internal/store/store.go": 'package store\nimport "example.com/app/util"\n',
        "internal/store/store_test.go": 'package store\nimport "testing"\n',
        "util/util.go": "package util\n",
        "util/strings.go": "package util\n",
        "util/util_test.go": 'package util_test\nimport "example.com/app/util"\n',
        "tools/go.mod": "module example.com/app/tools\n",
        "tools/gen.go": 'package main\nimport "example.com/app/tools/x"\n',
        "tools/x/x.go": "package x\n",
    }
    graph, edges = graph_of(files)
    util = {"util/strings.go", "util/util.go"}
    assert edges == ({("main.go", "internal/store/store.go")} | {("main.go", u) for u in util}
                     | {("internal/store/store.go", u) for u in util} | {("util/util_test.go", u) for u in util}
                     | {("tools/gen.go", "tools/x/x.go")})
    counts = graph.counts["go"]
    assert (counts.seen, counts.intra, counts.resolved) == (7, 5, 5)


RUST_CRATE = {
    "Cargo.toml": '[package]\nname = "my-crate"\nversion = "0.1.0"\n',
    "src/lib.rs": "pub mod config;\nmod net;\npub use crate::net::client::Client;\n"
                  "#[cfg(test)]\nmod tests {\n    use super::*;\n}\n",
    "src/config.rs": "use crate::net::Addr;\nuse std::fmt;\npub struct Config;\n",
    "src/net/mod.rs": "pub mod client;\nmod missing;\npub struct Addr;\n",
    "src/net/client.rs": "use super::Addr;\nuse crate::config::{self, Config};\nuse crate::net::missing::X;\n",
    "src/main.rs": "use my_crate::config::Config;\nfn main() {}\n",
    "tests/it.rs": "use my_crate::net;\nmod common;\n",
    "tests/common/mod.rs": "pub fn setup() {}\n",
}


def test_rust_mod_and_use_resolve_through_the_module_tree():
    graph, edges = graph_of(RUST_CRATE)
    assert edges == {
        ("src/lib.rs", "src/config.rs"), ("src/lib.rs", "src/net/mod.rs"), ("src/lib.rs", "src/net/client.rs"),
        ("src/config.rs", "src/net/mod.rs"),
        ("src/net/mod.rs", "src/net/client.rs"),
        ("src/net/client.rs", "src/net/mod.rs"), ("src/net/client.rs", "src/config.rs"),
        ("src/main.rs", "src/config.rs"),
        ("tests/it.rs", "src/net/mod.rs"), ("tests/it.rs", "tests/common/mod.rs"),
    }
    # `mod missing;` has no file, and `crate::net::missing::X` goes through it
    assert sorted((p, r.target) for p, r in graph.unresolved) == [
        ("src/net/client.rs", "crate::net::missing::X"), ("src/net/mod.rs", "missing")]
    counts = graph.counts["rust"]
    assert (counts.seen, counts.intra, counts.resolved) == (15, 14, 12)


def test_java_imports_resolve_by_declared_package():
    base = "src/main/java/com/acme"
    files = {
        f"{base}/app/Main.java": "package com.acme.app;\nimport com.acme.model.User;\nimport com.acme.util.*;\n"
                                 "import static com.acme.util.Strings.join;\nimport java.util.List;\n"
                                 "import com.acme.model.User.Role;\n"
                                 "class Main { void f() { Lists.of(); } }\n",
        f"{base}/model/User.java": "package com.acme.model;\nimport java.util.Objects;\n",
        f"{base}/util/Strings.java": "package com.acme.util;\n",
        f"{base}/util/Lists.java": "package com.acme.util;\nimport com.acme.model.User;\n",
        f"{base}/util/Unused.java": "package com.acme.util;\n",
        "src/test/java/com/acme/app/MainTest.java": "package com.acme.app;\nimport com.acme.missing.Gone;\n"
                                                    "import com.acme.util.Absent;\nclass MainTest { Main m; }\n",
    }
    graph, edges = graph_of(files)
    main, user = f"{base}/app/Main.java", f"{base}/model/User.java"
    # the wildcard brings only the classes Main names (Lists, not Unused); MainTest needs no
    # import for Main, which shares its package from another source root
    assert edges == {(main, user), (main, f"{base}/util/Strings.java"), (main, f"{base}/util/Lists.java"),
                     (f"{base}/util/Lists.java", user), ("src/test/java/com/acme/app/MainTest.java", main)}
    assert [(r.target) for _, r in graph.unresolved] == ["com.acme.util.Absent"]
    assert set(build_repo_graph(files, implicit=False).edges) == edges - {("src/test/java/com/acme/app/MainTest.java", main)}
    counts = graph.counts["java"]
    assert (counts.seen, counts.intra, counts.resolved) == (9, 6, 5)


def test_typescript_relative_index_and_tsconfig_paths():
    files = {
        "tsconfig.json": '{\n  // comments and trailing commas are allowed\n  "compilerOptions": {\n'
                         '    "baseUrl": "src", "paths": {"@lib/*": ["lib/*"], "@/*": ["./*"]},\n  },\n}\n',
        "src/index.ts": 'export * from "./components";\nimport { a } from "./lib/a.js";\nimport x from "@lib/b";\n'
                        'import React from "react";\nimport { T } from "@/types";\n',
        "src/components/index.ts": 'export { Button } from "./Button";\n',
        "src/components/Button.tsx": 'import styles from "./Button.css";\nimport type { A } from "../lib/a";\n'
                                     'export const Button = () => <div className={styles.b} />;\n',
        "src/lib/a.ts": 'const b = require("./b");\n',
        "src/lib/b.js": 'module.exports = {};\nimport("./lazy");\n',
        "src/lib/lazy.mjs": "export default 1;\n",
        "src/types.d.ts": "export type T = number;\n",
    }
    graph, edges = graph_of(files)
    assert edges == {
        ("src/index.ts", "src/components/index.ts"), ("src/index.ts", "src/lib/a.ts"),
        ("src/index.ts", "src/lib/b.js"), ("src/index.ts", "src/types.d.ts"),
        ("src/components/index.ts", "src/components/Button.tsx"), ("src/components/Button.tsx", "src/lib/a.ts"),
        ("src/lib/a.ts", "src/lib/b.js"), ("src/lib/b.js", "src/lib/lazy.mjs"),
    }
    assert [(p, r.target) for p, r in graph.unresolved] == [("src/components/Button.tsx", "./Button.css")]


def test_c_includes_relative_include_dirs_and_angle_only_when_present():
    files = {
        "include/mylib/api.h": '#include "mylib/types.h"\n',
        "include/mylib/types.h": "#include <stdint.h>\n",
        "src/api.c": '#include "mylib/api.h"\n#include "internal.h"\n#include <mylib/types.h>\n#include "config.h"\n',
        "src/internal.h": "#include <stdio.h>\n",
        "src/impl.cpp": '#include "internal.h"\n#include <vector>\n',
        "tests/test_api.c": '#include "../src/internal.h"\n#include <mylib/api.h>\n',
    }
    graph, edges = graph_of(files)
    assert edges == {
        ("include/mylib/api.h", "include/mylib/types.h"),
        ("src/api.c", "include/mylib/api.h"), ("src/api.c", "src/internal.h"), ("src/api.c", "include/mylib/types.h"),
        ("src/impl.cpp", "src/internal.h"),
        ("tests/test_api.c", "src/internal.h"), ("tests/test_api.c", "include/mylib/api.h"),
    }
    c = graph.counts["c"]
    assert (c.seen, c.intra, c.resolved) == (9, 7, 6)
    assert [(r.target) for _, r in graph.unresolved] == ["config.h"]


def test_csharp_usings_resolve_to_namespace_files():
    files = {
        "Core/Models/User.cs": "namespace Acme.Core.Models { public class User {} }\n",
        "Core/Models/Role.cs": "namespace Acme.Core.Models;\npublic enum Role { A }\n",
        "Core/Services/UserService.cs": "using System;\nusing Acme.Core.Models;\n"
                                        "namespace Acme.Core.Services { class UserService {} }\n",
        "App/Program.cs": "using Acme.Core.Services;\nusing static Acme.Core.Models.Role;\n"
                          "using M = Acme.Core.Models.User;\nnamespace Acme.App { }\n",
        "App/Startup.cs": "using Acme.Core.Models;\nnamespace Acme.App { class Startup { Role r; } }\n",
    }
    graph, edges = graph_of(files)
    assert edges == {
        ("Core/Services/UserService.cs", "Core/Models/User.cs"), ("Core/Services/UserService.cs", "Core/Models/Role.cs"),
        ("App/Program.cs", "Core/Services/UserService.cs"), ("App/Program.cs", "Core/Models/Role.cs"),
        ("App/Program.cs", "Core/Models/User.cs"),
        ("App/Startup.cs", "Core/Models/Role.cs"),  # it names Role only; UserService names no type
    }
    cs = graph.counts["csharp"]
    assert (cs.seen, cs.intra, cs.resolved) == (6, 5, 5)


# --- ordering ----------------------------------------------------------------------------

def assert_dependencies_first(paths, edges) -> None:
    """For every edge A -> B, B comes before A unless both are in one cycle (component)."""
    files, components = dependency_order(paths, edges)
    assert sorted(files) == sorted(set(paths))
    assert [p for c in components for p in c] == files
    position = {p: i for i, p in enumerate(files)}
    component = {p: i for i, c in enumerate(components) for p in c}
    bad = [(a, b) for a, b in edges if a in position and b in position and a != b
           and component[a] != component[b] and position[b] > position[a]]
    assert not bad, bad[:5]


def test_order_chain_cycle_and_ties_are_exact():
    paths = ["app.py", "b.py", "c.py", "d.py", "lib.py", "z.py"]
    # app -> {b, lib}; b <-> c (cycle), c -> d; lib -> d; z stands alone
    edges = [("app.py", "b.py"), ("app.py", "lib.py"), ("b.py", "c.py"), ("c.py", "b.py"),
             ("c.py", "d.py"), ("lib.py", "d.py"), ("d.py", "d.py"), ("x.py", "d.py")]
    files, components = dependency_order(paths, edges)
    assert files == ["d.py", "b.py", "c.py", "lib.py", "app.py", "z.py"]
    assert components == [["d.py"], ["b.py", "c.py"], ["lib.py"], ["app.py"], ["z.py"]]
    # order of inputs never matters
    shuffled_paths, shuffled_edges = paths[::-1], edges[::-1]
    assert dependency_order(shuffled_paths, shuffled_edges) == (files, components)


def test_cycle_members_follow_minimum_in_degree():
    # a needs b and c, b needs c, c needs a: one cycle where a has the most unmet dependencies
    edges = [("a", "b"), ("b", "c"), ("c", "a"), ("a", "c")]
    files, components = dependency_order(["a", "b", "c"], edges)
    assert components == [files]
    # unmet: a 2, b 1, c 1 -> b (path breaks the tie); then a 1, c 1 -> a; then c
    assert files == ["b", "a", "c"]


def test_order_modes_and_errors():
    paths = ["b", "a", "c"]
    assert dependency_order(paths, [("a", "b")], mode="path").files == ["a", "b", "c"]
    first = dependency_order(paths, [], mode="random", seed=3).files
    assert first == dependency_order(paths, [], mode="random", seed=3).files and sorted(first) == ["a", "b", "c"]
    with pytest.raises(ValueError, match="unknown order mode 'topo'"):
        dependency_order(paths, [], mode="topo")


def test_order_random_graph_property_and_scc_agreement():
    rng = random.Random(7)
    paths = [f"f{i:04d}.py" for i in range(600)]
    edges = [(rng.choice(paths), rng.choice(paths)) for _ in range(1500)]
    assert_dependencies_first(paths, edges)
    _, components = dependency_order(paths, edges)
    # a component of 2+ files really is a cycle: each member reaches every other
    index = {p: i for i, p in enumerate(sorted(paths))}
    successors = [[] for _ in paths]
    for a, b in edges:
        if a != b:
            successors[index[b]].append(index[a])
    _, sccs = strongly_connected_components(successors)
    assert sorted(sorted(c) for c in components) == sorted(sorted(paths[i] for i in c) for c in sccs)


def test_order_scales_to_50k_files_and_deep_chains():
    n = 50_000
    paths = [f"src/m{i:05d}.py" for i in range(n)]
    chain = [(paths[i], paths[i + 1]) for i in range(n - 1)]  # a 50k-deep path: no recursion allowed
    rng = random.Random(1)
    extra = [(paths[rng.randrange(n)], paths[rng.randrange(n)]) for _ in range(100_000)]
    files, components = dependency_order(paths, chain + extra)  # speed: benchmarks/bench_assemble.py
    assert len(files) == n
    files, _ = dependency_order(paths, chain)
    assert files == paths[::-1]


# --- real repositories from the registry corpus --------------------------------------------

def _bench_module():
    return load_benchmark("bench_imports")


FAMILIES = ("python", "javascript", "go", "rust", "java", "cpp")


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_registry_repositories_order_dependencies_first(registry_corpus, family):
    """Every resolved intra-repository import A -> B has B before A unless both are in one cycle."""
    from curation.ingest.filetypes import vendored_reason

    bench = _bench_module()
    repos = [root for fam, root in bench.registry_repositories(registry_corpus) if fam == family]
    if not repos:
        pytest.skip(f"the registry corpus at {registry_corpus} has no {family} repository")
    totals: dict[str, list[int]] = {}
    for root in repos:
        files = {p: t for p, t in read_repository(root).items() if vendored_reason(p) is None}
        graph = build_repo_graph(files)
        assert_dependencies_first(files, graph.edges)
        for lang, count in graph.counts.items():
            total = totals.setdefault(lang, [0, 0])
            total[0] += count.intra
            total[1] += count.resolved
    for lang, (intra, resolved) in totals.items():
        if lang in bench.TARGET_LANGUAGES and intra >= 50:
            assert resolved / intra >= bench.TARGET, f"{family}/{lang}: {resolved}/{intra} intra imports resolved"
    assert sum(intra for intra, _ in totals.values()) > 0


def test_tsconfig_extends_and_jsconfig_nearest_wins():
    files = {
        "tsconfig.base.json": '{"compilerOptions": {"baseUrl": ".", "paths": {"~/*": ["shared/*"]}}}',
        "web/tsconfig.json": '{"extends": "../tsconfig.base", "compilerOptions": {"strict": true}}',
        "web/app.ts": 'import { x } from "~/x";\nimport y from "shared/x";\n',
        "shared/x.ts": "export const x = 1;\n",
        "tools/jsconfig.json": '{"compilerOptions": {"baseUrl": "lib"}}',
        "tools/run.js": 'const u = require("util2");\nconst p = require("path");\n',
        "tools/lib/util2/index.js": "module.exports = {};\n",
    }
    graph, edges = graph_of(files)
    # web/ inherits baseUrl "." (the base file's folder) and the ~/* pattern; tools/ has its own baseUrl
    assert edges == {("web/app.ts", "shared/x.ts"), ("tools/run.js", "tools/lib/util2/index.js")}
    assert graph.counts["typescript"].intra == 2 and graph.counts["javascript"].intra == 1


@pytest.fixture(scope="session")
def csharp_repository() -> Path:
    """Real C#: the pythonnet sdist from PyPI (its runtime is ~150 C# files); the registry corpus has none."""
    import subprocess
    import tarfile

    target = ROOT / ".cache" / "pythonnet"
    found = sorted(target.glob("pythonnet-*/src"))
    if not found:
        target.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", "pythonnet",
                               "pythonnet==3.2.1", "-d", str(target)], capture_output=True, text=True, timeout=300)
        archives = sorted(target.glob("pythonnet-*.tar.gz"))
        if not archives:
            pytest.skip(f"could not download the pythonnet sdist from PyPI: {proc.stderr[-300:]}")
        with tarfile.open(archives[0]) as tar:
            tar.extractall(target, filter="data")
        found = sorted(target.glob("pythonnet-*/src"))
    return found[0].parent


@pytest.mark.slow
def test_real_csharp_repository_orders_dependencies_first(csharp_repository):
    files = read_repository(csharp_repository)
    assert sum(p.endswith(".cs") for p in files) > 100
    graph = build_repo_graph(files)
    assert_dependencies_first(files, graph.edges)
    cs = graph.counts["csharp"]
    assert cs.intra > 20 and cs.resolved / cs.intra >= 0.9, cs
