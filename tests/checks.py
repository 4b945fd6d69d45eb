"""Assertions over a whole output folder, shared by the end-to-end tests."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import duckdb
import pyarrow.parquet as pq


def walk_files(root: Path) -> list[str]:
    """Every non-directory entry under root (files, symlinks, fifos), as POSIX paths, independent
    of curation's own enumeration code."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        if ".git" in dirnames:
            dirnames.remove(".git")
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            found.append(Path(os.path.relpath(os.path.join(dirpath, name), root)).as_posix())
    return sorted(found)


def expected_ids_of_collection(collection: Path) -> set[str]:
    ids = set()
    for repo in sorted(p for p in collection.iterdir() if p.is_dir()):
        ids.update(f"{repo.name}@worktree:{f}" for f in walk_files(repo))
    return ids


def accounted_ids(out: Path) -> tuple[set[str], set[str], dict[str, int]]:
    con = duckdb.connect()
    kept = {r[0] for r in con.execute(f"SELECT id FROM '{out}/docs/*.parquet'").fetchall()}
    removed = con.execute(f"SELECT id, step, reason FROM read_parquet('{out}/removed/*/*.parquet', union_by_name=true)").fetchall()
    assert all(reason for _, _, reason in removed), "every drop has a reason"
    removed_ids = [r[0] for r in removed]
    assert len(removed_ids) == len(set(removed_ids)), "a file is removed at most once"
    by_reason: dict[str, int] = {}
    for _, step, reason in removed:
        by_reason[f"{step}/{reason}"] = by_reason.get(f"{step}/{reason}", 0) + 1
    return kept, set(removed_ids), by_reason


def kept_docs_in_pack_order(out: Path) -> list[dict]:
    """docs/ in the order the pack step reads them: source, then task, then row."""
    index = json.loads((out / "shards" / "index.json").read_text())
    sources = sorted(index["config"]["inputs"])
    tasks = sorted((out / "docs").glob("*.parquet"))
    rows = []
    for source in sources:
        for path in tasks:
            rows.extend(r for r in pq.read_table(path).to_pylist() if r["source"] == source)
    return rows


def check_shards(out: Path, tokenizer_dir: Path) -> dict:
    """The shard contract, and that the shards hold exactly the kept documents, in order, with the
    reference SentencePiece ids."""
    import sentencepiece as spm

    index = json.loads((out / "shards" / "index.json").read_text())
    seq_len = index["seq_len"]
    sp = spm.SentencePieceProcessor(model_file=str(tokenizer_dir / "tokenizer.model"))
    eos, pad = sp.eos_id(), sp.pad_id()
    for shard in index["shards"]:
        data = (out / "shards" / shard["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == shard["sha256"]
    segments = []  # (doc_id, source, ids)
    files = sorted((out / "shards").glob("part-*.parquet"))
    assert [f.name for f in files] == [s["file"] for s in index["shards"]]
    rows = 0
    for f in files:
        for row in pq.read_table(f).to_pylist():
            rows += 1
            ids, cu, mask = row["input_ids"], row["cu_seqlens"], row["loss_mask"]
            assert len(ids) == seq_len and len(mask) == seq_len
            assert cu[0] == 0 and cu[-1] == seq_len and cu == sorted(cu)
            assert len(cu) == len(row["doc_ids"]) + 1 == len(row["sources"]) + 1 == len(row["fim"]) + 1
            for k, doc_id in enumerate(row["doc_ids"]):
                piece = ids[cu[k]:cu[k + 1]]
                if doc_id == "":  # padding, only as the last segment
                    assert k == len(row["doc_ids"]) - 1 and set(piece) == {pad}
                    assert set(mask[cu[k]:cu[k + 1]]) == {0}
                    continue
                assert set(mask[cu[k]:cu[k + 1]]) == {1}
                if segments and segments[-1][0] == doc_id and segments[-1][2][-1] != eos:
                    segments[-1][2].extend(piece)  # a document split across rows
                else:
                    segments.append((doc_id, row["sources"][k], list(piece)))
    assert rows == index["totals"]["rows"]
    docs = kept_docs_in_pack_order(out)
    if index["config"]["pack"]["method"] == "concat":
        assert [s[0] for s in segments] == [d["id"] for d in docs], "shards hold the kept documents, in order"
    else:  # sampled and shuffled: each kept document exactly once (natural mixture: one epoch)
        assert sorted(s[0] for s in segments) == sorted(d["id"] for d in docs)
        by_id = {d["id"]: d for d in docs}
        docs = [by_id[s[0]] for s in segments]
    for (doc_id, source, ids), doc in zip(segments, docs):
        assert ids[-1] == eos and source == doc["source"]
        body = ids[:-1]
        assert eos not in body and all(i > 23 for i in body), f"{doc_id}: raw text produced a special id"
        assert body == sp.encode(doc["text"]), f"{doc_id}: ids differ from SentencePiece"
        expected_text = doc["text"].replace("\u2581", " ")  # SentencePiece's space symbol: see DESIGN.md
        assert sp.decode(body) == expected_text, f"{doc_id}: decoded text differs"
    total = sum(len(s[2]) for s in segments)
    assert total == index["totals"]["tokens_in"] == index["totals"]["tokens_out"]
    assert rows * seq_len == total + index["totals"]["padding"]
    return index
