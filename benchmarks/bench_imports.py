"""Import resolution on the registry corpus: share of intra-repository references resolved, and
throughput of parse + extract + resolve next to bare tree-sitter parsing, per language.

    python benchmarks/bench_imports.py [--corpus DIR] [--max-files-per-repo N]

DIR is the folder holding src/ (as built by ../shared/scripts/build_corpus.sh); defaults to
$CURATION_TEST_CORPUS, else .cache/corpus. Targets: >= 90% resolved for Python, Java, Go, Rust
and JS/TS; C/C++ and C# are reported (includes of generated or system headers are unknowable).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGET = 0.90
TARGET_LANGUAGES = ("python", "java", "go", "rust", "javascript", "typescript", "tsx")
_CPP_PACKAGES = ("catch2", "googletest", "libabsl-dev", "libeigen3-dev", "libfmt-dev", "libspdlog-dev",
                 "nlohmann-json3-dev")


def registry_repositories(src: Path) -> list[tuple[str, Path]]:
    """(family, repository root) for every repository of the registry corpus in src/.

    Families: python (PyPI sdists), javascript (npm tarballs, JS and TS), go (one per top-level
    go.mod), rust (one per crate), java (OpenJDK's java.base), cpp (C/C++ header libraries).
    """
    repos: list[tuple[str, Path]] = []
    deb, npm, pypi = src / "deb", src / "npm", src / "pypi"
    for sdist in sorted(pypi.glob("*/")) if pypi.is_dir() else []:
        repos.append(("python", sdist))
    for package in sorted(npm.glob("*/package")) if npm.is_dir() else []:
        repos.append(("javascript", package))
    go_roots: list[Path] = []
    for go_mod in sorted(deb.glob("golang-*/usr/share/gocode/src/**/go.mod")):
        folder = go_mod.parent
        if "testdata" not in folder.parts and not any(r in folder.parents for r in go_roots):
            go_roots.append(folder)
    repos += [("go", r) for r in go_roots]
    repos += [("rust", c) for c in sorted(deb.glob("librust-*/usr/share/cargo/registry/*/"))]
    java = deb / "openjdk-java.base" / "java.base"
    if java.is_dir():
        repos.append(("java", java))
    for package in sorted(deb.glob("*/")):
        if package.name.split("_", 1)[0] in _CPP_PACKAGES:
            repos.append(("cpp", package))
    return repos


def find_corpus(arg: str | None) -> Path:
    corpus = Path(arg or os.environ.get("CURATION_TEST_CORPUS") or ROOT / ".cache" / "corpus")
    src = corpus / "src"
    if not src.is_dir():
        sys.exit(f"no corpus at {src}: build it with ../shared/scripts/build_corpus.sh {corpus} "
                 f"or pass --corpus")
    return src


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", help="folder holding src/ (default: $CURATION_TEST_CORPUS or .cache/corpus)")
    parser.add_argument("--show-unresolved", type=int, default=5, help="unresolved references to print per language")
    args = parser.parse_args(argv)

    from curation.ingest.filetypes import vendored_reason
    from curation.ingest.languages import detect_language
    from curation.repo.graph import read_repository
    from curation.repo.imports import imports_from_tree
    from curation.repo.order import dependency_order
    from curation.repo.parsing import SUPPORTED_LANGUAGES, parse
    from curation.repo.resolve import FileImports, RefCounts, resolve_repository

    src = find_corpus(args.corpus)
    counts: dict[str, RefCounts] = defaultdict(RefCounts)
    size: dict[str, int] = defaultdict(int)
    parse_seconds: dict[str, float] = defaultdict(float)
    full_seconds: dict[str, float] = defaultdict(float)
    unresolved: dict[str, list[str]] = defaultdict(list)
    repos = registry_repositories(src)
    order_seconds = 0.0
    # per family: files, files inside a cycle of 2+ files, largest cycle
    cycles: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for family, root in repos:
        # vendored trees are dropped at ingest, before any graph is built; do the same here
        files = {p: t for p, t in read_repository(root).items() if vendored_reason(p) is None}
        langs = {p: detect_language(p) for p in files}
        langs = {p: lang for p, lang in langs.items() if lang in SUPPORTED_LANGUAGES}
        data = {p: files[p].encode("utf-8", "surrogatepass") for p in langs}
        # bare parse, then parse + extract (a second parse, so both columns pay the same cost)
        for path, lang in langs.items():
            started = time.perf_counter()
            parse(data[path], lang)
            parse_seconds[lang] += time.perf_counter() - started
            size[lang] += len(data[path])
        imports: dict[str, FileImports] = {}
        for path, lang in langs.items():
            started = time.perf_counter()
            result = parse(data[path], lang)
            imports[path] = imports_from_tree(result.tree, lang)
            full_seconds[lang] += time.perf_counter() - started
        started = time.perf_counter()
        graph = resolve_repository(files.keys(), imports, langs, files.get)
        resolve_time = time.perf_counter() - started
        # resolution time is shared out by bytes: it is one pass over the whole repository
        total = sum(len(d) for d in data.values()) or 1
        for path, lang in langs.items():
            full_seconds[lang] += resolve_time * len(data[path]) / total
        started = time.perf_counter()
        ordered = dependency_order(files.keys(), graph.edges)
        order_seconds += time.perf_counter() - started
        in_cycles = [len(c) for c in ordered.components if len(c) > 1 and langs.keys() & set(c)]
        stats = cycles[family]
        stats[0] += len(langs)
        stats[1] += sum(in_cycles)
        stats[2] = max([stats[2], *in_cycles])
        for lang, count in graph.counts.items():
            counts[lang].seen += count.seen
            counts[lang].intra += count.intra
            counts[lang].resolved += count.resolved
        for path, ref in graph.unresolved:
            unresolved[langs[path]].append(f"{root.name}/{path}:{ref.line} {ref.kind} "
                                                         f"{'.' * ref.level}{ref.target} {' '.join(ref.names)}")

    print(f"registry corpus: {src} ({len(repos)} repositories)\n")
    header = f"{'language':<11} {'MB':>7} {'refs':>7} {'intra':>7} {'resolved':>8} {'share':>7} " \
             f"{'target':>7} {'parse MB/s':>10} {'full MB/s':>9}"
    print(header)
    print("-" * len(header))
    below = []
    for lang in sorted(size):
        count = counts[lang]
        mb = size[lang] / 2**20
        target = f"{TARGET:.0%}" if lang in TARGET_LANGUAGES else "report"
        share = count.resolved_share
        if lang in TARGET_LANGUAGES and count.intra and share < TARGET:
            below.append(lang)
        print(f"{lang:<11} {mb:7.2f} {count.seen:7d} {count.intra:7d} {count.resolved:8d} {share:7.1%} "
              f"{target:>7} {mb / max(parse_seconds[lang], 1e-9):10.1f} {mb / max(full_seconds[lang], 1e-9):9.1f}")
    print(f"\ndependency_order over all repositories: {order_seconds:.2f} s")
    for family, (total, cyclic, largest) in sorted(cycles.items()):
        print(f"  {family:<11} {total:6d} source files, {cyclic / max(total, 1):6.1%} inside cycles, "
              f"largest cycle {largest}")
    for lang in sorted(unresolved):
        shown = unresolved[lang][:args.show_unresolved]
        if shown:
            print(f"\nunresolved {lang} ({len(unresolved[lang])}), first {len(shown)}:")
            for line in shown:
                print("  " + line)
    if below:
        print(f"\nbelow the {TARGET:.0%} target: {', '.join(below)}")
    return 1 if below else 0


if __name__ == "__main__":
    sys.exit(main())
