"""Quality scoring: heuristic scores on real code, fastText training and its determinism, the
scoring step, YAML thresholds, and the code-related text acceptance run (slow)."""

from __future__ import annotations

import importlib.util
import json
import os
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from curation.quality import heuristics
from curation.quality.fasttext_train import LabelledDoc, train_classifier

ROOT = Path(__file__).resolve().parents[1]
SITE = Path(yaml.__file__).resolve().parents[1]  # site-packages: real code on every machine


def _real(module: str) -> tuple[str, str]:
    path = Path(importlib.util.find_spec(module).origin)
    return path.read_text(), str(path)


def _strip_docs(text: str) -> str:
    text = re.sub(r'(?s)("""|\'\'\').*?\1', "pass", text)
    return "\n".join(line for line in text.splitlines() if not line.strip().startswith("#"))


def test_documented_file_scores_above_the_same_file_undocumented():
    text, path = _real("datatrove.pipeline.base")
    documented = heuristics.score_code(text, "python", path)
    bare = heuristics.score_code(_strip_docs(text), "python", path)
    assert documented.signals["doc_ratio"] > 0.5 and bare.signals["doc_ratio"] == 0.0
    assert documented.score > bare.score + 0.1


def test_test_files_are_flagged_by_path_and_content():
    text, _ = _real("datatrove.pipeline.base")
    assert heuristics.score_code(text, "python", "tests/test_base.py").signals["is_test"] == 1.0
    assert heuristics.score_code(text, "python", "src/base.py").signals["is_test"] == 0.0
    assert heuristics.is_test_file("pkg/handler_test.go", "")
    assert heuristics.is_test_file("src/FooTest.java", "")
    assert heuristics.is_test_file("lib/x.rs", "#[cfg(test)]\nmod tests {}\n")
    assert heuristics.score_code(text, "python", "tests/test_base.py").score < heuristics.score_code(text, "python", "base.py").score


def test_syntax_error_lowers_score():
    text, path = _real("datatrove.pipeline.base")
    broken = text.replace("def run(", "def run((", 1)
    assert "def run((" in broken
    good, bad = heuristics.score_code(text, "python", path), heuristics.score_code(broken, "python", path)
    assert good.signals["syntax_error"] == 0.0 and bad.signals["syntax_error"] == 1.0
    assert bad.score < good.score - 0.1


def test_c_and_cpp_get_no_syntax_verdict_but_other_grammars_do():
    """v2: tree-sitter judges C and C++ without a preprocessor, so they are not syntax-checked;
    the same broken braces in Java and Go still cost."""
    pytest.importorskip("tree_sitter_java")
    body = "int add(int a, int b) {\n  return a + b;\n}\n"
    broken = body.replace("{", "{{", 1)
    for lang in ("c", "cpp"):
        s = heuristics.score_code(broken * 5, lang)
        assert s.signals["syntax_checked"] == 0.0 and s.signals["syntax_error"] == 0.0
        assert s.score == heuristics.score_code(body * 5, lang).score
    java = "class A {\n  int add(int a, int b) {\n    return a + b;\n  }\n}\n" * 5
    s = heuristics.score_code(java.replace("{", "{{", 1), "java")
    assert s.signals["syntax_checked"] == 1.0 and s.signals["syntax_error"] == 1.0
    assert s.score < heuristics.score_code(java, "java").score
    assert heuristics.SCORE_KEY == "score_code_heuristic_v2"


def test_c_family_doc_comments_count():
    documented = "/** Adds two numbers. */\nint add(int a, int b) {\n  return a + b; // sum\n}\n" * 5
    bare = "int add(int a, int b) {\n  return a + b;\n}\n" * 5
    assert heuristics.score_code(documented, "c").signals["comment_ratio"] > 0.2
    assert heuristics.score_code(documented, "c").score > heuristics.score_code(bare, "c").score


def test_scores_real_site_packages_in_range():
    files = sorted(SITE.glob("yaml/*.py"))[:10]
    assert files
    for f in files:
        s = heuristics.score_code(f.read_text(), "python", str(f)).score
        assert 0.0 <= s <= 1.0


# -- fastText ------------------------------------------------------------------------------------

def _small_labelled() -> list[LabelledDoc]:
    """Code-related: installed distributions' descriptions (their READMEs); general: the license
    texts every Debian system ships. Small, real, offline."""
    from curation.quality.seeds import chunks

    docs = []
    for meta in sorted(SITE.glob("*.dist-info/METADATA")):
        body = meta.read_text(errors="replace").split("\n\n", 1)[-1]
        docs += [LabelledDoc(c, "code_related", meta.parent.name) for c in chunks(body, 1000)]
    licenses = Path("/usr/share/common-licenses")
    for f in sorted(p for p in licenses.glob("*") if p.is_file()):
        docs += [LabelledDoc(c, "general", f"{f.name}#{i // 5}") for i, c in enumerate(chunks(f.read_text(errors="replace"), 1000))]
    if sum(d.label == "general" for d in docs) < 50 or sum(d.label == "code_related" for d in docs) < 50:
        pytest.skip("too few installed READMEs or license texts on this machine")
    rng = random.Random(0)
    pos = [d for d in docs if d.label == "code_related"]
    neg = [d for d in docs if d.label == "general"]
    return rng.sample(pos, min(len(pos), 600)) + neg


def test_classifier_f1_on_held_out_split_and_determinism(tmp_path):
    docs = _small_labelled()
    _, first = train_classifier(docs, positive="code_related", seed=3, epochs=5, model_path=tmp_path / "a.bin")
    assert first.counts["test"]["code_related"] > 20 and first.counts["test"]["general"] > 10
    assert first.f1 >= 0.9, first.summary()
    # The same training in another process (another hash seed) gives the same bytes: thread=1 + seed.
    code = ("import sys; sys.path[:0] = [sys.argv[1]]; from test_quality import _small_labelled; "
            "from curation.quality.fasttext_train import train_classifier; "
            "print(train_classifier(_small_labelled(), positive='code_related', seed=3, epochs=5, "
            "model_path=sys.argv[2])[1].model_sha256)")
    out = subprocess.run([sys.executable, "-c", code, str(Path(__file__).parent), str(tmp_path / "b.bin")],
                         capture_output=True, text=True, check=True, env={**os.environ, "PYTHONHASHSEED": "99"}).stdout
    assert out.split()[-1] == first.model_sha256
    assert (tmp_path / "a.bin.json").exists()


def test_held_out_split_keeps_files_on_one_side():
    from curation.quality.fasttext_train import split_groups

    docs = [LabelledDoc(f"t{i}", "a" if i % 2 else "b", f"file{i % 7}") for i in range(200)]
    train, test = split_groups(docs, 0.3, seed=1)
    assert train and test
    by_side = {}
    for side, part in (("train", train), ("test", test)):
        for d in part:
            by_side.setdefault((d.label, d.group), set()).add(side)
    assert all(len(s) == 1 for s in by_side.values())


def test_word_ngrams_1_is_refused():
    with pytest.raises(ValueError, match="wordNgrams"):
        train_classifier([LabelledDoc("a b", "x"), LabelledDoc("c d", "y")], positive="x", wordNgrams=1)


# -- the step and YAML thresholds ----------------------------------------------------------------

def _code_docs():
    from datatrove.data import Document

    text, path = _real("datatrove.pipeline.base")
    return [
        Document(text=text, id="documented", metadata={"kind": "code", "lang": "python", "path": "base.py"}),
        Document(text=_strip_docs(text).replace("def run(", "def run((", 1), id="bare_broken",
                 metadata={"kind": "code", "lang": "python", "path": "tests/test_base.py"}),
        Document(text="Some prose about cats.", id="prose", metadata={"kind": "text"}),
    ]


def test_scorer_writes_versioned_scores_and_never_drops(tmp_path):
    from curation.quality.scorer import QualityScorer

    docs = list(QualityScorer(heuristic=True).run(iter(_code_docs())))
    assert [d.id for d in docs] == ["documented", "bare_broken", "prose"]
    assert docs[0].metadata["score_code_heuristic_v2"] > docs[1].metadata["score_code_heuristic_v2"]
    assert docs[1].metadata["signals_code_heuristic_v2"]["is_test"] == 1.0
    assert "score_code_heuristic_v2" not in docs[2].metadata


def test_yaml_threshold_changes_what_is_kept(tmp_path):
    from curation.config.quality import load_thresholds
    from curation.quality.scorer import QualityScorer
    from curation.quality.select import ScoreThresholdFilter

    def kept(yaml_text: str) -> list[str]:
        thresholds = load_thresholds(yaml.safe_load(yaml_text)["thresholds"])
        step = ScoreThresholdFilter(thresholds=thresholds, removed_folder=str(tmp_path / "removed"))
        scored = QualityScorer(heuristic=True).run(iter(_code_docs()))
        return [d.id for d in step.run(scored)]

    assert kept("thresholds: {score_code_heuristic_v2: {min: 0.1}}") == ["documented", "bare_broken", "prose"]
    assert kept("thresholds: {score_code_heuristic_v2: {min: 0.7}}") == ["documented", "prose"]
    assert kept("thresholds: {signals_code_heuristic_v2.is_test: {max: 0}}") == ["documented", "prose"]
    import pyarrow.parquet as pq

    removed = pq.read_table(tmp_path / "removed" / "quality" / "00000.parquet").to_pylist()
    assert [(r["id"], r["reason"]) for r in removed] == [("bare_broken", "signals_code_heuristic_v2.is_test:above_max")]


def test_bad_threshold_names_the_key():
    from curation.config.quality import load_thresholds
    from curation.schema import ConfigError

    with pytest.raises(ConfigError, match="score_x_v1"):
        load_thresholds({"score_x_v1": {"min": 0.9, "max": 0.1}}, "filters/q.yaml")


def test_fasttext_scores_in_step(tmp_path):
    from curation.quality.scorer import QualityScorer

    train_classifier(_small_labelled(), positive="code_related", seed=0, epochs=5, model_path=tmp_path / "ct.bin")
    from datatrove.data import Document

    docs = [Document(text="pip install requests; call requests.get(url) and read the response json", id="a",
                     metadata={"kind": "text"}),
            Document(text="Permission is hereby granted, free of charge, to any person obtaining a copy", id="b",
                     metadata={"kind": "text"})]
    out = list(QualityScorer({"code_text": str(tmp_path / "ct.bin")}, heuristic=False).run(iter(docs)))
    assert out[0].metadata["score_code_text_v1"] > 0.5 > out[1].metadata["score_code_text_v1"]


# -- slow: the acceptance run and language id ----------------------------------------------------

@pytest.fixture(scope="session")
def debian_prose() -> Path:
    from curation.quality.seeds import fetch_debian_prose

    if shutil.which("apt-get") is None:
        pytest.skip("apt-get is not available: cannot fetch Debian's prose packages")
    try:
        return fetch_debian_prose(ROOT / ".cache" / "debian-prose")
    except RuntimeError as err:
        pytest.skip(str(err))


@pytest.mark.slow
def test_code_related_classifier_acceptance(registry_corpus, debian_prose, tmp_path):
    from curation.cli import main

    out = tmp_path / "code_text.bin"
    assert main(["train-quality", "--positive", f"registry-docs:{registry_corpus}", "--negative",
                 f"debian-prose:{debian_prose.parent}", "--max-per-label", "1500", "--out", str(out)]) == 0
    import json

    report = json.loads((tmp_path / "code_text.bin.json").read_text())
    assert report["counts"]["test"]["code_related"] >= 200 and report["counts"]["test"]["general"] >= 200
    assert report["f1"] >= 0.9, report


@pytest.mark.slow
def test_language_id_with_lid176(tmp_path):
    from datatrove.data import Document

    from curation.langid import LanguageIdentifier, ensure_lid_model
    from curation.quality.scorer import QualityScorer

    try:
        model = ensure_lid_model()
    except RuntimeError as err:
        pytest.skip(f"lid.176.ftz unavailable: {err}")
    assert LanguageIdentifier(model).identify(["Das ist ein kleiner Satz über Katzen und Hunde."])[0][0] == "de"
    code = "# Cette fonction calcule la somme de deux nombres entiers positifs.\ndef f(a, b):\n    return a + b\n"
    docs = [Document(text="The quick brown fox jumps over the lazy dog.", id="t", metadata={"kind": "text"}),
            Document(text=code, id="c", metadata={"kind": "code", "lang": "python"})]
    out = list(QualityScorer(heuristic=False, langid=True, langid_comments=True, lid_model=str(model)).run(iter(docs)))
    assert out[0].metadata["nl_lang"] == "en" and out[1].metadata["comment_lang"] == "fr"


def test_python_syntax_check_matches_ast_parse_on_real_code():
    """symtable first, ast.parse on failure: the result is ast.parse's, on real files, on broken
    ones, and on code that parses but that symtable rejects (a scoping error)."""
    import ast
    import sysconfig

    from curation.quality.heuristics import syntax_check

    def reference(text):
        try:
            ast.parse(text)
            return False, 0.0
        except (SyntaxError, ValueError) as err:
            line = getattr(err, "lineno", None) or 1
            n = max(text.count("\n") + 1, 1)
            return True, (n - line + 1) / n

    root = Path(sysconfig.get_paths()["stdlib"])
    texts = [p.read_text(encoding="utf-8", errors="replace") for p in sorted(root.glob("*.py"))[:150]]
    texts += [t[: len(t) // 2] for t in texts[:40]]  # cut mid-file: many do not parse
    texts += ["nonlocal x\n", "def f(a, a):\n    pass\n", "x = 1\0\n", "return 1\n", "def f(:\n"]
    results = [syntax_check(t, "python") for t in texts]
    assert results == [reference(t) for t in texts]
    assert sum(r[0] for r in results) >= 5  # broken files were exercised
    assert syntax_check("nonlocal x\n", "python") == (False, 0.0)  # symtable rejects, ast.parse accepts


def test_comment_line_indexes_without_texts_are_those_with_texts():
    """The score asks `_comment_lines` for indexes only: the same lines, on real code of languages
    with line comments, block comments, docstrings, and none."""
    import sysconfig

    import rich

    root = Path(sysconfig.get_paths()["stdlib"])
    cases = [(p.read_text(encoding="utf-8", errors="replace"), "python") for p in sorted(root.glob("*.py"))[:60]]
    js = sorted(Path(rich.__file__).parents[1].rglob("*.js"))[:20]
    cases += [(p.read_text(encoding="utf-8", errors="replace"), "javascript") for p in js]
    cases += [(text, lang) for text, _ in cases[:10] for lang in ("c", "ruby", "sql", "gettext", None)]
    seen = 0
    for text, lang in cases:
        lines = text.splitlines()
        comments, with_texts = heuristics._comment_lines(lines, lang)
        assert heuristics._comment_lines(lines, lang, texts=False) == ([], with_texts)
        seen += len(with_texts)
    assert seen > 1000


def test_a_diverged_fasttext_training_is_run_again_at_half_the_learning_rate(tmp_path):
    """fastText raises "Encountered NaN" when its SGD diverges. The real fastText trains the retry
    (in its child process); the first call is made to diverge, as fastText reports it."""
    from curation.quality import fasttext_train

    calls = []

    def diverging(train_file, p, lr, model_file):
        calls.append(lr)
        if len(calls) == 1:
            raise RuntimeError("Encountered NaN.")
        fasttext_train._fit_in_child(train_file, p, lr, model_file)

    train = tmp_path / "train.txt"
    train.write_text("".join(f"__label__{'a' if i % 2 else 'b'} word{i % 2} common{i % 7} more text\n" for i in range(200)))
    params = fasttext_train.TrainParams(seed=1, test_fraction=0.2, epochs=2, lr=0.5, wordNgrams=2, dim=8, minCount=1)
    with pytest.warns(UserWarning, match="diverged at lr 0.5"):
        model, lr = fasttext_train._train_supervised(train, params, fit=diverging)
    assert calls == [0.5, 0.25] and lr == 0.25 and sorted(model.get_labels()) == ["__label__a", "__label__b"]

    def broken(train_file, p, lr, model_file):
        raise RuntimeError("Encountered NaN.")

    with pytest.warns(UserWarning), pytest.raises(RuntimeError, match="NaN"):
        fasttext_train._train_supervised(train, params, fit=broken)
    # a failure that is not divergence is not retried, and names the training file
    with pytest.raises(RuntimeError, match=r"train\.txt failed"):
        fasttext_train._train_supervised(train, fasttext_train.TrainParams(dim=-3), )


_DIRTY_HEAP = """
import ctypes, json, sys
libc = ctypes.CDLL("libc.so.6")
if sys.argv[1] == "dirty":  # what a long process can hand fastText: freed memory full of 0xFF (NaN as floats)
    libc.mallopt(-4, 0)  # M_MMAP_MAX: no fresh mappings, every buffer comes from the heap
    libc.mallopt(-1, 2**31 - 1)  # M_TRIM_THRESHOLD: freed heap stays in the process
    junk = bytearray(300 << 20)
    junk[:] = bytes([255]) * len(junk)
    del junk
{train}
"""


def test_fasttext_trains_the_same_model_whatever_the_callers_heap_holds(tmp_path):
    """fasttext-numpy2 leaves nine tenths of its input matrix uninitialised (see fasttext_train's
    docstring). In a process whose heap holds freed 0xFF bytes, training in-process fails with
    "Encountered NaN" at any learning rate; train_classifier trains in a child process, so the
    model is the same byte for byte as in a clean process."""
    rng = random.Random(3)
    vocab = [[f"{k}{i}" for i in range(400)] for k in ("alpha", "beta")]
    rows = [{"text": " ".join(rng.choice(vocab[i % 2]) for _ in range(40)), "label": "ab"[i % 2], "id": f"g{i % 50}"}
            for i in range(1000)]
    data = tmp_path / "rows.json"
    data.write_text(json.dumps(rows))

    def run(mode: str, train: str) -> subprocess.CompletedProcess:
        code = _DIRTY_HEAP.format(train=train)
        return subprocess.run([sys.executable, "-c", code, mode, str(data), str(tmp_path / mode)],
                              capture_output=True, text=True, cwd=ROOT)

    in_process = ("import fasttext\n"
                  "from curation.quality.fasttext_train import preprocess\n"
                  "rows = json.load(open(sys.argv[2]))\n"
                  "open(sys.argv[3] + '.txt', 'w').write(''.join(f\"__label__{r['label']} {preprocess(r['text'])}\\n\" for r in rows))\n"
                  "fasttext.train_supervised(input=sys.argv[3] + '.txt', seed=0, thread=1, epoch=2, lr=0.05, wordNgrams=2, "
                  "dim=64, minCount=1, bucket=200000, loss='softmax', verbose=0)\n")
    dirty = run("dirty", in_process)
    assert dirty.returncode != 0 and "Encountered NaN" in dirty.stderr, (dirty.returncode, dirty.stderr[-2000:])

    ours = ("from curation.quality.fasttext_train import LabelledDoc, train_classifier\n"
            "docs = [LabelledDoc(r['text'], r['label'], r['id']) for r in json.load(open(sys.argv[2]))]\n"
            "model, report = train_classifier(docs, positive='a', epochs=2, model_path=sys.argv[3] + '.bin')\n"
            "print(report.model_sha256, report.params['lr'], round(report.f1, 4))\n")
    clean, dirty = run("clean", ours), run("dirty", ours)
    assert clean.returncode == 0 and dirty.returncode == 0, (clean.stderr[-2000:], dirty.stderr[-2000:])
    assert clean.stdout == dirty.stdout and clean.stdout.split()[1] == "0.5", (clean.stdout, dirty.stdout)
    assert float(clean.stdout.split()[2]) > 0.9


def test_the_first_letter_lookaheads_change_no_verdict_on_real_code():
    """_DEFINITION and _TEST_CONTENT screen the first letter after the indentation; without the
    screen they must find the same lines (site-packages Python and JavaScript, the stdlib)."""
    import sysconfig

    import rich

    plain_def = re.compile(heuristics._DEFINITION.pattern.replace(f"(?=[{heuristics._FIRST_LETTERS}])", "", 1))
    plain_test = re.compile(heuristics._TEST_CONTENT.pattern.replace("(?=[#@dfiTt])", "", 1), re.M)
    assert plain_def.pattern != heuristics._DEFINITION.pattern and plain_test.pattern != heuristics._TEST_CONTENT.pattern
    files = sorted(Path(sysconfig.get_paths()["stdlib"]).glob("**/*.py"))[:400]
    files += sorted(Path(rich.__file__).parents[1].rglob("*.js"))[:200]
    lines = matched = tests = 0
    for f in files:
        text = f.read_text(encoding="utf-8", errors="replace")
        for line in text.splitlines():
            fast, slow = heuristics._DEFINITION.match(line), plain_def.match(line)
            assert bool(fast) == bool(slow), line
            lines += 1
            matched += bool(fast)
        assert bool(heuristics._TEST_CONTENT.search(text)) == bool(plain_test.search(text)), f
        tests += bool(plain_test.search(text))
    assert lines > 50_000 and matched > 1_000 and tests > 10
