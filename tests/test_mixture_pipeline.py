"""A mixture through `curate run`: 70% code / 30% text by tokens, realized within 0.5 pp of the plan."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import ROOT, run_cli, write_config


def prose_records() -> list[dict]:
    """Real prose: the license texts Debian ships on every machine, chunked by paragraph."""
    root = Path("/usr/share/common-licenses")
    if not root.is_dir():
        pytest.skip("/usr/share/common-licenses is absent: no real prose to mix")
    records = []
    for path in sorted(p for p in root.iterdir() if p.is_file() and not p.is_symlink()):
        paragraphs = [p.strip() for p in path.read_text(errors="replace").split("\n\n") if len(p.strip()) > 200]
        records += [{"id": f"{path.name}-{i}", "text": p} for i, p in enumerate(paragraphs)]
    return records


@pytest.fixture(scope="module")
def mixed(tmp_path_factory, telechat3):
    tmp = tmp_path_factory.mktemp("mix")
    text = tmp / "text.jsonl"
    text.write_text("".join(json.dumps(r) + "\n" for r in prose_records()))
    mixture = write_config(tmp / "mixture.yaml", {
        "name": "m", "seed": 7, "total_tokens": None,
        "groups": {"code": {"weight": 0.7, "sources": {"code": {"weight": 1.0, "max_epochs": 1}}},
                   "text": {"weight": 0.3, "sources": {"general": {"weight": 1.0, "max_epochs": 8}}}},
    })
    cfg = write_config(tmp / "p.yaml", {
        "name": "mix",
        "inputs": {"code": {"kind": "installed", "names": ["pyyaml", "rich", "packaging"]},
                   "general": {"kind": "jsonl", "paths": [str(text)]}},
        "filters": str(ROOT / "filters" / "code.yaml"),
        "mixture": str(mixture),
        "tokenizer": {"name_or_path": str(telechat3)},
        "pack": {"seq_len": 8192, "method": "best_fit"},
        "executor": {"tasks": 2, "workers": 2},
    })
    out = tmp / "out"
    proc = run_cli("run", str(cfg), "--out", str(out))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out


def test_realized_shares_within_half_a_point_of_the_plan(mixed):
    index = json.loads((mixed / "shards" / "index.json").read_text())
    plan = json.loads((mixed / "plan.json").read_text())
    total = sum(index["realized"].values())
    realized = {s: t / total for s, t in index["realized"].items()}
    assert abs(realized["code"] - 0.7) <= 0.005 and abs(realized["general"] - 0.3) <= 0.005, realized
    general = next(s for s in plan["sources"] if s["source"] == "general")
    assert 1 < general["epochs"] <= 8, "the text is repeated to reach its share, within max_epochs"


def test_packing_fill_and_token_balance(mixed):
    index = json.loads((mixed / "shards" / "index.json").read_text())
    t = index["totals"]
    assert t["tokens_in"] == t["tokens_out"] and t["rows"] * 8192 == t["tokens_out"] + t["padding"]
    assert t["tokens_out"] / (t["rows"] * 8192) >= 0.99


def test_code_split_by_language(tmp_path, telechat3):
    """The code share split by language: python 0.5, c 0.2, everything else ('*') 0.3 of the code."""
    mixture = write_config(tmp_path / "mixture.yaml", {
        "name": "by-language", "seed": 3, "total_tokens": None,
        "groups": {"code": {"weight": 1.0, "sources": {"code": {
            "weight": 1.0, "max_epochs": 3, "languages": {"python": 0.5, "c": 0.2, "*": 0.3}}}}},
    })
    cfg = write_config(tmp_path / "p.yaml", {
        "name": "langs", "inputs": {"code": {"kind": "installed", "names": ["pyyaml", "rich", "numpy"]}},
        "filters": str(ROOT / "filters" / "code.yaml"), "mixture": str(mixture),
        "tokenizer": {"name_or_path": str(telechat3)}, "executor": {"tasks": 2, "workers": 2},
    })
    out = tmp_path / "out"
    proc = run_cli("run", str(cfg), "--out", str(out))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    index = json.loads((out / "shards" / "index.json").read_text())
    total = sum(index["realized"].values())
    realized = {s: t / total for s, t in index["realized"].items()}
    assert set(realized) == {"code:python", "code:c", "code:*"}
    for source, share in {"code:python": 0.5, "code:c": 0.2, "code:*": 0.3}.items():
        assert abs(realized[source] - share) <= 0.005, realized
    plan = run_cli("plan", str(mixture), "--tokens", str(out / "tokens"), "--out", str(tmp_path / "plan.json"))
    assert plan.returncode == 0 and "code:python" in plan.stdout and "code:*" in plan.stdout
