"""Syntax signals per file (tree-sitter), for every stage.

SyntaxTagger     parses each code file of a supported language; sets `has_syntax_error` and
                 `syntax_error_fraction`; optionally drops files above a bound (reason
                 "syntax_error" -> removed/syntax/). With `keep_imports` it also leaves the file's
                 extracted imports in `metadata["_repo_imports"]` (not a docs/ column), so a
                 RepoAssembler later in the same run does not parse the file a second time.
"""

from __future__ import annotations

from datatrove.data import Document

from curation.repo.imports import imports_from_tree
from curation.repo.parsing import SUPPORTED_LANGUAGES, parse
from curation.steps import DropStep

IMPORTS_KEY = "_repo_imports"  # transient: never a column, popped by RepoAssembler


class SyntaxTagger(DropStep):
    """has_syntax_error / syntax_error_fraction for every parsed file; drops files above the bound
    when asked (`assemble.drop_syntax_errors`)."""

    step = "syntax"

    def __init__(self, *, removed_folder: str | None = None, drop: bool = False, max_error_fraction: float = 0.0,
                 keep_imports: bool = False):
        if drop and removed_folder is None:
            raise ValueError("SyntaxTagger(drop=True) needs removed_folder: every drop lands in removed/syntax/")
        super().__init__(removed_folder=removed_folder if drop else None)
        self.drop = drop
        self.max_error_fraction = max_error_fraction
        self.keep_imports = keep_imports

    @classmethod
    def from_config(cls, ctx) -> SyntaxTagger | None:
        a = ctx.config.assemble
        repo_level = a.unit == "repo"
        if not repo_level and not a.syntax_signals:
            return None
        return cls(removed_folder=ctx.layout.removed if a.drop_syntax_errors else None, drop=a.drop_syntax_errors,
                   max_error_fraction=a.max_syntax_error_fraction, keep_imports=repo_level)

    def doc_columns(self) -> dict[str, str]:
        if self.keep_imports:  # repository documents replace the files: no per-file columns
            return {}
        return {"has_syntax_error": "bool", "syntax_error_fraction": "float64"}

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        meta = doc.metadata
        lang = meta.get("lang")
        if meta.get("kind") != "code" or lang not in SUPPORTED_LANGUAGES:
            self.stat_update("not_parsed")
            return True
        with self.track_time("parse"):
            result = parse(doc.text, lang)
            if self.keep_imports:
                meta[IMPORTS_KEY] = imports_from_tree(result.tree, lang)
        meta["has_syntax_error"] = result.has_error
        meta["syntax_error_fraction"] = round(result.error_fraction, 6)
        self.stat_update(f"parsed_{lang}")
        if result.has_error:
            self.stat_update("has_syntax_error")
        if self.drop and result.has_error and result.error_fraction > self.max_error_fraction:
            meta.pop(IMPORTS_KEY, None)
            meta["filter_detail"] = f"error_fraction={result.error_fraction:.4f} > {self.max_error_fraction}"
            return False, "syntax_error"
        return True
