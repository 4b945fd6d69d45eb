"""Stage 1 on the registry corpus (~145 MB, 12+ languages): every file accounted for, shards that
decode to exactly the kept documents with SentencePiece's ids, and byte-identical re-runs."""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb
import pytest
import yaml
from checks import accounted_ids, check_shards, expected_ids_of_collection
from conftest import ROOT, run_cli, write_config

pytestmark = pytest.mark.slow

SPECIAL_FILES = {
    "leading_spaces.py": "    # indented from the first byte\n    import os\n    print(os.getcwd())\n",
    "leading_tab.go": "\tpackage main\n",
    "leading_newlines.md": "\n\n# Title\n\nSome text.\n",
    "end_token.py": 'MARK = "<_end>"  # the EOS piece, as text\nprint(MARK)\n',
    "tool_call.js": "const s = '<tool_call>{\"name\": \"f\"}</tool_call>';\nconsole.log(s);\n",
    "think.rs": "// </think> and <think> are text here\nfn main() {}\n",
    "__main__.py": "__all__ = ['main']\n\n\ndef main():\n    return __name__\n",
}


@pytest.fixture(scope="module")
def corpus_inputs(registry_corpus, tmp_path_factory) -> list[Path]:
    extra = tmp_path_factory.mktemp("extra")
    special = extra / "special"
    special.mkdir()
    for name, text in SPECIAL_FILES.items():
        (special / name).write_text(text)
    return [registry_corpus / "deb", registry_corpus / "npm", registry_corpus / "pypi", extra]


def run_stage1(inputs: list[Path], out: Path, tokenizer: Path):
    """pipelines/stage1_8k.yaml over the registry corpus, its code input only: what these tests
    account for is every code file (the text inputs are tested in test_text.py)."""
    paths = "[" + ", ".join(str(p) for p in inputs) + "]"
    config = yaml.safe_load((ROOT / "pipelines" / "stage1_8k.yaml").read_text())
    config["inputs"] = {"code": config["inputs"]["code"]}
    config["filters"] = str(ROOT / "filters" / "code.yaml")
    config["mixture"] = str(ROOT / "mixtures" / "stage1_8k.yaml")
    path = write_config(out.parent / "stage1_code.yaml", config)
    proc = run_cli("run", str(path), "--out", str(out),
                   "--set", f"inputs.code.paths={paths}", "--set", f"tokenizer.name_or_path={tokenizer}",
                   "--tasks", "4", "--workers", "2")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module")
def corpus_run(corpus_inputs, telechat3, tmp_path_factory):
    out = tmp_path_factory.mktemp("stage1") / "out"
    return out, run_stage1(corpus_inputs, out, telechat3)


def test_every_input_file_is_kept_or_removed_with_a_reason(corpus_inputs, corpus_run):
    out, _ = corpus_run
    expected = set()
    for collection in corpus_inputs:
        expected |= expected_ids_of_collection(collection)
    kept, removed, by_reason = accounted_ids(out)
    assert len(expected) > 10_000
    assert kept.isdisjoint(removed)
    assert kept | removed == expected, (len(expected - kept - removed), len((kept | removed) - expected))
    assert by_reason.get("exact_dedup/exact_duplicate", 0) > 0


def test_many_languages_are_kept(corpus_run):
    out, _ = corpus_run
    langs = duckdb.sql(f"SELECT lang, count(*) FROM '{out}/docs/*.parquet' WHERE lang_kind = 'code' "
                       "GROUP BY lang HAVING count(*) >= 20").fetchall()
    assert len(langs) >= 10, langs


def test_shards_decode_to_the_kept_documents_with_reference_ids(corpus_run, telechat3):
    out, _ = corpus_run
    index = check_shards(out, telechat3)
    assert index["seq_len"] == 8192 and index["totals"]["rows"] > 1000
    ids = {r[0] for r in duckdb.sql(f"SELECT id FROM '{out}/docs/*.parquet' WHERE repo = 'special'").fetchall()}
    assert ids == {f"special@worktree:{name}" for name in SPECIAL_FILES}


def test_same_pipeline_twice_gives_byte_identical_shards(corpus_inputs, corpus_run, telechat3, tmp_path):
    out, _ = corpus_run
    again = tmp_path / "again"
    run_stage1(corpus_inputs, again, telechat3)
    first = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((out / "shards").iterdir())}
    second = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((again / "shards").iterdir())}
    assert first == second and len(first) > 2
