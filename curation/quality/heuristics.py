"""A heuristic quality score for one code file, from signals that code-data papers document.

Signals (all in `signals`, bools as 0.0 / 1.0):

    comment_ratio      non-blank lines that are comments (docstrings included) / non-blank lines
    doc_ratio          definitions (functions, classes, ...) with a docstring or a comment right
                       above them / definitions; 1.0 when the file defines nothing
    syntax_error       1.0 when the parser reports an error (tree-sitter where a grammar is
                       installed and trustworthy; `ast.parse` for Python, CPython's own grammar);
                       error_fraction: bytes in error; syntax_checked: 0.0 when no parser judged
    mean_line_length, max_line_length, long_line_fraction (lines over 120 characters), lines
    is_test            the path or the content says it is a test file
    alnum_fraction     letters and digits / characters

The score is a weighted mean of components in [0, 1] (weights in `WEIGHTS`, and why below). It
never drops anything: thresholds live in filter and mixture configs (`ScoreThresholdFilter`).
Changing a weight or a signal changes the score, so it changes `VERSION` and the metadata name.

Versions:
    v1  the syntax check of C and C++ by tree-sitter.
    v2  C and C++ are not syntax-checked (`UNCHECKED_SYNTAX`): tree-sitter parses them without a
        preprocessor, and on packaged sources that compile (Eigen, fmt, GoogleTest, Catch2,
        nlohmann/json, the registry corpus) it reported errors in 824 of 1,242 C++ files and 39 of
        84 C files, so v1 cut the score of good C++ by up to a quarter. Java, JavaScript, Go,
        Rust and TypeScript reported errors in 0.0-1.7% of theirs and stay checked. It was also the
        slowest parse (C++ 4.5 MB/s against 7-14 MB/s for the others).
"""

from __future__ import annotations

import ast
import re
import symtable
from dataclasses import dataclass, field

from curation.filters.measures import file_stats
from curation.repo.parsing import parse

NAME = "code_heuristic"
VERSION = 2
SCORE_KEY = f"score_{NAME}_v{VERSION}"
SIGNALS_KEY = f"signals_{NAME}_v{VERSION}"

# Why these weights: documentation is what OpenCoder and The Stack v2's quality annotations
# reward most, a file that does not parse teaches broken syntax, and line shape catches data
# and minified code that the filters let through. Tests are useful code, but less worth
# upsampling than the code they test, so they lose a small share only.
WEIGHTS = {"documentation": 0.35, "syntax": 0.25, "line_shape": 0.2, "size": 0.1, "not_test": 0.1}

# A comment ratio from 10% to 40% is what documented, hand-written code shows; beyond 60%
# a file is mostly commented-out code or a license header over little code.
COMMENT_GOOD = (0.10, 0.40)
COMMENT_BAD = 0.80
# Grammars whose verdict is wrong more often than right on code that compiles (see v2 above): the
# C preprocessor's macros are opaque to tree-sitter. These languages get no syntax verdict.
UNCHECKED_SYNTAX = frozenset({"c", "cpp"})

_HASH = ("python", "cython", "shell", "fish", "ruby", "perl", "raku", "r", "julia", "elixir", "nim",
         "crystal", "powershell", "tcl", "awk", "coffeescript", "yaml", "toml", "makefile", "cmake",
         "dockerfile", "starlark", "nix", "puppet", "gdscript")
_SLASH = ("javascript", "typescript", "tsx", "java", "c", "cpp", "csharp", "go", "rust", "kotlin",
          "swift", "scala", "objective-c", "objective-cpp", "dart", "groovy", "php", "zig", "cuda",
          "solidity", "vue", "svelte", "glsl", "hlsl", "wgsl", "metal", "protobuf", "verilog",
          "systemverilog", "hack", "apex", "haxe", "odin", "v", "gleam", "fsharp", "move", "cairo", "json5")
_DASH = ("sql", "lua", "haskell", "elm", "ada", "vhdl", "purescript", "idris", "agda", "lean")
_SEMI = ("lisp", "emacs-lisp", "scheme", "racket", "clojure", "assembly", "llvm")
_PERCENT = ("matlab", "erlang", "tex", "prolog")

LINE_COMMENT: dict[str, str] = {}
for _langs, _marker in ((_HASH, "#"), (_SLASH, "//"), (_DASH, "--"), (_SEMI, ";"), (_PERCENT, "%")):
    LINE_COMMENT.update(dict.fromkeys(_langs, _marker))
BLOCK_COMMENT_LANGS = frozenset(_SLASH) | {"css", "scss", "less", "sql"}

_MODIFIERS = ("export", r"pub(?:\([^)]*\))?", "public", "private", "protected", "static", "async", "abstract",
              "final", "override", "inline", "virtual")
_DEFINES = ("def", "class", "func", "fn", "function", "interface", "struct", "trait", "impl", "enum", "module",
            "sub", "fun", "object", r"type\s+\w+\s+(?:struct|interface)")
# After its indentation a definition line starts with one of these letters: the lookahead turns
# away most lines (`}`, `return`, `x = ...`) before sre tries 27 alternatives on each (the
# definition scan of the kept code 1.8 -> 1.1 s; the same lines match).
_FIRST_LETTERS = "".join(sorted({word[0] for word in _MODIFIERS + _DEFINES}))
_DEFINITION = re.compile(r"^\s*(?=[" + _FIRST_LETTERS + r"])(?:" + "|".join(m + r"\s+" for m in _MODIFIERS) + r")*"
                         r"(?:" + "|".join(_DEFINES) + r")\b")
_TEST_PATH = re.compile(
    r"(?:^|/)(?:tests?|testing|__tests__|spec|specs|testdata)/|(?:^|/)test_[^/]*$|_tests?\.[^/.]+$|"
    r"[._-](?:test|spec)\.[^/.]+$|(?:Test|Tests|Spec)\.(?:java|kt|scala|cs|swift|php|groovy)$")
# (?=[#@dfiTt]): the first characters of the alternatives, as for _DEFINITION.
_TEST_CONTENT = re.compile(
    r"^\s*(?=[#@dfiTt])(?:import pytest|from pytest|import unittest|from unittest|#\[test\]|#\[cfg\(test\)\]|@Test\b|"
    r"(?:describe|it|test)\(\s*['\"`]|func Test\w+\(t \*testing\.T\)|TEST(?:_F)?\()", re.M)


@dataclass
class HeuristicScore:
    score: float
    signals: dict[str, float] = field(default_factory=dict)


def is_test_file(path: str | None, text: str) -> bool:
    if path and _TEST_PATH.search(path.replace("\\", "/")):
        return True
    return bool(_TEST_CONTENT.search(text[:20_000]))


def comment_lines(text: str, lang: str | None) -> tuple[list[str], set[int]]:
    """The comment text of a file and the indexes of the lines that hold only comments.

    Line comments, C-style block comments and Python docstrings (string statements) count;
    a comment after code on the same line adds its text but not its line.
    """
    return _comment_lines(text.splitlines(), lang)


def _comment_lines(lines: list[str], lang: str | None, texts: bool = True) -> tuple[list[str], set[int]]:
    """texts=False: only the line indexes (the score needs no comment text; building it was a
    third of this function's time)."""
    marker = LINE_COMMENT.get(lang or "")
    python = lang in ("python", "cython")
    block = lang in BLOCK_COMMENT_LANGS
    comments: list[str] = []
    only_comment: set[int] = set()
    if not (marker or block or python):
        return comments, only_comment  # no comment syntax known: nothing below could match
    in_block = False
    for i, line in enumerate(lines):
        stripped = line.strip()
        if in_block:
            only_comment.add(i)
            end = stripped.find("*/")
            if texts:
                comments.append(stripped[:end] if end >= 0 else stripped)
            in_block = end < 0
            continue
        if block and stripped.startswith("/*"):
            only_comment.add(i)
            end = stripped.find("*/", 2)
            if texts:
                comments.append(stripped[2:end] if end >= 0 else stripped[2:])
            in_block = end < 0
            continue
        if marker and stripped.startswith(marker):
            if not (marker == "#" and stripped.startswith("#!") and i == 0):  # a shebang is not prose
                only_comment.add(i)
                if texts:
                    comments.append(stripped.lstrip(marker[0]).strip())
            continue
        if texts and marker and marker in line and marker != "%":
            at = line.find(f" {marker} ")
            if at >= 0:
                comments.append(line[at + len(marker) + 2:].strip())
    if python:
        for start, end in _python_docstrings(lines):
            only_comment.update(range(start, end + 1))
            if texts:
                comments.append("\n".join(lines[start:end + 1]).strip().strip("\"'rRbBuU").strip())
    return comments, only_comment


_PY_DEF = re.compile(r"^[ \t]*(?:async[ \t]+)?(?:def|class)[ \t]+\w")
_PY_STRING_STATEMENT = re.compile(r"""^[ \t]*[rRuU]?(\"\"\"|\'\'\'|"|')""")


def _python_docstrings(lines: list[str]) -> list[tuple[int, int]]:
    """(first, last) line of every string statement (module, class, function and attribute
    docstrings), 0-based. A line scan, not the AST: walking the AST cost more than the rest of
    the score together (about 3x slower on site-packages)."""
    found = []
    i = 0
    while i < len(lines):
        m = _PY_STRING_STATEMENT.match(lines[i])
        if not m:
            i += 1
            continue
        quote = m.group(1)
        rest = lines[i][m.end():]
        if quote in ('"', "'") or quote in rest:
            found.append((i, i))
            i += 1
            continue
        j = i + 1
        while j < len(lines) and quote not in lines[j]:
            j += 1
        found.append((i, min(j, len(lines) - 1)))
        i = j + 1
    return found


def documented_definitions(text: str, lang: str | None, comment_idx: set[int]) -> tuple[int, int]:
    """(definitions, documented definitions). Python: a docstring as the first statement of the
    body; other languages: a comment line right above the definition (Javadoc, JSDoc, rustdoc,
    Go doc)."""
    return _documented_definitions(text.splitlines(), lang, comment_idx)


def _documented_definitions(lines: list[str], lang: str | None, comment_idx: set[int]) -> tuple[int, int]:
    total = documented = 0
    python = lang in ("python", "cython")
    for i, line in enumerate(lines):
        if python:
            if not _PY_DEF.match(line):
                continue
            total += 1
            j = i
            while j < len(lines) and j < i + 30 and not lines[j].split("#")[0].rstrip().endswith(":"):
                j += 1  # a signature can span lines; the body starts after the line ending in ':'
            j += 1
            while j < len(lines) and not lines[j].strip():
                j += 1
            documented += j < len(lines) and j in comment_idx and not lines[j].lstrip().startswith("#")
        elif _DEFINITION.match(line):
            total += 1
            j = i - 1
            while j >= 0 and (lines[j].strip().startswith("@") or lines[j].strip().startswith("#[")):
                j -= 1  # decorators and attributes sit between a doc comment and its definition
            documented += j >= 0 and j in comment_idx
    return total, documented


def syntax_check(text: str, lang: str | None) -> tuple[bool, float] | None:
    """(has_error, error_fraction), or None when no parser judges the language. Python goes through
    `ast` (CPython's own grammar, exact); other languages through tree-sitter when installed, but
    for `UNCHECKED_SYNTAX`."""
    if lang in UNCHECKED_SYNTAX:
        return None
    if lang == "python":
        try:
            # symtable runs CPython's parser without building Python AST objects (1.8x faster
            # than ast.parse on real code). It also rejects a few scoping errors that ast.parse
            # accepts, so a failure is decided by ast.parse: the result is ast.parse's, exactly.
            symtable.symtable(text, "<file>", "exec")
            return False, 0.0
        except (SyntaxError, ValueError):
            pass
        try:
            ast.parse(text)
            return False, 0.0
        except (SyntaxError, ValueError) as err:
            # Everything after the first error is suspect; that share is the error fraction.
            line = getattr(err, "lineno", None) or 1
            n = max(text.count("\n") + 1, 1)
            return True, (n - line + 1) / n
    try:
        result = parse(text, lang) if lang else None
    except ImportError:  # tree-sitter or the grammar wheel is not installed
        result = None
    if result is not None:
        return result.has_error, result.error_fraction
    return None


def _ramp(value: float, lo: float, hi: float) -> float:
    """0 at lo, 1 at hi (either direction), clipped."""
    if hi == lo:
        return 1.0
    return min(max((value - lo) / (hi - lo), 0.0), 1.0)


def score_code(text: str, lang: str | None, path: str | None = None) -> HeuristicScore:
    # One split into lines for every signal (the filters' FileStats splits the same way).
    stats = file_stats(text)
    lines = stats.lines
    nonblank = stats.n_nonblank_lines  # lines with more than whitespace (str.strip)
    if not nonblank:
        return HeuristicScore(0.0, {"lines": 0.0})
    _, comment_idx = _comment_lines(lines, lang, texts=False)
    comment_ratio = sum(1 for i in comment_idx if lines[i].strip()) / nonblank
    n_defs, n_documented = _documented_definitions(lines, lang, comment_idx)
    doc_ratio = n_documented / n_defs if n_defs else 1.0
    checked = syntax_check(text, lang)
    has_error, error_fraction = checked if checked is not None else (False, 0.0)
    mean_len = stats.mean_line_length  # of stats.lines, measured by the compiled pass
    max_len = stats.max_line_length
    long_fraction = stats.long_lines / stats.n_lines  # lines over measures.LONG_LINE characters
    test = is_test_file(path, text)
    alnum = stats.alnum_fraction  # = share of str.isalnum characters, counted in C

    if comment_ratio < COMMENT_GOOD[0]:
        comment_part = comment_ratio / COMMENT_GOOD[0]
    elif comment_ratio <= COMMENT_GOOD[1]:
        comment_part = 1.0
    else:
        comment_part = 1.0 - _ramp(comment_ratio, COMMENT_GOOD[1], COMMENT_BAD)
    components = {
        "documentation": 0.5 * comment_part + 0.5 * doc_ratio if n_defs else comment_part,
        # A parse error anywhere costs half; the rest scales with how much of the file is broken.
        "syntax": 0.5 * (1.0 - min(error_fraction * 5, 1.0)) if has_error else 1.0,
        "line_shape": (1.0 - _ramp(mean_len, 60, 150)) * 0.5 + (1.0 - _ramp(long_fraction, 0.02, 0.3)) * 0.5,
        "size": _ramp(nonblank, 3, 20),
        "not_test": 0.0 if test else 1.0,
    }
    score = sum(WEIGHTS[k] * v for k, v in components.items())
    signals = {
        "comment_ratio": comment_ratio, "doc_ratio": doc_ratio, "definitions": float(n_defs),
        "syntax_error": float(has_error), "syntax_checked": float(checked is not None),
        "error_fraction": error_fraction, "mean_line_length": mean_len, "max_line_length": float(max_len),
        "long_line_fraction": long_fraction, "lines": float(len(lines)), "is_test": float(test),
        "alnum_fraction": alnum,
    }
    return HeuristicScore(round(score, 6), {k: round(v, 6) for k, v in signals.items()})
