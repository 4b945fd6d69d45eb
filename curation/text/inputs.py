"""Text inputs of a pipeline config that read the prose in `sources.py`: one Document per item
(or per chunk), `kind: text`, the input's name as `source`.

    inputs:
      python_docs: {kind: installed_docs, collections: [readmes, python_reference, stdlib_docstrings]}
      debian_docs: {kind: debian_docs, packages: [python3.11-doc, dict-foldoc]}   # apt-get download, once
      site:        {kind: html, paths: [/data/html]}                            # folders of .html files

Items are spread over tasks by a stable hash of their group (a file, a module), so a task reads
and extracts only its own files. An item with no text (an HTML page without main content) is a
recorded drop (`no_text`), never a silent one.
"""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Annotated, Callable, Iterator, Literal

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from pydantic import Field

from curation.documents import removed_row
from curation.io import REMOVED_SCHEMA, ParquetSink
from curation.schema import StrictModel
from curation.text import sources
from curation.text.chunks import chunks

COLLECTIONS = ("readmes", "python_reference", "stdlib_docstrings")
TEXT_INPUT_KINDS = ("installed_docs", "debian_docs", "html")


class _Chunked(StrictModel):
    chunk_chars: int | None = Field(
        None, ge=200, description="cut each item at paragraph breaks into documents of about this many characters; "
                                  "null: one document per item")


class InstalledDocsInput(_Chunked):
    """Prose every Python install has: READMEs of the installed distributions, the language
    reference, the standard library's docstrings."""

    kind: Literal["installed_docs"]
    collections: list[Literal["readmes", "python_reference", "stdlib_docstrings"]] = Field(
        default_factory=lambda: list(COLLECTIONS), min_length=1)
    names: list[str] | None = Field(None, description="readmes: only these distributions; null: all")


class DebianDocsInput(_Chunked):
    """Debian documentation packages (HTML manuals, dictd dictionaries), fetched with
    `apt-get download` into `cache` once and read from there."""

    kind: Literal["debian_docs"]
    packages: list[str] = Field(min_length=1)
    cache: str = Field(".cache/debian-docs", description="where the .deb files are downloaded and unpacked")


class HtmlInput(_Chunked):
    """Folders (or files) of HTML pages, main text extracted with trafilatura."""

    kind: Literal["html"]
    paths: list[str] = Field(min_length=1)


TextInputConfig = Annotated[InstalledDocsInput | DebianDocsInput | HtmlInput, Field(discriminator="kind")]


def _mine(key: str, rank: int, world_size: int) -> bool:
    return zlib.crc32(key.encode("utf-8", "surrogatepass")) % world_size == rank


def iter_items(cfg: dict, rank: int = 0, world_size: int = 1) -> Iterator[sources.TextItem]:
    """The items of one text input that belong to task `rank` (HTML is extracted only for those)."""
    if hasattr(cfg, "model_dump"):
        cfg = cfg.model_dump()
    kind = cfg["kind"]
    if kind == "installed_docs":
        readers = {"readmes": lambda: sources.installed_readmes(cfg.get("names")),
                   "python_reference": sources.python_reference, "stdlib_docstrings": sources.stdlib_docstrings}
        for name in cfg.get("collections") or COLLECTIONS:
            yield from (it for it in readers[name]() if _mine(it.group, rank, world_size))
    elif kind == "debian_docs":
        roots = sources.fetch_debian_packages(cfg["packages"], cfg.get("cache") or ".cache/debian-docs")
        for package, root in roots.items():
            for path in sources.html_files(root / "usr/share/doc"):
                if _mine(f"deb/{package}/{path.relative_to(root).as_posix()}", rank, world_size):
                    yield sources.read_html(path, root, f"deb/{package}")
            if (root / "usr/share/dictd").exists():
                for item in sources.dictd_items(root / "usr/share/dictd"):
                    if _mine(f"deb/{package}/{item.group}", rank, world_size):
                        yield sources.TextItem(f"deb/{package}/{item.id}", item.text, item.path,
                                               f"deb/{package}/{item.group}")
    elif kind == "html":
        for p in cfg["paths"]:
            root = Path(p)
            base = root.parent if root.is_file() else root
            for path in sources.html_files(root):
                if _mine(f"html/{path.relative_to(base).as_posix()}", rank, world_size):
                    yield sources.read_html(path, base)
    else:
        raise ValueError(f"not a text input kind: {kind!r} (known: {TEXT_INPUT_KINDS})")


def text_documents(source: str, cfg: dict, rank: int, world_size: int,
                   drop: Callable[[dict], None]) -> Iterator[Document]:
    """Documents of one text input for task `rank`; `drop(row)` receives removed/ingest rows.
    For IngestReader: `elif cfg["kind"] in TEXT_INPUT_KINDS: yield from text_documents(...)`."""
    if hasattr(cfg, "model_dump"):  # the typed input section (curation.config.inputs)
        cfg = cfg.model_dump()
    size = cfg.get("chunk_chars")
    for item in iter_items(cfg, rank, world_size):
        meta = {"source": source, "kind": "text", "unit": "doc", "task": rank, "path": item.path, "repo": source}
        if not item.text.strip():
            drop(removed_row(id=f"{source}:{item.id}", step="ingest", reason="no_text",
                             detail="no main text in the file (extractor returned nothing)", meta=meta))
            continue
        parts = chunks(item.text, size) if size else [item.text]
        for k, text in enumerate(parts):
            doc_id = f"{source}:{item.id}" + (f"#{k}" if size else "")
            yield Document(text=text, id=doc_id, metadata={**meta, "size_bytes": len(text.encode("utf-8", "surrogatepass"))})


class TextDocsReader(PipelineStep):
    """The text inputs of a config on their own (IngestReader calls `text_documents` instead)."""

    name = "text_docs"
    type = "📖 - READER"

    def __init__(self, *, inputs: dict[str, dict], removed_folder: str, limit: int | None = None):
        super().__init__()
        self.inputs, self.removed_folder, self.limit = inputs, removed_folder, limit

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if data:
            yield from data
        sink = ParquetSink(Path(self.removed_folder) / "ingest", REMOVED_SCHEMA)
        sink.open(rank)

        def drop(row: dict) -> None:
            self.stat_update("dropped")
            sink.write(row, rank)

        with sink:
            for source in sorted(self.inputs):
                for k, doc in enumerate(text_documents(source, self.inputs[source], rank, world_size, drop)):
                    if self.limit is not None and k >= self.limit:
                        break
                    self.stat_update("documents")
                    yield doc
