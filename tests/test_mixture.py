"""Mixture plan, sampling, bucketed shuffle and best-fit mixing on real tokenized code."""

from __future__ import annotations

import argparse
import hashlib
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from realcode import real_code_docs

from curation.config.mixture import MixtureConfig
from curation.io import TOKENS_SCHEMA, write_table_atomic
from curation.mixture import available_tokens, format_plan, load_mixture, plan_mixture
from curation.mixture.mix import mix_shards
from curation.mixture.shards import read_shard_docs
from curation.tokenize import load_tokenizer

ROOT = Path(__file__).resolve().parents[1]
# Which package's files play which source: `math` is left out on purpose (an optional source
# with no tokens, as in a code-only run).
SOURCE_OF = {"transformers": "code", "pyarrow": "code", "datatrove": "code", "duckdb": "code",
             "rich": "code_text", "pydantic": "code_text", "yaml": "general"}


@pytest.fixture(scope="module")
def tokenizer(telechat3):
    return load_tokenizer(str(telechat3))


@pytest.fixture(scope="module")
def docs(telechat3) -> dict[str, list[tuple[str, list[int]]]]:
    by_source: dict[str, list] = {}
    for doc_id, package, ids in real_code_docs(str(telechat3), 3_000_000):
        by_source.setdefault(SOURCE_OF[package], []).append((doc_id, list(ids)))
    return by_source


def write_tokens(tokens_dir: Path, docs: dict, tasks: int) -> Path:
    """tokens/<source>/{rank:05d}.parquet as the tokenize step writes them, documents dealt round-robin."""
    import pyarrow as pa

    for source, items in docs.items():
        for rank in range(tasks):
            part = items[rank::tasks]
            table = pa.Table.from_pylist(
                [{"id": i, "source": source, "n_tokens": len(ids), "input_ids": ids} for i, ids in part],
                schema=TOKENS_SCHEMA)
            write_table_atomic(table, tokens_dir / source / f"{rank:05d}.parquet")
    return tokens_dir


def mixture(seed: int = 1234, **overrides) -> MixtureConfig:
    data = load_mixture(ROOT / "mixtures" / "stage1_8k.yaml").model_dump()
    data["groups"]["code"]["sources"]["code"]["max_epochs"] = 2  # fixed here, whatever the shipped file says
    data["groups"]["text"]["sources"] = {  # the 7:2:1 text split, optional, as the tests' sources are named
        "code_text": {"weight": 0.67, "max_epochs": 4, "required": False},
        "general": {"weight": 0.22, "max_epochs": 1, "required": False},
        "math": {"weight": 0.11, "max_epochs": 2, "required": False}}
    data.update(seed=seed, **overrides)
    return MixtureConfig.model_validate(data)


def test_available_tokens_counts_ids_and_eos(tmp_path, docs):
    tokens = write_tokens(tmp_path / "tokens", docs, tasks=2)
    assert available_tokens(tokens) == {
        s: {"documents": len(items), "tokens": sum(len(ids) + 1 for _, ids in items)} for s, items in docs.items()}
    with pytest.raises(FileNotFoundError, match="no tokens folder"):
        available_tokens(tmp_path / "nope")


def test_plan_budget_is_bound_by_the_required_source(docs):
    available = {s: {"documents": len(v), "tokens": sum(len(i) + 1 for _, i in v)} for s, v in docs.items()}
    plan = plan_mixture(mixture(), available)
    code, text, general, math = (plan.source(s) for s in ("code", "code_text", "general", "math"))
    # math is missing: its share goes to the other two text sources, 0.67 : 0.22 of 0.30.
    assert math.target_tokens == 0 and math.asked_share == 0
    assert code.asked_share == pytest.approx(0.70)
    assert text.asked_share == pytest.approx(0.30 * 0.67 / 0.89)
    assert general.asked_share == pytest.approx(0.30 * 0.22 / 0.89)
    # total_tokens is null: code (the only required source) is used exactly max_epochs = 2 times.
    assert plan.budget == "largest within max_epochs of 'code'"
    assert code.target_tokens == pytest.approx(2 * available["code"]["tokens"], abs=1)
    for s in (text, general):
        limit = s.max_epochs * s.available_tokens
        assert s.capped == (s.asked_share * code.target_tokens / 0.70 > limit)
        assert s.target_tokens <= limit
    assert plan.total_tokens == sum(s.target_tokens for s in plan.sources)
    assert sum(plan.shares().values()) == pytest.approx(1.0)
    assert "math: optional source is missing: its share goes to the rest of group 'text'" in plan.warnings
    assert plan.ok and not plan.errors
    table = format_plan(plan)
    assert "code_text" in table and "missing" in table and "Warnings" in table
    assert type(plan).from_json(plan.to_json()) == plan


def test_plan_warns_on_weights_epochs_and_missing_required(docs):
    available = {s: {"documents": len(v), "tokens": sum(len(i) + 1 for _, i in v)} for s, v in docs.items()}
    total = 40 * available["general"]["tokens"]  # general: 40 * 0.2/0.9 * 0.22/0.89 = 2.2 epochs
    data = mixture(total_tokens=total).model_dump()
    data["groups"]["text"]["weight"] = 0.2  # groups sum to 0.9
    data["groups"]["text"]["sources"]["general"]["required"] = True
    data["groups"]["code"]["sources"]["code"]["max_epochs"] = 100
    plan = plan_mixture(MixtureConfig.model_validate(data), available)
    assert "group weights sum to 0.9000, not 1: normalized" in plan.warnings
    assert any(w.startswith("general:") and "above max_epochs 1: capped" in w for w in plan.warnings)
    assert plan.source("general").target_tokens == available["general"]["tokens"]  # max_epochs 1
    assert plan.source("code").target_tokens == round(total * 0.7 / 0.9)

    data["groups"]["code"]["sources"]["code"]["required"] = True
    plan = plan_mixture(MixtureConfig.model_validate(data), {"general": available["general"]})
    assert not plan.ok and plan.errors == ["code: required source is missing"]


def test_curate_plan_command_writes_plan_json(tmp_path, docs, capsys):
    from curation.mixture.cli import cmd_plan

    tokens = write_tokens(tmp_path / "out" / "tokens", docs, tasks=2)
    args = argparse.Namespace(mixture=ROOT / "mixtures" / "stage1_8k.yaml", tokens=tokens, out=None)
    assert cmd_plan(args) == 0
    printed = capsys.readouterr().out
    assert "Mixture stage1-8k (seed 1234)" in printed and (tmp_path / "out" / "plan.json").is_file()
    missing = argparse.Namespace(mixture=args.mixture, tokens=tmp_path / "none", out=None)
    assert cmd_plan(missing) == 2


def mix(tmp: Path, docs, tokenizer, *, seed: int, tasks: int = 2, seq_len: int = 8192, buckets: int | None = 3,
        scatter_tasks: int = 1) -> tuple[dict, Path]:
    tokens = write_tokens(tmp / "tokens", docs, tasks=tasks)
    plan = plan_mixture(mixture(seed), available_tokens(tokens))
    shards = tmp / "shards"
    index = mix_shards(plan, tokens, shards, tokenizer=tokenizer, seq_len=seq_len, rows_per_shard=64,
                       work_dir=tmp / "work", buckets=buckets, scatter_tasks=scatter_tasks)
    return index, shards


def shard_hashes(shards: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(shards.iterdir())}


def test_mix_realizes_the_plan(tmp_path, docs, tokenizer):
    # Default buckets: 1.5M tokens make one (a bucket holds >= 1,024 rows): each bucket is packed
    # alone, and ~60-row buckets would end in more padded rows than the 99% fill leaves room for.
    index, shards = mix(tmp_path, docs, tokenizer, seed=1234, buckets=None)
    assert index["sampling"]["buckets"] == 1
    plan = index["plan"]
    total = sum(index["realized"].values())
    for source, share in index["mixture"].items():
        assert abs(index["realized"][source] / total - share) < 0.005, source
    t = index["totals"]
    assert t["tokens_in"] == t["tokens_out"] == total
    assert t["rows"] * 8192 == t["tokens_out"] + t["padding"]
    assert t["tokens_out"] / (t["rows"] * 8192) > 0.99
    # Every document comes back whole, with its exact ids, as many times as it was sampled.
    original = {doc_id: ids for items in docs.values() for doc_id, ids in items}
    counts = Counter()
    for doc_id, source, ids in read_shard_docs(shards):
        assert ids == original[doc_id]
        counts[doc_id] += 1
    sampling = index["sampling"]["sources"]
    for source, items in docs.items():
        got = [counts[d] for d, _ in items]
        assert sum(got) == sampling[source]["documents"]
        full = sampling[source]["full_passes"]
        assert set(got) <= {full, full + 1}
        assert got.count(full + 1) == sampling[source]["fractional_documents"]
    assert sampling["code"]["full_passes"] == 2 and sampling["code"]["fractional_documents"] == 0
    for source, share in index["mixture"].items():
        target = next(s["target_tokens"] for s in plan["sources"] if s["source"] == source)
        full = index["sampling"]["sources"][source]["full_passes"]
        untaken = [len(ids) + 1 for d, ids in docs[source] if counts[d] == full]
        # First fit closes the gap to within half the smallest document it did not take.
        assert abs(index["realized"][source] - target) <= min(untaken) / 2


def test_same_seed_same_bytes_whatever_the_task_count(tmp_path, docs, tokenizer):
    index_a, a = mix(tmp_path / "a", docs, tokenizer, seed=7, tasks=2)
    index_b, b = mix(tmp_path / "b", docs, tokenizer, seed=7, tasks=3, scatter_tasks=3)
    assert shard_hashes(a) == shard_hashes(b) and len(index_a["shards"]) > 1
    assert sorted({name[:10] for name in shard_hashes(a)}) == ["index.json", "part-00000", "part-00001", "part-00002"]
    t = index_a["totals"]  # three ~63-row buckets, each closed alone: ~2 padded rows more per bucket
    assert t["tokens_out"] / (t["rows"] * 8192) > 0.97
    index_c, c = mix(tmp_path / "c", docs, tokenizer, seed=8, tasks=2)
    order = [d for d, _, _ in read_shard_docs(a)]
    order_c = [d for d, _, _ in read_shard_docs(c)]
    assert order != order_c
    assert sorted(set(order)) != [] and abs(len(order) - len(order_c)) < 0.05 * len(order)
    total_a, total_c = sum(index_a["realized"].values()), sum(index_c["realized"].values())
    for source, share in index_c["mixture"].items():
        assert abs(index_c["realized"][source] / total_c - share) < 0.005
        assert abs(index_c["realized"][source] / total_c - index_a["realized"][source] / total_a) < 0.005
    assert np.isclose(sum(index_c["mixture"].values()), 1.0)
