"""Import references of one source file, read from its tree-sitter tree.

Each language has one tree-sitter query that finds the import statements; the few lines of
Python per statement only turn the matched nodes into ImportRef values. Nothing here looks at
other files: deciding what a reference points to is curation.repo.resolve's job.

ImportRef.kind per language:
  python      "import" (import a.b) | "from" (from a.b import c / from ..x import y)
  javascript,
  typescript,
  tsx         "import" | "export" (export ... from) | "require" | "dynamic" (import("..."))
  java        "import" (a.b.C) | "import_all" (a.b.*) | "static" (import static a.b.C.m)
  go          "import"
  rust        "mod" (mod x; target "outer::x" inside inline modules) | "use" (one per leaf path)
              | "inline_mod" (mod m { ... }: not a reference, tells the resolver m lives here)
  c, cpp      "include" ("x.h") | "include_system" (<x.h>)
  csharp      "using" | "using_static" | "using_alias"
FileImports.declares holds what a file contributes to a namespace: the Java package, the C#
namespaces, the Go package name. FileImports.uses holds, for Java and C#, the capitalized words
of the file: the type names it may use, so that a resolver can tell which classes of an imported
package (or of the file's own package) it really refers to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from curation.repo.parsing import language, parse


@dataclass(frozen=True)
class ImportRef:
    kind: str
    target: str
    level: int = 0                 # Python: leading dots of a relative import
    # Python: the names of `from x import a, b` ("*" for a star);
    # Rust `use`: the inline modules (`mod m { ... }`) around the statement, outermost first
    names: tuple[str, ...] = ()
    line: int = 0                  # 1-based line of the statement


@dataclass(frozen=True)
class FileImports:
    refs: tuple[ImportRef, ...] = ()
    declares: tuple[str, ...] = ()
    uses: frozenset[str] = frozenset()
    has_error: bool = False
    error_fraction: float = 0.0


_QUERIES: dict[str, str] = {
    "python": "(import_statement) @import (import_from_statement) @from",
    "javascript": """
        (import_statement source: (string) @import)
        (export_statement source: (string) @export)
        (call_expression function: (identifier) @_fn arguments: (arguments . (string) @require)
            (#eq? @_fn "require"))
        (call_expression function: (import) arguments: (arguments . (string) @dynamic))
    """,
    "java": "(package_declaration) @package (import_declaration) @import (line_comment) @_comment "
            "(block_comment) @_comment",
    "go": "(package_clause (package_identifier) @package) (import_spec path: (_) @import)",
    "rust": "(mod_item) @mod (use_declaration argument: (_) @use)",
    "c": "(preproc_include path: (_) @include)",
    "csharp": """
        (comment) @_comment
        (using_directive) @using
        (namespace_declaration name: (_) @namespace)
        (file_scoped_namespace_declaration name: (_) @namespace)
    """,
}
_TS_EXTRA = "(import_require_clause source: (string) @require)"
_QUERY_SOURCE = {**_QUERIES, "typescript": _QUERIES["javascript"] + _TS_EXTRA,
                 "tsx": _QUERIES["javascript"] + _TS_EXTRA, "cpp": _QUERIES["c"]}
_compiled: dict[str, Any] = {}


def _query(lang: str) -> Any:
    if lang not in _compiled:
        import tree_sitter

        _compiled[lang] = tree_sitter.Query(language(lang), _QUERY_SOURCE[lang])
    return _compiled[lang]


def extract_imports(text: str | bytes, lang: str) -> FileImports | None:
    """Parse and extract; None when the language is not supported."""
    result = parse(text, lang)
    if result is None:
        return None
    return replace(imports_from_tree(result.tree, lang), has_error=result.has_error,
                   error_fraction=result.error_fraction)


# Type names by convention start with a capital. Comments are cut out first (Javadoc names
# many classes the code never touches); strings may still add a false one. A regex over the
# bytes is far cheaper than visiting every identifier node from Python.
_TYPE_WORD = re.compile(rb"\b[A-Z][A-Za-z0-9_]*")
_USES_LANGUAGES = ("java", "csharp")


def imports_from_tree(tree: Any, lang: str) -> FileImports:
    """Refs (in source order), declarations and used type names of an already parsed tree."""
    import tree_sitter

    captures = tree_sitter.QueryCursor(_query(lang)).captures(tree.root_node)
    matched = sorted(((node.start_byte, name, node) for name, nodes in captures.items()
                      if not name.startswith("_") for node in nodes), key=lambda t: (t[0], t[1]))
    handler = _HANDLERS[lang]
    refs: list[ImportRef] = []
    declares: list[str] = []
    for _, name, node in matched:
        handler(name, node, refs, declares)
    uses: frozenset[str] = frozenset()
    if lang in _USES_LANGUAGES:
        uses = _type_words(tree.root_node.text, captures.get("_comment", ()))
    return FileImports(tuple(refs), tuple(dict.fromkeys(declares)), uses)


def _type_words(source: bytes, comments: list[Any]) -> frozenset[str]:
    pieces, start = [], 0
    for comment in sorted(comments, key=lambda node: node.start_byte):
        if comment.start_byte >= start:
            pieces.append(source[start:comment.start_byte])
            start = comment.end_byte
    pieces.append(source[start:])
    return frozenset(word.decode("ascii") for word in set(_TYPE_WORD.findall(b" ".join(pieces))))


def _text(node: Any) -> str:
    return node.text.decode("utf-8", "replace")


def _line(node: Any) -> int:
    return node.start_point[0] + 1


# --- Python -----------------------------------------------------------------------------

def _python(name: str, node: Any, refs: list[ImportRef], declares: list[str]) -> None:
    if name == "import":
        for child in node.children_by_field_name("name"):
            dotted = child.child_by_field_name("name") if child.type == "aliased_import" else child
            refs.append(ImportRef("import", _text(dotted), line=_line(node)))
        return
    module = node.child_by_field_name("module_name")
    level, target = 0, ""
    if module.type == "relative_import":
        for child in module.children:
            if child.type == "import_prefix":
                level = _text(child).count(".")
            elif child.type == "dotted_name":
                target = _text(child)
    else:
        target = _text(module)
    names: list[str] = []
    for child in node.children_by_field_name("name"):
        dotted = child.child_by_field_name("name") if child.type == "aliased_import" else child
        names.append(_text(dotted))
    if any(child.type == "wildcard_import" for child in node.children):
        names.append("*")
    refs.append(ImportRef("from", target, level, tuple(names), _line(node)))


# --- JavaScript / TypeScript -------------------------------------------------------------

def _js(name: str, node: Any, refs: list[ImportRef], declares: list[str]) -> None:
    # String nodes keep their quotes; template strings are not matched by the query.
    spec = _text(node)[1:-1]
    if spec:
        refs.append(ImportRef(name, spec, line=_line(node)))


# --- Java --------------------------------------------------------------------------------

def _java(name: str, node: Any, refs: list[ImportRef], declares: list[str]) -> None:
    path = next((c for c in node.named_children if c.type in ("scoped_identifier", "identifier")), None)
    if path is None:
        return
    dotted = _text(path)
    if name == "package":
        declares.append(dotted)
        return
    kinds = {c.type for c in node.children}
    kind = "static" if "static" in kinds else "import_all" if "asterisk" in kinds else "import"
    if kind == "static" and "asterisk" in kinds:
        dotted += ".*"
    refs.append(ImportRef(kind, dotted, line=_line(node)))


# --- Go ----------------------------------------------------------------------------------

def _go(name: str, node: Any, refs: list[ImportRef], declares: list[str]) -> None:
    if name == "package":
        declares.append(_text(node))
        return
    spec = _text(node)[1:-1]
    if spec:
        refs.append(ImportRef("import", spec, line=_line(node)))


# --- Rust --------------------------------------------------------------------------------

def _rust(name: str, node: Any, refs: list[ImportRef], declares: list[str]) -> None:
    outer = _inline_modules(node)
    if name == "mod":
        if node.child_by_field_name("body") is not None:
            # An inline module is no reference, but the resolver must know it exists:
            # `use crate::m::X` with an inline `m` ends in this file.
            refs.append(ImportRef("inline_mod", "::".join([*outer, _text(node.child_by_field_name("name"))]),
                                  line=_line(node)))
            return
        if _has_path_attribute(node):
            return  # #[path = "..."] points elsewhere; rare, and not worth guessing
        target = "::".join([*outer, _text(node.child_by_field_name("name"))])
        refs.append(ImportRef("mod", target, line=_line(node)))
        return
    for path in _rust_use_paths(node, ""):
        refs.append(ImportRef("use", path, names=outer, line=_line(node)))


def _inline_modules(node: Any) -> tuple[str, ...]:
    outer = []
    parent = node.parent
    while parent is not None:
        if parent.type == "mod_item":
            outer.append(_text(parent.child_by_field_name("name")))
        parent = parent.parent
    return tuple(reversed(outer))


def _has_path_attribute(node: Any) -> bool:
    sibling = node.prev_named_sibling
    while sibling is not None and sibling.type == "attribute_item":
        if _text(sibling).replace(" ", "").startswith("#[path="):
            return True
        sibling = sibling.prev_named_sibling
    return False


def _rust_use_paths(node: Any, prefix: str) -> list[str]:
    """Leaf paths of a use tree: `crate::a::{b, c::D as E, self}` -> crate::a::b, crate::a::c::D, crate::a."""
    join = (lambda tail: f"{prefix}::{tail}" if prefix and tail else prefix or tail)
    kind = node.type
    if kind == "use_as_clause":
        return _rust_use_paths(node.child_by_field_name("path"), prefix)
    if kind == "use_wildcard":
        inner = node.named_children[0] if node.named_children else None
        return _rust_use_paths(inner, prefix) if inner is not None else [prefix] if prefix else []
    if kind == "scoped_use_list":
        path = node.child_by_field_name("path")
        base = join(_text(path)) if path is not None else prefix
        return _rust_use_paths(node.child_by_field_name("list"), base)
    if kind == "use_list":
        out: list[str] = []
        for child in node.named_children:
            out.extend(_rust_use_paths(child, prefix))
        return out
    if kind == "self":
        return [prefix] if prefix else ["self"]
    if kind in ("identifier", "scoped_identifier", "crate", "super", "metavariable"):
        return [join(_text(node).replace(" ", ""))]
    return []


# --- C / C++ -----------------------------------------------------------------------------

def _c(name: str, node: Any, refs: list[ImportRef], declares: list[str]) -> None:
    raw = _text(node).strip()
    if node.type == "system_lib_string":
        refs.append(ImportRef("include_system", raw[1:-1].strip(), line=_line(node)))
    elif node.type == "string_literal" and len(raw) > 2:
        refs.append(ImportRef("include", raw[1:-1].strip(), line=_line(node)))
    # anything else is a macro (#include FOO_H): not resolvable without a preprocessor


# --- C# ----------------------------------------------------------------------------------

def _csharp(name: str, node: Any, refs: list[ImportRef], declares: list[str]) -> None:
    if name == "namespace":
        parts = [_text(node)]
        parent = node.parent.parent
        while parent is not None:
            if parent.type == "namespace_declaration":
                parts.append(_text(parent.child_by_field_name("name")))
            parent = parent.parent
        declares.append(".".join(reversed(parts)).replace(" ", ""))
        return
    tokens = {c.type for c in node.children}
    alias = node.child_by_field_name("name")
    target = next((c for c in node.named_children
                   if c.type in ("qualified_name", "identifier", "alias_qualified_name") and c != alias), None)
    if target is None:
        return
    kind = "using_static" if "static" in tokens else "using_alias" if alias is not None else "using"
    dotted = _text(target).replace(" ", "")
    if dotted.startswith("global::"):
        dotted = dotted[len("global::"):]
    refs.append(ImportRef(kind, dotted, line=_line(node)))


_HANDLERS = {"python": _python, "javascript": _js, "typescript": _js, "tsx": _js, "java": _java,
             "go": _go, "rust": _rust, "c": _c, "cpp": _c, "csharp": _csharp}
