"""Labelled documents for `curate train-quality` and `curate recall-text`, from the command line.

A SOURCE is one of:
    PATH.jsonl / PATH.jsonl.gz / PATH.parquet   one document per row (`--text-key`, default text)
    DIR                                         every text file under it, one document per file
    registry-docs:DIR                           documentation chunks of a code corpus (seeds.py)
    debian-prose[:CACHE]                        Debian prose packages, fetched with apt-get (seeds.py)
    installed-docs[:COLLECTION,...]             READMEs of the installed distributions, Python's language
                                                reference, stdlib docstrings (curation/text/sources.py)
    debian-docs:PACKAGE[,PACKAGE...]            Debian documentation packages (HTML manuals, dictd
                                                dictionaries), fetched with apt-get download, cached
All of the last two are cut into chunks of about 2000 characters at paragraph breaks.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Iterator

from curation.langid import default_cache_dir
from curation.quality import seeds
from curation.quality.fasttext_train import LabelledDoc

TEXT_SUFFIXES = {".md", ".rst", ".txt", ".html", ".htm", ".rdoc", ".pod", ".adoc", ".tex", ""}


def read_source(spec: str, label: str | None, *, text_key: str = "text", label_key: str | None = None) -> Iterator[LabelledDoc]:
    """Documents of one SOURCE, labelled `label`, or by the row's `label_key` column."""

    if spec.startswith("registry-docs:"):
        yield from seeds.code_related_docs(spec.split(":", 1)[1], label=label or "code_related")
        return
    if spec == "debian-prose" or spec.startswith("debian-prose:"):
        cache = spec.split(":", 1)[1] if ":" in spec else default_cache_dir() / "debian-prose"
        yield from seeds.general_prose_docs(seeds.fetch_debian_prose(cache), label=label or "general")
        return
    if spec == "installed-docs" or spec.startswith(("installed-docs:", "debian-docs:")):
        yield from _text_source(spec, label)
        return
    path = Path(spec)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or directory")
    if path.is_dir():
        for f in sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in TEXT_SUFFIXES):
            yield LabelledDoc(f.read_text(encoding="utf-8", errors="replace"), _need(label, f), str(f))
        return
    for i, row in enumerate(_rows(path)):
        if text_key not in row:
            raise ValueError(f"{path}: row {i} has no {text_key!r} column (--text-key)")
        row_label = str(row[label_key]) if label_key else _need(label, path)
        yield LabelledDoc(str(row[text_key] or ""), row_label, str(row.get("id", f"{path}#{i}")))


def _text_source(spec: str, label: str | None) -> Iterator[LabelledDoc]:
    from curation.langid import default_cache_dir
    from curation.text.chunks import chunks
    from curation.text.inputs import iter_items

    kind, _, arg = spec.partition(":")
    names = [a for a in arg.split(",") if a]
    if kind == "installed-docs":
        cfg = {"kind": "installed_docs", "collections": names or None}
    else:
        if not names:
            raise ValueError(f"{spec}: name the packages, e.g. debian-docs:python3.11-doc,dict-foldoc")
        cfg = {"kind": "debian_docs", "packages": names, "cache": str(default_cache_dir() / "debian-docs")}
    for item in iter_items(cfg):
        for chunk in chunks(item.text):
            yield LabelledDoc(chunk, _need(label, spec), item.group)


def _need(label: str | None, where) -> str:
    if label is None:
        raise ValueError(f"{where}: no label: give it as --positive/--negative or name a --label-key")
    return label


def _rows(path: Path) -> Iterator[dict]:
    name = path.name.lower()
    if name.endswith((".jsonl", ".jsonl.gz", ".json.gz", ".ndjson")):
        opener = gzip.open if name.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if line.strip():
                    try:
                        yield json.loads(line)
                    except json.JSONDecodeError as err:
                        raise ValueError(f"{path}:{n}: not JSON: {err}") from None
    elif name.endswith(".parquet"):
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(path).iter_batches(batch_size=1024):
            yield from batch.to_pylist()
    else:
        raise ValueError(f"{path}: unsupported file type (use .jsonl, .jsonl.gz, .parquet or a folder)")
