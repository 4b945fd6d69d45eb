"""Text inputs of a pipeline config that read the prose in `sources.py`: one Document per item
(or per chunk), `kind: text`, the input's name as `source`.

    inputs:
      python_docs: {kind: installed_docs, collections: [readmes, python_reference, stdlib_docstrings]}
      debian_docs: {kind: debian_docs, packages: [python3.11-doc, dict-foldoc]}   # apt-get download, once
      site:        {kind: html, paths: [/data/html]}                            # folders of .html files

Items are spread over tasks by a stable hash of their group (a file, a module), so a task reads
and extracts only its own files. An item with no text (an HTML page without main content) is a
recorded drop (`removed/text_ingest/`, reason `no_text`), never a silent one.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from curation.config.text import COLLECTIONS, TEXT_INPUT_KINDS
from curation.documents import removed_row
from curation.io import REMOVED_SCHEMA, ParquetSink
from curation.steps import Described
from curation.text import sources
from curation.text.chunks import chunks

STEP = "text_ingest"


def _mine(key: str, rank: int, world_size: int) -> bool:
    return zlib.crc32(key.encode("utf-8", "surrogatepass")) % world_size == rank


def iter_items(cfg: dict, rank: int = 0, world_size: int = 1) -> Iterator[sources.TextItem]:
    """The items of one text input that belong to task `rank` (HTML is extracted only for those)."""
    if hasattr(cfg, "model_dump"):
        cfg = cfg.model_dump()
    kind = cfg["kind"]
    if kind == "installed_docs":
        readers = {"readmes": lambda: sources.installed_readmes(cfg.get("names")),
                   "python_reference": sources.python_reference, "stdlib_docstrings": lambda: sources.stdlib_docstrings(want=lambda g: _mine(g, rank, world_size))}
        for name in cfg.get("collections") or COLLECTIONS:
            yield from (it for it in readers[name]() if _mine(it.group, rank, world_size))
    elif kind == "debian_docs":
        roots = sources.fetch_debian_packages(cfg["packages"], cfg.get("cache") or ".cache/debian-docs")
        for package, root in roots.items():
            pages, dictd = sources.debian_package_documents(package, root)
            for path in pages:
                if _mine(f"deb/{package}/{path.relative_to(root).as_posix()}", rank, world_size):
                    yield sources.read_html(path, root, f"deb/{package}")
            if dictd is not None:
                for item in sources.dictd_items(dictd):
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


def text_documents(source: str, cfg, rank: int, world_size: int, drop: Callable[[dict], None]) -> Iterator[Document]:
    """Documents of one text input (its typed section or a dict) for task `rank`; `drop(row)`
    receives the removed/ rows of items without text."""
    if hasattr(cfg, "model_dump"):  # the typed input section (curation.config.text)
        cfg = cfg.model_dump()
    size = cfg.get("chunk_chars")
    for item in iter_items(cfg, rank, world_size):
        meta = {"source": source, "kind": "text", "unit": "doc", "task": rank, "path": item.path, "repo": source}
        if not item.text.strip():
            drop(removed_row(id=f"{source}:{item.id}", step=STEP, reason="no_text",
                             detail="no main text in the file (extractor returned nothing)", meta=meta))
            continue
        parts = chunks(item.text, size) if size else [item.text]
        for k, text in enumerate(parts):
            doc_id = f"{source}:{item.id}" + (f"#{k}" if size else "")
            yield Document(text=text, id=doc_id, metadata={**meta, "size_bytes": len(text.encode("utf-8", "surrogatepass"))})


class TextDocsReader(Described, PipelineStep):
    """Reads the text inputs of a config (installed_docs, debian_docs, html) after whatever the
    steps before it yield; items without text go to `removed/text_ingest/` (reason `no_text`).
    In the ingest run right after IngestReader, which reads the other input kinds."""

    name = STEP
    type = "📖 - READER"

    def __init__(self, *, inputs: dict, removed_folder: str, limit: int | None = None):
        """inputs: name -> text input section (typed or dict); limit: documents per input per task."""
        super().__init__()
        self.inputs, self.removed_folder, self.limit = dict(inputs), str(removed_folder), limit

    @classmethod
    def from_config(cls, ctx) -> TextDocsReader | None:
        cfg = ctx.config
        inputs = {name: inp for name, inp in cfg.inputs.items() if inp.kind in TEXT_INPUT_KINDS}
        if not inputs:
            return None
        return cls(inputs=inputs, removed_folder=ctx.layout.removed, limit=cfg.limit)

    def outputs(self) -> list[Path]:
        return [Path(self.removed_folder) / STEP]

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if data:
            yield from data
        sink = ParquetSink(Path(self.removed_folder) / STEP, REMOVED_SCHEMA)
        sink.open(rank)  # an empty removed/text_ingest file still marks the task done

        def drop(row: dict) -> None:
            self.stat_update("dropped_no_text")
            sink.write(row, rank)

        with sink:
            for source in sorted(self.inputs):
                for k, doc in enumerate(text_documents(source, self.inputs[source], rank, world_size, drop)):
                    if self.limit is not None and k >= self.limit:
                        break
                    self.stat_update("documents")
                    yield doc
