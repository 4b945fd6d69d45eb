"""Parquet writer settings: dictionary encoding only where values repeat."""

from __future__ import annotations

import sysconfig
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from curation.io import DOC_SCHEMA, TOKENS_SCHEMA, ParquetSink, parquet_options


def _encodings(path: Path) -> dict[str, set[str]]:
    meta = pq.ParquetFile(path).metadata
    out: dict[str, set[str]] = {}
    for g in range(meta.num_row_groups):
        for c in range(meta.num_columns):
            col = meta.row_group(g).column(c)
            out.setdefault(col.path_in_schema, set()).update(col.encodings)
    return out


def test_dictionary_paths_are_the_files_own_column_paths():
    """A path the writer does not know would be ignored silently: every one must be a real column."""
    for schema in (DOC_SCHEMA, TOKENS_SCHEMA):
        empty = pa.BufferOutputStream()
        pq.write_table(schema.empty_table(), empty)
        parquet = pq.ParquetFile(pa.BufferReader(empty.getvalue())).schema
        columns = {parquet.column(i).path for i in range(len(parquet))}
        chosen = set(parquet_options(schema)["use_dictionary"])
        assert chosen and chosen <= columns
        assert "input_ids.list.element" not in chosen and "text" not in chosen and "source" in chosen


def test_a_tokens_file_keeps_ids_plain_and_repeated_strings_in_a_dictionary(tmp_path):
    """Real rows: the standard library's modules as documents, their bytes as ids."""
    files = sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py"))[:300]
    rows = [{"id": f.name, "source": "code", "n_tokens": f.stat().st_size, "lang": "python", "fim": "",
             "cuts": None, "input_ids": list(f.read_bytes()[:4000]), "loss_mask": None} for f in files]
    sink = ParquetSink(tmp_path / "tokens", TOKENS_SCHEMA)
    with sink:
        for row in rows:
            sink.write(row, 0)
    path = tmp_path / "tokens" / "00000.parquet"
    enc = _encodings(path)
    assert not any("DICTIONARY" in e for e in enc["input_ids.list.element"]), enc["input_ids.list.element"]
    assert not any("DICTIONARY" in e for e in enc["id"])
    assert any("DICTIONARY" in e for e in enc["source"]) and any("DICTIONARY" in e for e in enc["lang"])
    assert pq.read_table(path).to_pylist() == rows
