"""Decontamination on real inputs: the shared benchmarks planted inside real files of the registry
corpus, the corpus itself for false positives, a real git history for the SWE-bench guard."""

from __future__ import annotations

import json
import pickle
import subprocess
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from conftest import SHARED, load_benchmark
from datatrove.data import Document
from realcode import real_code_files

from curation.config.decontam import DecontaminateConfig, ExtraBenchmark
from curation.decontam.benchmarks import BenchmarkUnavailable, load_benchmarks, load_hub
from curation.decontam.index import BenchmarkIndex
from curation.decontam.match import MatchSettings, find_matches
from curation.decontam.report import write_report
from curation.decontam.scan import scan
from curation.decontam.step import (
    Decontaminate,
    build_index,
    prepare_index,
    settings_of,
)
from curation.decontam.swebench import normalize_repo
from curation.decontam.tokens import ngrams, tokenize
from curation.dedup.shingles import code_tokens
from curation.schema import ConfigError, validate

BENCHMARKS = SHARED / "benchmarks"
CFG = DecontaminateConfig()
SETTINGS = MatchSettings(**settings_of(CFG))


def _need_benchmarks():
    if not (BENCHMARKS / "humaneval" / "HumanEval.jsonl.gz").exists():
        pytest.skip(f"the shared benchmarks are not at {BENCHMARKS} (../shared/benchmarks)")


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("bench_decontam")


@pytest.fixture(scope="module")
def items():
    _need_benchmarks()
    return load_benchmarks(CFG, BENCHMARKS)[0]


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    _need_benchmarks()
    built = build_index(CFG, benchmarks_dir=BENCHMARKS)
    path = tmp_path_factory.mktemp("work") / "decontam_index.npz"
    built.save(path)
    return BenchmarkIndex.load(path)


# -- tokens ---------------------------------------------------------------------------------------
def test_compiled_scan_equals_the_readable_definition():
    """The numba loop gives the numpy reference's tokens, spans and n-grams on real code, and the
    same tokens as near-dedup's `code_tokens`."""
    files = real_code_files(1_000_000)
    bitmap = np.full(1 << 24, 0xFF, dtype=np.uint8)  # every bit set: every n-gram comes back
    checked = 0
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        ref = tokenize(text)
        got = scan(text, 13, 8, bitmap, 64 - 27)
        assert np.array_equal(got.tokens.starts, ref.starts) and np.array_equal(got.tokens.ends, ref.ends)
        assert np.array_equal(got.tokens.raw, ref.raw) and np.array_equal(got.tokens.norm, ref.norm)
        assert np.array_equal(got.raw_hash, ngrams(ref.raw, 13)) and np.array_equal(got.norm_hash, ngrams(ref.norm, 13))
        assert np.array_equal(got.short_hash, ngrams(ref.raw, 8))
        assert len(ref) == len(code_tokens(text)), path
        checked += 1
    assert checked == len(files) > 50


def test_normalization_keeps_keywords_builtins_and_attributes():
    a = tokenize("for idx, elem in enumerate(numbers):\n    total += abs(elem.value)")
    b = tokenize("for k, v in enumerate(xs):  total += abs(v.value)")
    assert np.array_equal(a.norm, b.norm)
    assert not np.array_equal(a.raw, b.raw)
    c = tokenize("for k, v in zip(xs):  total += abs(v.value)")  # another builtin: another n-gram
    assert not np.array_equal(a.norm, c.norm)
    d = tokenize("for k, v in enumerate(xs):  total += abs(v.other)")  # another attribute
    assert not np.array_equal(a.norm, d.norm)


# -- index ---------------------------------------------------------------------------------------
def test_index_holds_every_benchmark_and_drops_boilerplate(index, items):
    summary = index.summary()
    assert summary["items"] == {"humaneval": 164, **{f"humaneval-x-{lang}": 164 for lang in
                                ("cpp", "go", "java", "js", "python", "rust")}, "mbpp": 974, "cruxeval": 800}
    assert summary["unmatchable_segments"] < 0.005 * summary["segments"]
    # The #include block every HumanEval-X C++ declaration starts with is in 164 items: not evidence.
    cpp = next(i for i in items if i.benchmark == "humaneval-x-cpp")
    head = ngrams(tokenize(cpp.fields["declaration_code"]).raw, index.n)[0]
    assert head not in set(index.raw_keys.tolist())


def test_index_file_round_trip(index, tmp_path):
    index.save(tmp_path / "i.npz")
    again = BenchmarkIndex.load(tmp_path / "i.npz")
    assert again.summary() == index.summary()
    assert np.array_equal(again.raw_keys, index.raw_keys) and again.item_ids == index.item_ids
    with pytest.raises(FileNotFoundError, match="benchmark index is missing"):
        BenchmarkIndex.load(tmp_path / "absent.npz")


# -- acceptance 1: planted in real files ---------------------------------------------------------
def test_planted_recall_on_real_files(index, items, bench, registry_corpus):
    """Every eighth item of every benchmark, planted inside a real file of its language (the full
    set runs in benchmarks/bench_decontam.py and the slow test below)."""
    sample = items[::8]
    result = bench.planted_recall(index, sample, bench.host_files(registry_corpus), SETTINGS)
    missed = {k: {b: t["missed"] for b, t in v["benchmarks"].items() if t["missed"]} for k, v in result.items()}
    assert result["verbatim"]["recall"] == 1.0, missed["verbatim"]
    assert result["reindented"]["recall"] == 1.0, missed["reindented"]
    assert result["renamed"]["recall"] >= 0.95, missed["renamed"]
    assert result["renamed_reindented"]["recall"] >= 0.95, missed["renamed_reindented"]
    assert result["renamed_bare"]["recall"] >= 0.95, missed["renamed_bare"]


@pytest.mark.slow
def test_planted_recall_all_items_and_corpus_false_positives(index, items, bench, registry_corpus):
    result = bench.planted_recall(index, items, bench.host_files(registry_corpus), SETTINGS)
    assert result["verbatim"]["recall"] == 1.0
    assert result["reindented"]["recall"] == 1.0
    assert min(result[k]["recall"] for k in ("renamed", "renamed_reindented", "renamed_bare")) >= 0.95
    fp = bench.false_positives(index, bench.text_files(registry_corpus), SETTINGS)
    assert fp["files"] > 10_000
    assert fp["flagged_share"] < 0.001, json.dumps(fp["flagged"], indent=1)[:3000]


def test_false_positives_on_a_corpus_sample(index, bench, registry_corpus):
    files = bench.text_files(registry_corpus)[::6]
    fp = bench.false_positives(index, files, SETTINGS)
    assert fp["files"] > 2000
    assert fp["flagged_share"] < 0.001, fp["flagged"]


def test_variants_really_change_the_text(items, bench):
    """The renamed variant renames (else its recall would say nothing)."""
    he = next(i for i in items if i.item_id == "HumanEval/0")
    renamed = bench.variant(he, "renamed")
    assert "has_close_elements" not in renamed and "renamed_" in renamed and "enumerate(" in renamed
    go = next(i for i in items if i.item_id == "Go/0")
    assert "HasCloseElements" not in bench.variant(go, "renamed")


# -- the step ------------------------------------------------------------------------------------
def _host_docs(registry_corpus: Path, count: int) -> list[Document]:
    paths = sorted((registry_corpus / "pypi").rglob("*.py"))
    docs = []
    for p in paths:
        text = p.read_text(encoding="utf-8", errors="replace")
        if 3000 < len(text) < 30000:
            docs.append(Document(text=text, id=f"pypi:{p.relative_to(registry_corpus)}",
                                 metadata={"kind": "code", "lang": "python", "source": "code", "repo": "pypi"}))
        if len(docs) == count:
            return docs
    raise AssertionError("not enough host files")


def _step(tmp_path, index_path, **kw):
    return Decontaminate(removed_folder=str(tmp_path / "removed"), index_path=str(index_path),
                         report_folder=str(tmp_path / "work" / "decontaminate"), settings=settings_of(CFG), **kw)


@pytest.fixture(scope="module")
def index_path(index, tmp_path_factory):
    path = tmp_path_factory.mktemp("idx") / "decontam_index.npz"
    index.save(path)
    return path


def test_step_drops_with_benchmark_item_and_span(tmp_path, index_path, items, bench, registry_corpus):
    import random

    docs = _host_docs(registry_corpus, 6)
    he = next(i for i in items if i.item_id == "HumanEval/10")
    mb = next(i for i in items if i.benchmark == "mbpp" and len(tokenize(i.fields["solution"])) > 80)
    docs[1].text = bench.plant(docs[1].text, he.fields["code"], random.Random(1))
    docs[4].text = bench.plant(docs[4].text, bench.variant(mb, "renamed"), random.Random(2))
    step = _step(tmp_path, index_path, action="drop")
    kept = list(step.run(iter(docs), rank=0))
    assert [d.id for d in kept] == [docs[k].id for k in (0, 2, 3, 5)]
    assert all(d.metadata["decontam_matches"] == 0 for d in kept)
    rows = pq.read_table(tmp_path / "removed" / "decontaminate" / "00000.parquet").to_pylist()
    by_id = {r["id"]: r for r in rows}
    assert by_id[docs[1].id]["reason"] == "benchmark:humaneval"
    assert "HumanEval/10" in by_id[docs[1].id]["detail"] and "chars" in by_id[docs[1].id]["detail"]
    assert by_id[docs[4].id]["reason"] == "benchmark:mbpp"
    assert by_id[docs[4].id]["detail"].startswith(f"mbpp {mb.item_id} solution normalized")
    report = write_report(tmp_path / "work" / "decontaminate", tmp_path / "decontamination.json", tasks=1)
    assert report["documents_checked"] == 6
    assert report["benchmarks"]["humaneval"]["items"] == {"HumanEval/10": 1}
    assert report["benchmarks"]["humaneval"]["dropped"] == 1
    assert report["benchmarks"]["mbpp"]["examples"] == [docs[4].id]
    assert report["benchmarks"]["mbpp"]["items"] == {mb.item_id: 1}
    assert json.loads((tmp_path / "decontamination.json").read_text()) == report


def test_step_cuts_the_span_and_keeps_the_rest(tmp_path, index_path, items, registry_corpus):
    host = _host_docs(registry_corpus, 1)[0]
    original = host.text
    lines = original.split("\n")
    at = len(lines) // 2
    crux = next(i for i in items if i.item_id == "sample_7")
    planted = "\n".join(lines[:at] + [crux.fields["solution"]] + lines[at:])
    host.text = planted
    step = _step(tmp_path, index_path, action="cut", margin_chars=0)
    (out,) = list(step.run(iter([host]), rank=3))
    assert crux.fields["solution"] not in out.text
    assert out.text == "\n".join(lines[:at] + lines[at:])  # exactly the planted lines went
    assert out.metadata["decontam_matches"] == 1 and out.metadata["decontam_items"] == ["cruxeval:sample_7"]
    assert out.metadata["decontam_cut_chars"] == len(planted) - len(out.text)
    report = json.loads((tmp_path / "work" / "decontaminate" / "00003.json").read_text())
    tally = report["benchmarks"]["cruxeval"]
    assert tally["cut"] == 1 and tally["chars_removed"] == out.metadata["decontam_cut_chars"]
    assert tally["code_tokens_removed"] == len(tokenize(crux.fields["solution"]))


def test_cut_that_leaves_too_little_drops(tmp_path, index_path, items):
    he = next(i for i in items if i.item_id == "HumanEval/20")
    doc = Document(text="# solution\n" + he.fields["code"], id="copy", metadata={"kind": "code"})
    step = _step(tmp_path, index_path, action="cut")
    assert list(step.run(iter([doc]), rank=0)) == []
    (row,) = pq.read_table(tmp_path / "removed" / "decontaminate" / "00000.parquet").to_pylist()
    assert row["reason"] == "benchmark:humaneval" and "a cut would leave" in row["detail"]


# -- extra benchmarks ----------------------------------------------------------------------------
def test_local_jsonl_and_parquet_benchmarks_with_field_mapping(tmp_path, registry_corpus):
    import pyarrow as pa

    # A private eval made of two real functions of the corpus.
    src = sorted((registry_corpus / "pypi").rglob("*.py"))
    bodies = []
    for p in src:
        text = p.read_text(encoding="utf-8", errors="replace")
        if "\ndef " in text and len(text) > 2000:
            start = text.index("\ndef ") + 1
            body = text[start:start + 600].rsplit("\n", 1)[0]
            if len(tokenize(body)) > 60:
                bodies.append(body)
        if len(bodies) == 2:
            break
    rows = [{"qid": f"q{k}", "question": "Implement it.", "answer": b, "date": "2024-09-0" + str(k + 1)}
            for k, b in enumerate(bodies)]
    (tmp_path / "ev.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "ev.parquet")
    cfg = DecontaminateConfig(builtin=[], extra=[
        {"name": "private", "path": str(tmp_path / "ev.jsonl"), "fields": {"id": "qid", "solution": "answer"}},
        {"name": "private-pq", "path": "ev.parquet", "since": "2024-09-02",
         "fields": {"id": "qid", "solution": "answer", "date": "date"}}])
    items, _ = load_benchmarks(cfg, None, base=tmp_path)
    assert [(i.benchmark, i.item_id) for i in items] == [("private", "q0"), ("private", "q1"), ("private-pq", "q1")]
    idx = build_index(cfg, benchmarks_dir=None, base=tmp_path)
    found = find_matches(idx, "import os\n\n" + bodies[1] + "\n\nprint(1)\n", SETTINGS)
    assert {(m.benchmark, m.item_id) for m in found} == {("private", "q1"), ("private-pq", "q1")}
    bad = DecontaminateConfig(builtin=[], extra=[{"name": "x", "path": str(tmp_path / "ev.jsonl"),
                                                  "fields": {"id": "task_id", "solution": "answer"}}])
    with pytest.raises(BenchmarkUnavailable, match=r"no column\(s\) \['task_id'\]"):
        load_benchmarks(bad, None)


def test_hub_benchmark_offline_says_what_to_do(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    spec = ExtraBenchmark(name="livecodebench", hub="livecodebench/code_generation_lite", since="2024-08-01",
                          fields={"id": "question_id", "prompt": "question_content", "date": "contest_date"})
    with pytest.raises(BenchmarkUnavailable, match="livecodebench/code_generation_lite.*path:"):
        load_hub(spec)


def test_config_is_checked():
    with pytest.raises(ConfigError, match="decontam.yaml"):
        validate(DecontaminateConfig, {"n": 13, "treshold": 0.5}, "decontam.yaml")
    with pytest.raises(ConfigError, match="exactly one of path and hub"):
        validate(DecontaminateConfig, {"extra": [{"name": "a", "fields": {"id": "id"}}]}, "d.yaml")
    with pytest.raises(ConfigError, match="swe needs"):
        validate(DecontaminateConfig, {"extra": [{"name": "a", "path": "x.jsonl", "swe": True,
                                                  "fields": {"id": "id"}}]}, "d.yaml")


# -- SWE-bench guard on a real history -----------------------------------------------------------
def test_swe_tasks_at_or_after_a_benchmark_base_commit_are_caught(tmp_path):
    bundle = SHARED / "git" / "pallets+itsdangerous.bundle"
    if not bundle.exists():
        pytest.skip(f"{bundle} is absent")
    clone = tmp_path / "itsdangerous"
    subprocess.run(["git", "clone", "-q", str(bundle), str(clone)], check=True)
    history = subprocess.run(["git", "-C", str(clone), "rev-list", "--first-parent", "HEAD"], check=True,
                             capture_output=True, text=True).stdout.split()
    base, later, earlier = history[len(history) // 2], history[len(history) // 4], history[3 * len(history) // 4]
    (tmp_path / "swe.jsonl").write_text(json.dumps({
        "instance_id": "pallets__itsdangerous-1", "repo": "pallets/itsdangerous", "base_commit": base,
        "problem_statement": "Signer should reject an empty key.", "patch": "", "created_at": "2020-01-01"}) + "\n")
    extra = [{"name": "swe-bench-verified", "path": str(tmp_path / "swe.jsonl"), "swe": True,
              "fields": {"id": "instance_id", "prompt": "problem_statement", "solution": "patch",
                         "repo": "repo", "base_commit": "base_commit", "date": "created_at"}}]
    cfg = DecontaminateConfig(builtin=[], extra=extra, swe_git_dirs={"pallets/itsdangerous": str(clone)})
    idx_path = tmp_path / "work" / "decontam_index.npz"
    build_index(cfg, benchmarks_dir=None).save(idx_path)

    def task(doc_id, repo, commit):
        parent = subprocess.run(["git", "-C", str(clone), "rev-parse", f"{commit}^"], capture_output=True,
                                text=True).stdout.strip()
        return Document(text=f"a task of {repo}", id=doc_id, metadata={
            "kind": "code", "unit": "swe_task", "repo": repo, "base_commit": parent, "commit": commit})

    docs = [task("later", "pallets/itsdangerous", later), task("earlier", "pallets/itsdangerous", earlier),
            task("at-base", "https://github.com/pallets/itsdangerous.git", base),
            task("other-repo", "psf/requests", later),
            Document(text="a file", id="file", metadata={"kind": "code", "repo": "pallets/itsdangerous"})]
    step = Decontaminate(removed_folder=str(tmp_path / "removed"), index_path=str(idx_path),
                         report_folder=str(tmp_path / "rep"), swe_git_dirs=cfg.swe_git_dirs)
    kept = [d.id for d in step.run(iter(docs), rank=0)]
    assert kept == ["earlier", "other-repo", "file"]
    rows = {r["id"]: r for r in pq.read_table(tmp_path / "removed" / "decontaminate" / "00000.parquet").to_pylist()}
    assert rows["later"]["reason"] == "benchmark:swe-bench-verified"
    assert "at or after its base commit" in rows["later"]["detail"]
    assert "pallets__itsdangerous-1" in rows["at-base"]["detail"]
    # without a clone the order is unknown: the default drops every task of the repository
    step = Decontaminate(removed_folder=str(tmp_path / "removed2"), index_path=str(idx_path),
                         report_folder=str(tmp_path / "rep2"))
    assert [d.id for d in step.run(iter(docs), rank=0)] == ["other-repo", "file"]


def test_repo_names_normalize():
    assert normalize_repo("https://github.com/Pallets/ItsDangerous.git") == "pallets/itsdangerous"
    assert normalize_repo("pallets+itsdangerous") == "pallets/itsdangerous"


def test_from_config_builds_the_index_once_in_work(tmp_path):
    from types import SimpleNamespace

    from curation.layout import Layout

    _need_benchmarks()

    def ctx(cfg):
        return SimpleNamespace(config=SimpleNamespace(decontaminate=cfg), layout=Layout(tmp_path),
                               pipeline=SimpleNamespace(path=tmp_path / "p.yaml"))

    assert Decontaminate.from_config(ctx(DecontaminateConfig(enabled=False))) is None
    cfg = DecontaminateConfig(benchmarks_dir=str(BENCHMARKS), builtin=["cruxeval"], action="cut")
    step = Decontaminate.from_config(ctx(cfg))
    assert step.action == "cut" and Path(step.index_path) == tmp_path / "work" / "decontam_index.npz"
    assert not Path(step.index_path).exists(), "building the recipe has no side effects"
    step.prepare()  # the driver, before the run starts
    summary = step.index.summary()
    assert summary["items"] == {"cruxeval": 800}
    assert summary["raw_ngrams"] == np.unique(step.index.raw_keys).size > 1000
    assert summary["normalized_ngrams"] == np.unique(step.index.norm_keys).size > 1000
    assert len(pickle.dumps(step)) < 100_000  # tasks get the index path, not the loaded index
    missing = DecontaminateConfig(benchmarks_dir=str(tmp_path / "nowhere"), require_builtin=True)
    Path(step.index_path).unlink()
    with pytest.raises(BenchmarkUnavailable, match="nowhere: no such folder"):
        Decontaminate.from_config(ctx(missing)).prepare()
    absent = DecontaminateConfig(benchmarks_dir=str(tmp_path / "nowhere"))
    step = Decontaminate.from_config(ctx(absent))
    step.prepare()
    assert "absent" in step.index.summary()["notes"][0]


@pytest.mark.slow
def test_curate_run_drops_a_planted_solution_and_reports_it(tmp_path, items, telechat3):
    """Through the pipeline: a HumanEval solution planted inside a real file of a real repository
    is dropped to removed/decontaminate/ with the benchmark and item; decontamination.json counts it;
    the other files reach docs/."""
    import shutil

    import duckdb
    import yaml as yaml_pkg
    from conftest import ROOT, run_cli, write_config

    _need_benchmarks()
    repo = tmp_path / "repos" / "alpha"
    shutil.copytree(Path(yaml_pkg.__file__).parent, repo / "yaml", ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    item = next(i for i in items if i.benchmark == "humaneval" and len(i.fields.get("solution", "")) > 200)
    host = repo / "yaml" / "composer.py"
    text = host.read_text()
    cut = text.index("\nclass ")
    host.write_text(text[:cut] + "\n\n" + item.fields["prompt"] + item.fields["solution"] + text[cut:])
    cfg = write_config(tmp_path / "p.yaml", {
        "name": "decontam", "inputs": {"code": {"kind": "repos", "paths": [str(tmp_path / "repos")]}},
        "filters": str(ROOT / "filters" / "code.yaml"), "tokenizer": {"name_or_path": str(telechat3)},
        "decontaminate": {"benchmarks_dir": str(BENCHMARKS), "require_builtin": True},
        "pack": {"seq_len": 2048}, "executor": {"tasks": 2, "workers": 2}})
    out = tmp_path / "out"
    proc = run_cli("run", str(cfg), "--out", str(out))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    removed = duckdb.sql(f"SELECT path, reason, detail FROM '{out}/removed/decontaminate/*.parquet'").fetchall()
    assert [(r[0], r[1]) for r in removed] == [("yaml/composer.py", "benchmark:humaneval")]
    assert item.item_id in removed[0][2]
    report = json.loads((out / "decontamination.json").read_text())
    assert report["benchmarks"]["humaneval"]["documents"] == 1, report
    kept = duckdb.sql(f"SELECT count(*), sum(decontam_matches) FROM '{out}/docs/*.parquet'").fetchall()[0]
    assert kept[0] > 10 and kept[1] == 0


def test_the_index_is_built_once_per_content_and_cached(tmp_path, monkeypatch):
    """Same benchmarks, settings and code: the second run copies the cached index, byte for byte
    the one a build writes, without building. A changed setting builds; a broken cached file is
    rebuilt and replaced; CURATION_CACHE="" caches nothing."""
    _need_benchmarks()
    monkeypatch.setenv("CURATION_CACHE", str(tmp_path / "cache"))
    cfg = DecontaminateConfig(benchmarks_dir=str(BENCHMARKS), builtin=["humaneval", "mbpp"])
    first = prepare_index(cfg, tmp_path / "run1")
    [cached] = (tmp_path / "cache" / "decontam").glob("*.npz")
    assert cached.read_bytes() == first.read_bytes()

    def no_build(*args, **kwargs):
        raise AssertionError("built again")

    real_build = BenchmarkIndex.build
    monkeypatch.setattr(BenchmarkIndex, "build", no_build)
    second = prepare_index(cfg, tmp_path / "run2")
    assert second.read_bytes() == first.read_bytes()
    assert BenchmarkIndex.load(second).summary() == BenchmarkIndex.load(first).summary()
    with pytest.raises(AssertionError, match="built again"):
        prepare_index(cfg.model_copy(update={"n": 12}), tmp_path / "run3")  # another key
    monkeypatch.setattr(BenchmarkIndex, "build", real_build)

    cached.write_bytes(cached.read_bytes()[:1000])  # truncated: rebuilt, and the cache mended
    third = prepare_index(cfg, tmp_path / "run4")
    assert third.read_bytes() == first.read_bytes() == cached.read_bytes()

    monkeypatch.setenv("CURATION_CACHE", "")
    prepare_index(cfg.model_copy(update={"n": 12}), tmp_path / "run5")
    assert len(list((tmp_path / "cache" / "decontam").glob("*.npz"))) == 1
