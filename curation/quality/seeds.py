"""Seed documents for the code-related text classifier, from data every machine can fetch.

code-related  documentation of the registry corpus: READMEs, changelogs, guides and docs folders
              (.md .rst .rdoc .pod .txt .adoc, gzipped or not) of Debian, npm and PyPI packages
general       Debian's prose packages: `fortunes` (quotations, poems, jokes, literature; the
              cookie files about computers, Linux, Perl and Debian left out) and `dict-devil`
              (Ambrose Bierce's "The Devil's Dictionary")

Both sides are cut into chunks of about `CHUNK_CHARS` at paragraph breaks, so length is no clue
to the class; a chunk's group is its file, so the held-out split never sees a training file.
"""

from __future__ import annotations

import gzip
import re
import subprocess
from pathlib import Path
from typing import Iterator

from curation.quality.fasttext_train import LabelledDoc
from curation.text.chunks import CHUNK_CHARS, MIN_CHUNK_CHARS, chunks  # noqa: F401  (seeds.chunks is public)
from curation.text.sources import dictd_number

DOC_SUFFIXES = (".md", ".markdown", ".rst", ".rdoc", ".pod", ".txt", ".adoc")
DOC_NAMES = re.compile(r"^(?:readme|changes|changelog|history|news|contributing|tutorial|faq|guide)", re.I)
# Text files of code repositories that are data or boilerplate, not documentation.
NOT_DOCS = re.compile(r"(?:^|/)(?:testdata|test|tests|fixtures?)/|cmakelists\.txt|license|licence|copying|copyright|"
                      r"requirements[^/]*\.txt$|golden|-input\.txt|-output\.txt|entities\.txt|/top_level\.txt$|"
                      r"sources\.txt$|dependency_links\.txt$|\.egg-info/", re.I)

DEBIAN_PROSE_PACKAGES = ("fortunes", "dict-devil")
# Cookie files whose subject is computing: they would teach "general" the vocabulary of code.
FORTUNE_EXCLUDE = frozenset({"computers", "linux", "linuxcookie", "perl", "debian", "knghtbrd", "ascii-art",
                             "translate-me", "zippy"})


def _read_text(path: Path) -> str:
    data = path.read_bytes()
    if path.suffix == ".gz":
        data = gzip.decompress(data)
    return data.decode("utf-8", errors="replace")


def is_doc_file(rel: str) -> bool:
    name = rel.rsplit("/", 1)[-1]
    base = name[:-3] if name.endswith(".gz") else name
    if NOT_DOCS.search(rel):
        return False
    in_docs = re.search(r"(?:^|/)(?:docs?|guides?)/", rel, re.I) is not None
    named = DOC_NAMES.match(base) is not None
    if base.lower().endswith(DOC_SUFFIXES):
        return in_docs or named
    return named and "." not in base  # README, CHANGES, NEWS without a suffix


def code_related_docs(corpus_root: str | Path, label: str = "code_related") -> Iterator[LabelledDoc]:
    """Chunks of the documentation files under `corpus_root` (the registry corpus's src/)."""
    root = Path(corpus_root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such corpus folder")
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        if is_doc_file(rel):
            for chunk in chunks(_read_text(path)):
                yield LabelledDoc(chunk, label, rel)


def fetch_debian_prose(cache_dir: str | Path) -> Path:
    """`apt-get download` the prose packages into `cache_dir` and unpack them (once)."""
    cache = Path(cache_dir)
    root = cache / "root"
    if (cache / ".complete").exists():
        return root
    debs = cache / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["apt-get", "download", *DEBIAN_PROSE_PACKAGES], cwd=debs, capture_output=True, text=True)
    found = sorted(debs.glob("*.deb"))
    if proc.returncode != 0 or len(found) < len(DEBIAN_PROSE_PACKAGES):
        raise RuntimeError(f"apt-get download {' '.join(DEBIAN_PROSE_PACKAGES)} failed in {debs}: "
                           f"{proc.stderr.strip()[-500:]}")
    for deb in found:
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    (cache / ".complete").touch()
    return root


def general_prose_docs(debian_root: str | Path, label: str = "general") -> Iterator[LabelledDoc]:
    """Chunks of fortune cookies (grouped per cookie file and block) and Devil's Dictionary entries."""
    root = Path(debian_root)
    fortunes = root / "usr/share/games/fortunes"
    files = sorted(p for p in fortunes.glob("*") if p.is_file() and not p.suffix and p.name not in FORTUNE_EXCLUDE)
    if not files:
        raise FileNotFoundError(f"{fortunes}: no fortune files (run fetch_debian_prose first)")
    for path in files:
        cookies = [c.strip() for c in re.split(r"^%$", _read_text(path), flags=re.M) if c.strip()]
        for i, chunk in enumerate(chunks("\n\n".join(cookies))):
            yield LabelledDoc(chunk, label, f"fortunes/{path.name}#{i // 10}")
    index = root / "usr/share/dictd/devil.index"
    if index.exists():
        body = gzip.decompress((root / "usr/share/dictd/devil.dict.dz").read_bytes()).decode("utf-8", "replace")
        entries = [body[dictd_number(off):dictd_number(off) + dictd_number(size)] for _, off, size in
                   (line.split("\t")[:3] for line in index.read_text().splitlines() if line.count("\t") >= 2)
                   if not _.startswith("00-database")]
        for i, chunk in enumerate(chunks("\n\n".join(entries))):
            yield LabelledDoc(chunk, label, f"devil#{i // 10}")
