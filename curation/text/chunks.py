"""Cutting long text into documents of about equal size at paragraph breaks.

A classifier must not learn a class from document length, so both sides of a training set are cut
the same way; a pipeline input may cut long pages the same way (`chunk_chars`).
"""

from __future__ import annotations

import re

CHUNK_CHARS = 2000
MIN_CHUNK_CHARS = 200


def chunks(text: str, target: int = CHUNK_CHARS, minimum: int = MIN_CHUNK_CHARS) -> list[str]:
    """Paragraphs packed greedily into chunks of about `target` characters; short tails dropped."""
    out, current = [], ""
    for para in re.split(r"\n\s*\n", text):
        para = para.strip()
        if not para:
            continue
        if current and len(current) + len(para) > target:
            out.append(current)
            current = ""
        current = f"{current}\n\n{para}" if current else para
        while len(current) > 2 * target:  # one huge paragraph (a table, a log) is cut hard
            out.append(current[:target])
            current = current[target:]
    if current:
        out.append(current)
    return [c for c in out if len(c) >= minimum]
