"""The tokenize step decides FIM before encoding and encodes in batches: its ids must be exactly
those of encoding each file on its own (apply_fim with the file's own rng), whatever the batch
size and thread count. Real code (PyYAML and rich sources), the real TeleChat3 tokenizer."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
from datatrove.data import Document

from curation.config.assemble import FimConfig, FimSentinelPieces
from curation.encode.step import TokenizeStep
from curation.tokenize.fim import (
    apply_fim,
    encode_continuation,
    fim_rng,
    resolve_sentinels,
)
from curation.tokenize.tokenizer import load_tokenizer


@pytest.fixture(scope="module")
def documents() -> list[Document]:
    import rich
    import yaml

    docs = []
    for module in (yaml, rich):
        for p in sorted(Path(module.__file__).parent.rglob("*.py"))[:60]:
            text = p.read_text(encoding="utf-8")
            kind = "text" if p.name.startswith("_") else "code"  # text documents never get FIM
            docs.append(Document(text=text, id=f"{module.__name__}:{p.name}",
                                 metadata={"source": "code", "kind": kind, "lang": "python"}))
    docs.append(Document(text="", id="empty", metadata={"source": "code", "kind": "code", "lang": "python"}))
    return docs


def run_step(telechat3, docs, tmp_path, *, batch_docs, threads, line_cache=1_000_000) -> list[dict]:
    step = TokenizeStep(tokenizer_path=str(telechat3), tokens_folder=str(tmp_path / "tokens"), sources=["code"],
                        threads=threads, batch_docs=batch_docs, line_cache=line_cache,
                        fim=FimConfig(rate=0.5, spm_rate=0.5, mode="char", seed=3))
    out = list(step.run(iter([Document(text=d.text, id=d.id, metadata=dict(d.metadata)) for d in docs]), rank=0, world_size=1))
    assert [d.id for d in out] == [d.id for d in docs]
    return pq.read_table(tmp_path / "tokens" / "code" / "00000.parquet").to_pylist()


def test_batched_fim_equals_one_file_at_a_time(telechat3, documents, tmp_path):
    tok = load_tokenizer(str(telechat3))
    sentinels = resolve_sentinels(tok, FimSentinelPieces())
    cfg = FimConfig(rate=0.5, spm_rate=0.5, mode="char", seed=3)
    rows = run_step(telechat3, documents, tmp_path / "a", batch_docs=16, threads=2)
    tags = []
    for doc, row in zip(documents, rows):
        if doc.metadata["kind"] == "code":
            want = apply_fim(doc.text, tok, fim_rng(cfg.seed, doc.id), rate=cfg.rate, spm_rate=cfg.spm_rate,
                             sentinels=sentinels)
            ids, tag = want.ids, want.tag
            if tag:  # the arrangement written out by hand, each piece encoded alone
                a, b = want.cut
                pre = tok.encode_batch([doc.text[:a]])[0]
                [mid] = encode_continuation(tok, [doc.text[a:b]])
                [suf] = encode_continuation(tok, [doc.text[b:]])
                p, s, m = sentinels.prefix, sentinels.suffix, sentinels.middle
                assert ids == ([p, s, *suf, m, *pre, *mid] if tag == "spm" else [p, *pre, s, *suf, m, *mid])
        else:
            ids, tag = tok.encode_batch([doc.text])[0], ""
        assert (row["id"], row["fim"], row["input_ids"]) == (doc.id, tag, ids), doc.id
        tags.append(tag)
    assert {"psm", "spm", ""} <= set(tags)  # both FIM orders and plain files were exercised
    # batch size, threads and the line table (none; one restarted at every batch) change nothing
    assert run_step(telechat3, documents, tmp_path / "b", batch_docs=7, threads=1) == rows
    assert run_step(telechat3, documents, tmp_path / "c", batch_docs=16, threads=1, line_cache=0) == rows
    assert run_step(telechat3, documents, tmp_path / "d", batch_docs=5, threads=1, line_cache=3) == rows
