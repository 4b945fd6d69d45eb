"""Tree-sitter parsers per language id, loaded on first use.

Language ids are those of curation.ingest.languages.detect_language. Grammars come from the
per-language wheels (tree-sitter-python, tree-sitter-javascript, ...), which ship compiled
grammars, so nothing is downloaded at run time.
"""

from __future__ import annotations

import importlib
import threading
from dataclasses import dataclass
from typing import Any

# language id -> (module of the grammar wheel, function returning the language pointer)
GRAMMARS: dict[str, tuple[str, str]] = {
    "python": ("tree_sitter_python", "language"),
    "javascript": ("tree_sitter_javascript", "language"),
    "typescript": ("tree_sitter_typescript", "language_typescript"),
    "tsx": ("tree_sitter_typescript", "language_tsx"),
    "java": ("tree_sitter_java", "language"),
    "go": ("tree_sitter_go", "language"),
    "rust": ("tree_sitter_rust", "language"),
    "c": ("tree_sitter_c", "language"),
    "cpp": ("tree_sitter_cpp", "language"),
    "csharp": ("tree_sitter_c_sharp", "language"),
}
SUPPORTED_LANGUAGES = frozenset(GRAMMARS)

_languages: dict[str, Any] = {}
# A tree_sitter.Parser is not safe to share between threads; datatrove may run steps in
# threads, so each thread keeps its own parsers.
_local = threading.local()


@dataclass(frozen=True)
class ParseResult:
    tree: Any                # tree_sitter.Tree
    has_error: bool
    error_fraction: float    # bytes under ERROR/MISSING nodes / total bytes (0.0 for empty input)


def language(lang: str) -> Any | None:
    """The tree_sitter.Language for a language id, or None when the id is not supported."""
    if lang not in GRAMMARS:
        return None
    if lang not in _languages:
        import tree_sitter

        module_name, function = GRAMMARS[lang]
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ImportError(f"the grammar for {lang!r} needs the package "
                              f"{module_name.replace('_', '-')}: pip install {module_name.replace('_', '-')}"
                              ) from exc
        _languages[lang] = tree_sitter.Language(getattr(module, function)())
    return _languages[lang]


def parser(lang: str) -> Any | None:
    """This thread's tree_sitter.Parser for a language id, or None when unsupported."""
    parsers = getattr(_local, "parsers", None)
    if parsers is None:
        parsers = _local.parsers = {}
    if lang not in parsers:
        lang_obj = language(lang)
        if lang_obj is None:
            return None
        import tree_sitter

        parsers[lang] = tree_sitter.Parser(lang_obj)
    return parsers[lang]


def parse(text: str | bytes, lang: str) -> ParseResult | None:
    """Parse source text; None when the language has no grammar here."""
    p = parser(lang)
    if p is None:
        return None
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    tree = p.parse(data)
    root = tree.root_node
    if not root.has_error:
        return ParseResult(tree, False, 0.0)
    return ParseResult(tree, True, _error_bytes(root) / len(data) if data else 0.0)


def _error_bytes(root: Any) -> int:
    """Bytes covered by ERROR and MISSING nodes; nested error nodes are counted once.

    Only subtrees that contain an error are descended into (has_error), so a file with one
    syntax error costs a walk down one path, not over the whole tree.
    """
    covered = 0
    stack = [root]
    while stack:
        node = stack.pop()
        if node.is_error or node.is_missing:
            # A MISSING node is zero-width by construction; count it as one byte so that
            # a file whose only problem is a missing token still reports a non-zero fraction.
            covered += max(node.end_byte - node.start_byte, 1)
            continue
        stack.extend(child for child in node.children if child.has_error)
    return covered
