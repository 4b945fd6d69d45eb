"""Exact tokenization: our ids equal SentencePiece's on real code, raw text never yields special ids."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest

from curation.tokenize import TokenizerError, load_fallback_tokenizer, load_tokenizer
from curation.tokenize.tokenizer import TELECHAT3_SPECIAL_TOKENS, files_sha256

TELECHAT3 = Path(__file__).resolve().parents[2] / "shared" / "tokenizers" / "telechat3"
SITE_PACKAGES = Path(sysconfig.get_paths()["purelib"])
MAX_FILE_BYTES = 40_000  # keeps the whole comparison at a few seconds on a shared machine

CRAFTED = [
    "    indented = True\n",
    "\tdef tabbed():\n\t\treturn 1\n",
    "\n\n\nimport os\n",
    " x",
    "  \t \n mixed leading whitespace",
    "line one\r\nline two\r\n",
    "__init__",
    "__all__ = ['a']\n",
    "___triple and ____quad",
    'END = "<_end>"  # the model\'s EOS, written in code\n',
    "<tool_call>{\"name\": \"f\"}</tool_call>\n<think>x</think>\n<_pad><_start><_unk>",
    "</think>",
    "<reserve1> as text",
    "s = 'naïve café Ωmega 中文 日本語 한국어'\n",
    "emoji = '😀🚀 👩‍💻'\n",
    "zero\x00width\u200bnbsp\u00a0bom\ufeff",
    "trailing spaces   \n\n",
    "1234567890 digits 3.14159",
    "",
    " ",
    "\n",
]


def telechat3_folder() -> Path:
    if not (TELECHAT3 / "tokenizer.model").is_file():
        pytest.skip(f"TeleChat3 tokenizer not found at {TELECHAT3} (the read-only ../shared checkout)")
    return TELECHAT3


@pytest.fixture(scope="module")
def telechat3():
    return load_tokenizer(str(telechat3_folder()))


@pytest.fixture(scope="module")
def reference():
    import sentencepiece

    return sentencepiece.SentencePieceProcessor(model_file=str(telechat3_folder() / "tokenizer.model"))


def read_texts(paths: list[Path]) -> list[str]:
    texts = []
    for path in paths:
        try:
            texts.append(path.read_text(encoding="utf-8"))
        except UnicodeDecodeError:
            continue
    return texts


def site_packages_files(suffix: str, limit: int) -> list[Path]:
    """Up to `limit` files spread evenly over the sorted list, so many packages are covered."""
    found = sorted(
        p for p in SITE_PACKAGES.rglob(f"*{suffix}") if p.is_file() and 0 < p.stat().st_size <= MAX_FILE_BYTES
    )
    step = max(1, len(found) // limit)
    return found[::step][:limit]


@pytest.fixture(scope="module")
def real_code() -> dict[str, list[str]]:
    limits = {".py": 320, ".c": 40, ".h": 40, ".js": 20, ".json": 20, ".md": 30}
    return {suffix: read_texts(site_packages_files(suffix, n)) for suffix, n in limits.items()}


def test_ids_equal_sentencepiece_on_real_code(telechat3, reference, real_code):
    texts = [t for group in real_code.values() for t in group] + CRAFTED
    assert len(real_code[".py"]) >= 300 and len(texts) >= 350
    ours = telechat3.encode_batch(texts, num_threads=2)
    for text, ids in zip(texts, ours):
        assert ids == reference.encode(text), text[:80]
        assert not telechat3.special_ids.intersection(ids), text[:80]
        assert telechat3.decode(ids) == telechat3.roundtrip_text(text), text[:80]


def test_crafted_texts_round_trip_exactly(telechat3):
    for text, ids in zip(CRAFTED, telechat3.encode_batch(CRAFTED)):
        assert telechat3.decode(ids) == text
        assert all(i >= 24 for i in ids), (text, ids)  # 0..23 are TeleChat3's control ids


def test_literal_special_text_is_ordinary_text(telechat3):
    [ids] = telechat3.encode_batch(["a <_end> b"])
    assert ids == [399, 612, 34, 554, 124430, 422]  # "<", "_", "end", ">": no EOS (2)
    assert telechat3.eos_id not in ids


def test_u2581_is_read_as_a_space_and_recorded(telechat3, reference):
    # SentencePiece's space symbol: the one character that cannot round-trip. We keep the
    # reference ids (what the model saw in training) and say what decode gives back.
    assert telechat3.lossy_chars == "\u2581"
    text = "a\u2581b \u2581x"
    [ids] = telechat3.encode_batch([text])
    assert ids == reference.encode(text) == reference.encode("a b  x")
    assert telechat3.decode(ids) == "a b  x" == telechat3.roundtrip_text(text)


def test_hf_fast_default_would_differ(telechat3):
    """Why we do not encode with the transformers fast tokenizer's defaults."""
    from transformers import AutoTokenizer

    hf = AutoTokenizer.from_pretrained(str(telechat3_folder()))
    default = hf("a <_end> b", add_special_tokens=False)["input_ids"]
    assert 2 in default  # a code file mentioning <_end> would end its document early
    # ... and a document starting with whitespace loses its leading space.
    assert hf(" x", add_special_tokens=False)["input_ids"] != telechat3.encode_batch([" x"])[0]
    assert hf.decode(hf(" x", add_special_tokens=False)["input_ids"]) == "x"


def test_metadata_and_structural_ids(telechat3):
    assert (telechat3.backend, telechat3.vocab_size) == ("sentencepiece", 131072)
    assert (telechat3.eos_id, telechat3.pad_id, telechat3.bos_id) == (2, 3, 1)
    assert telechat3.special_ids == frozenset(range(24))
    assert telechat3.token_id("<_end>") == 2
    assert telechat3.token_id("<_control1>") == 15
    with pytest.raises(TokenizerError, match="'<nope>' is not a single piece"):
        telechat3.token_id("<nope>")
    # A user-defined piece: literal "<reserve1>" in a file encodes to the same id.
    assert telechat3.encode_batch(["<reserve1>"])[0][-1] == 40
    with pytest.raises(TokenizerError, match="'<reserve1>' .id 40. is an ordinary piece"):
        telechat3.token_id("<reserve1>")
    assert telechat3.token_id("<reserve1>", allow_text_piece=True) == 40


def test_decode_of_packed_documents_shows_eos(telechat3):
    a, b = "def f():\n    pass\n", "  indented second doc"
    ids_a, ids_b = telechat3.encode_batch([a, b])
    assert telechat3.decode(ids_a + [2] + ids_b + [2]) == a + "<_end>" + b + "<_end>"


def test_files_sha256_covers_the_files(telechat3, tmp_path):
    copy = tmp_path / "telechat3"
    shutil.copytree(telechat3_folder(), copy)
    assert files_sha256(copy) == telechat3.files_sha256
    (copy / "tokenizer_config.json").chmod(0o644)
    with open(copy / "tokenizer_config.json", "a") as f:
        f.write("\n")
    assert files_sha256(copy) != telechat3.files_sha256


def test_pickle_reloads_from_folder(telechat3):
    clone = pickle.loads(pickle.dumps(telechat3))
    assert clone.files_sha256 == telechat3.files_sha256
    assert clone.encode_batch(CRAFTED) == telechat3.encode_batch(CRAFTED)


def test_hub_cache_hit_without_network(tmp_path, monkeypatch):
    from huggingface_hub import constants

    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--Tele-AI--TeleChat3-Coder-36B-Thinking"
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    for name in ("tokenizer.model", "tokenizer_config.json"):
        shutil.copy(telechat3_folder() / name, snapshot / name)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    tok = load_tokenizer("Tele-AI/TeleChat3-Coder-36B-Thinking", offline=True)
    assert (tok.name, tok.backend) == ("Tele-AI/TeleChat3-Coder-36B-Thinking", "sentencepiece")
    assert Path(tok.path) == snapshot


@pytest.mark.parametrize("offline", [True, None])
def test_unresolvable_repo_fails_fast_with_advice(tmp_path, monkeypatch, offline):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    start = time.monotonic()
    with pytest.raises(TokenizerError) as err:
        load_tokenizer("curation-tests/no-such-tokenizer", offline=offline)
    assert time.monotonic() - start < 8
    message = str(err.value)
    assert "could not resolve tokenizer 'curation-tests/no-such-tokenizer' offline" in message
    assert "local folder" in message


def test_bad_local_paths_are_named(tmp_path):
    with pytest.raises(TokenizerError, match="no such folder"):
        load_tokenizer(str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(TokenizerError, match=r"empty: no tokenizer.model or tokenizer.json"):
        load_tokenizer(str(tmp_path / "empty"))


# --- the demo fallback: a byte-level BPE trained on the spot ---------------------------------


@pytest.fixture(scope="module")
def fallback_corpus() -> list[str]:
    """~5 MB of real Python source."""
    texts, total = [], 0
    for path in site_packages_files(".py", 100_000):
        text = read_texts([path])
        if text:
            texts.extend(text)
            total += len(text[0].encode())
        if total >= 5_000_000:
            break
    assert total >= 4_000_000
    return texts


def test_fallback_trains_fast_and_round_trips(tmp_path, fallback_corpus, real_code):
    start = time.monotonic()
    tok = load_fallback_tokenizer(tmp_path, fallback_corpus)
    assert time.monotonic() - start < 10
    assert (tok.name, tok.backend, tok.vocab_size) == ("curation-demo-bpe-16k", "hf-fast", 16384)
    assert (tok.eos_id, tok.pad_id, tok.bos_id) == (2, 3, 1)
    assert [tok.token_id(p) for p in TELECHAT3_SPECIAL_TOKENS] == list(range(24))
    texts = real_code[".c"] + real_code[".md"] + real_code[".py"][:50] + CRAFTED + ["\u2581 kept \u2581"]
    for text, ids in zip(texts, tok.encode_batch(texts)):
        assert tok.decode(ids) == text == tok.roundtrip_text(text)
        assert not tok.special_ids.intersection(ids)
    assert tok.encode_batch(["x <_end> y"])[0].count(2) == 0


def test_fallback_training_is_deterministic(tmp_path, fallback_corpus):
    first = load_fallback_tokenizer(tmp_path / "a", fallback_corpus[:150])
    # The same training in another process (another hash seed) writes the same files.
    (tmp_path / "corpus.json").write_text(json.dumps(fallback_corpus[:150]))
    code = ("import json, sys; from curation.tokenize.tokenizer import load_fallback_tokenizer; "
            "load_fallback_tokenizer(sys.argv[1], json.loads(open(sys.argv[2]).read()))")
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "b"), str(tmp_path / "corpus.json")], check=True,
                   env={**os.environ, "PYTHONHASHSEED": "99"})
    second = load_fallback_tokenizer(tmp_path / "b", [])
    a = (tmp_path / "a" / "curation-demo-bpe-16k" / "tokenizer.json").read_bytes()
    b = (tmp_path / "b" / "curation-demo-bpe-16k" / "tokenizer.json").read_bytes()
    assert a == b and first.files_sha256 == second.files_sha256
    # A second call reuses the cached files and does not need the corpus.
    assert load_fallback_tokenizer(tmp_path / "a", []).files_sha256 == first.files_sha256


def test_special_tokens_from_config_agree_with_auto_tokenizer(tmp_path):
    """The fast path (tokenizer_config.json read directly, no fast-tokenizer conversion) gives the
    ids AutoTokenizer gives; a folder with a file that could override the config takes the slow path."""
    from transformers import AutoTokenizer

    from curation.tokenize.tokenizer import _plain_spm_config

    folder = telechat3_folder()
    meta = _plain_spm_config(folder)
    assert meta is not None, "TeleChat3's folder should take the fast path"
    hf = AutoTokenizer.from_pretrained(str(folder))
    assert (meta.bos_token, meta.eos_token, meta.pad_token) == (hf.bos_token, hf.eos_token, hf.pad_token)
    fast = load_tokenizer(str(folder))
    assert (fast.eos_id, fast.pad_id, fast.bos_id) == (2, 3, 1)

    copy = tmp_path / "telechat3"
    shutil.copytree(folder, copy)
    (copy / "special_tokens_map.json").write_text('{"eos_token": "<_sep>"}')
    assert _plain_spm_config(copy) is None
    slow = load_tokenizer(str(copy))  # AutoTokenizer reads the override
    assert slow.eos_id == 8
