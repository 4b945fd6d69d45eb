"""Prose shingles for near-dedup of `kind: text` documents: word n-grams of the lowercased text
with punctuation removed (the shingling of FineWeb's and Gopher's MinHash dedup).

Code shingles (`shingles.py`) keep every operator and the case of identifiers, because `a+b`
and `a-b` are different programs. For prose that precision is noise: two copies of an article
that differ in quotes, dashes, capitalised titles or re-wrapped lines are the same document. So
the text is lowercased, every character that is neither a letter, a digit nor whitespace becomes
a space, and what is left is hashed as words by the same vectorized path as code tokens (with no
punctuation left, a code token is exactly a word).

`prose_shingle_hashes(text, n, normalize_identifiers=False)` has the signature of
`shingles.shingle_hashes`, so `MinhashSigner` can pick the shingler by document kind:
`SHINGLERS[doc.metadata["kind"]]`.
"""

from __future__ import annotations

import re

import numpy as np

from curation.dedup.shingles import chain_ngrams, shingle_hashes, token_hashes

# Everything but letters, digits and ASCII whitespace; `_` too (\w includes it), so `snake_case` in
# prose is two words, as a reader would say it. Non-ASCII spaces (NBSP, thin space) become ASCII
# spaces: the byte-level tokenizer would otherwise glue their UTF-8 bytes to the next word.
_NOT_WORD = re.compile(r"[^\w\t\n\r ]|_")


def prose_words(text: str) -> list[str]:
    """The words `prose_shingle_hashes` hashes (the readable definition)."""
    return normalize_prose(text).split()


def normalize_prose(text: str) -> str:
    return _NOT_WORD.sub(" ", text.lower())


def prose_shingle_hashes(text: str | bytes, n: int, normalize_identifiers: bool = False) -> np.ndarray:
    """uint64 hashes of the word n-grams of `text`, lowercased and without punctuation.
    `normalize_identifiers` is accepted for signature compatibility and has no meaning for prose."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "surrogateescape")
    return chain_ngrams(token_hashes(normalize_prose(text)), n)


# The shingler per document kind, for MinhashSigner (code keeps its code-aware shingles).
SHINGLERS = {"code": shingle_hashes, "text": prose_shingle_hashes}
