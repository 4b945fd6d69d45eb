"""notebooks/inspect_shards.ipynb runs top to bottom on a real (small) output folder."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from realcode import SITE_PACKAGES, real_code_docs, real_code_files

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "inspect_shards.ipynb"


def make_output_folder(out: Path, telechat3: Path) -> Path:
    """docs/, tokens/<source>/ and shards/ of ~1 MB of real code, mixed by mixtures/stage1_8k.yaml."""
    import pyarrow as pa

    from curation.io import DOC_SCHEMA, TOKENS_SCHEMA, write_table_atomic
    from curation.mixture import available_tokens, load_mixture, plan_mixture
    from curation.mixture.mix import mix_shards
    from curation.tokenize import load_tokenizer

    files = {str(p.relative_to(SITE_PACKAGES)): p for p in real_code_files(1_000_000)}
    source_of = {"transformers": "code", "pyarrow": "code", "datatrove": "code", "duckdb": "code"}
    docs, tokens = [], {}
    for doc_id, package, ids in real_code_docs(str(telechat3), 1_000_000):
        source = source_of.get(package, "code_text")
        text = files[doc_id].read_text(encoding="utf-8", errors="replace")
        docs.append({"id": doc_id, "text": text, "source": source, "kind": "code", "repo": package, "rev": "worktree",
                     "path": doc_id, "lang": "python", "lang_kind": "programming", "size_bytes": len(text.encode()),
                     "license": None, "license_class": None, "unit": "file",
                     "content_hash": hashlib.sha256(text.encode()).hexdigest(), "task": 0})
        tokens.setdefault(source, []).append({"id": doc_id, "source": source, "n_tokens": len(ids),
                                              "input_ids": list(ids)})
    write_table_atomic(pa.Table.from_pylist(docs, schema=DOC_SCHEMA), out / "docs" / "00000.parquet")
    for source, rows in tokens.items():
        write_table_atomic(pa.Table.from_pylist(rows, schema=TOKENS_SCHEMA), out / "tokens" / source / "00000.parquet")
    plan = plan_mixture(load_mixture(ROOT / "mixtures" / "stage1_8k.yaml"), available_tokens(out / "tokens"))
    mix_shards(plan, out / "tokens", out / "shards", tokenizer=load_tokenizer(str(telechat3)), seq_len=8192,
               rows_per_shard=32, work_dir=out / "work")
    return out


def test_notebook_runs_top_to_bottom(tmp_path, telechat3, monkeypatch):
    nbclient = pytest.importorskip("nbclient", reason="nbclient is in the test extra")
    import nbformat

    out = make_output_folder(tmp_path / "out", telechat3)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), "commit the notebook stripped"
    monkeypatch.setenv("CURATION_OUT", str(out))
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's inline backend renders the figures
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}).execute()
    text = "\n".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "stream")
    assert "fill " in text and "tokens in" in text
    figures = [o for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(figures) == 2
