"""How a datatrove `Document` maps to the rows of `docs/` and `removed/<step>/`.

Metadata keys are the column names of `docs/` (see `curation.io.DOC_SCHEMA`), so a document read
back from Parquet is the document that was written.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from curation.io import DOC_SCHEMA

if TYPE_CHECKING:
    from datatrove.data import Document

META_COLUMNS = [f.name for f in DOC_SCHEMA if f.name not in ("id", "text")]


def doc_id(repo: str, rev: str, path: str) -> str:
    """The stable id every stage joins on: `{repo}@{rev}:{path}`."""
    return f"{repo}@{rev}:{path}"


class DocToRow:
    """Document -> docs/ row: the fixed columns plus the pipeline's extra metadata columns."""

    def __init__(self, extra_columns: list[str] | None = None):
        self.columns = META_COLUMNS + list(extra_columns or [])

    def __call__(self, doc: "Document") -> dict[str, Any]:
        row = {"id": doc.id, "text": doc.text}
        meta = doc.metadata
        for key in self.columns:
            row[key] = meta.get(key)
        return row



def row_to_doc(row: dict[str, Any]) -> "Document":
    from datatrove.data import Document

    meta = {k: v for k, v in row.items() if k not in ("id", "text") and v is not None}
    return Document(text=row["text"], id=row["id"], metadata=meta)


def removed_row(
    *,
    id: str,
    step: str,
    reason: str,
    detail: str = "",
    meta: dict[str, Any] | None = None,
    text: str | None = None,
    kept_id: str | None = None,
    similarity: float | None = None,
) -> dict[str, Any]:
    meta = meta or {}
    return {
        "id": id,
        "step": step,
        "reason": reason,
        "detail": detail,
        "source": meta.get("source"),
        "repo": meta.get("repo"),
        "path": meta.get("path"),
        "lang": meta.get("lang"),
        "size_bytes": meta.get("size_bytes"),
        "kept_id": kept_id,
        "similarity": similarity,
        "text": text,
    }


class RemovedDocRow:
    """A `to_row` for a sink that receives dropped Documents (datatrove exclusion writer).
    A class, not a closure, so the pipeline pickles cleanly for every executor."""

    def __init__(self, step: str):
        self.step = step

    def __call__(self, doc: "Document") -> dict[str, Any]:
        return removed_row(
            id=doc.id,
            step=self.step,
            reason=doc.metadata.get("filter_reason", "unspecified"),
            detail=doc.metadata.get("filter_detail", ""),
            meta=doc.metadata,
            text=doc.text,
            kept_id=doc.metadata.get("kept_id"),
            similarity=doc.metadata.get("similarity"),
        )
