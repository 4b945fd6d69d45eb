"""Labelled real text for the code-related and math classifiers, and how it is split.

    code_related  READMEs of the installed distributions, Python's language reference, the
                  Python 3.11 HTML manual (Debian python3.11-doc), FOLDOC (dict-foldoc: the Free
                  On-line Dictionary of Computing)
    general       GCIDE (dict-gcide: the Collaborative International Dictionary of English),
                  Debian's fortunes and The Devil's Dictionary (seeds.py), and the software
                  licenses in /usr/share/common-licenses
    math          the mpmath manual (python-mpmath-doc): special functions, calculus, number
                  theory, with their formulas in LaTeX

How the negatives were chosen, so the split is not trivially separable: each format appears on
both sides. FOLDOC and GCIDE are both dictd dictionaries (headword, then definition), so the
format says nothing and only the subject separates them; the licenses are plain-text documents
about software ("source code", "object code", "compile", "distribute"), so the vocabulary of
software alone does not make a document code-related. For the math classifier the negatives
include the Python manual's numeric modules (math, cmath, decimal, fractions, statistics) and
GCIDE's definitions of mathematical words.

Measured (tests/test_text.py, 2026-12): the recall loop's model reaches held-out F1 0.95 after four
rounds (0.69 from the seeds alone), 0.98 on FOLDOC vs GCIDE and 0.95 on the Python manual vs the
licenses. A logistic regression on word shapes and punctuation only, trained with the true labels,
reaches 0.98 too: code-related documentation carries code samples and identifiers, so its form is
a strong clue. What the split does rule out is leakage (no file on both sides) and a task the
seeds alone solve.

Everything is cut into chunks of about 2000 characters at paragraph breaks (`seeds.chunks`), so
length is no clue; a chunk's group is its file (dictionaries: blocks of 100 entries), and
`partition` puts each group wholly on one side of a split.
"""

from __future__ import annotations

import random
import zlib
from pathlib import Path

from curation.quality.fasttext_train import LabelledDoc
from curation.quality.seeds import general_prose_docs
from curation.text.chunks import chunks
from curation.text.sources import TextItem

LICENSES = Path("/usr/share/common-licenses")


def labelled(items, label: str, cap: int | None = None, seed: int = 1) -> list[LabelledDoc]:
    """Chunks of items as LabelledDocs (group = the item's group), at most `cap`, sampled."""
    out = [LabelledDoc(c, label, it.group) for it in items for c in chunks(it.text)]
    if cap is not None and len(out) > cap:
        out = random.Random(seed).sample(out, cap)
    return out


def license_docs(root: Path = LICENSES, label: str = "general") -> list[LabelledDoc]:
    files = sorted(p for p in root.iterdir() if p.is_file() and not p.is_symlink()) if root.exists() else []
    return [LabelledDoc(c, label, f"license/{p.name}") for p in files
            for c in chunks(p.read_text(encoding="utf-8", errors="replace"))]


def fortune_docs(debian_prose_root: str | Path) -> list[LabelledDoc]:
    return list(general_prose_docs(debian_prose_root))


def partition(doc: LabelledDoc | TextItem, parts: int = 10) -> int:
    """A stable bucket of the document's group, 0..parts-1."""
    return zlib.crc32(doc.group.encode("utf-8")) % parts
