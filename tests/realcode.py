"""Real tokenized code for the mixture, packing and loader tests: installed packages' .py files
(present on every machine) through the real TeleChat3 tokenizer, tokenized once per session."""

from __future__ import annotations

import functools
import sysconfig
from pathlib import Path

SITE_PACKAGES = Path(sysconfig.get_paths()["purelib"])
# Packages the project depends on, so they are installed wherever the tests run. transformers'
# model files give the long tail (many files > 8K tokens, a few > 32K).
PACKAGES = ("transformers/models", "pydantic", "rich", "datatrove", "pyarrow", "yaml", "duckdb")


@functools.cache
def real_code_files(max_bytes: int) -> tuple[Path, ...]:
    """Up to max_bytes of .py files, taken round-robin over PACKAGES in sorted path order."""
    per_package = [sorted(p for p in (SITE_PACKAGES / pkg).rglob("*.py") if p.stat().st_size > 0)
                   for pkg in PACKAGES if (SITE_PACKAGES / pkg).is_dir()]
    chosen, size, k = [], 0, 0
    while size < max_bytes and any(k < len(files) for files in per_package):
        for files in per_package:
            if k < len(files) and size < max_bytes:
                chosen.append(files[k])
                size += files[k].stat().st_size
        k += 1
    return tuple(chosen)


@functools.cache
def real_code_docs(tokenizer_dir: str, max_bytes: int) -> tuple[tuple[str, str, tuple[int, ...]], ...]:
    """(doc_id, package, ids) per file: the id is its path under site-packages."""
    from curation.tokenize import load_tokenizer

    tokenizer = load_tokenizer(tokenizer_dir)
    files = real_code_files(max_bytes)
    texts = [p.read_text(encoding="utf-8", errors="replace") for p in files]
    ids = tokenizer.encode_batch(texts, num_threads=2)
    return tuple((str(p.relative_to(SITE_PACKAGES)), str(p.relative_to(SITE_PACKAGES)).split("/")[0], tuple(d))
                 for p, d in zip(files, ids))
