"""`python -m curation.report OUT` on a small real run: the page renders in headless Chromium
without errors, shows every section and a planted `<script>` as text; every number of
report.json is the answer of an independent DuckDB query over OUT."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from chromium import Page, chromium_binary
from conftest import ROOT, run_cli, write_config
from test_pipeline_small import make_collection

PLANTED = 'document.write("<script>alert(1)</script>");\n'
SECTION_IDS = ["overview", "funnel", "drops", "examples", "languages", "sources", "lengths", "packing", "dedup",
               "decontamination", "redaction", "stages"]


def _near_copy(text: str) -> str:
    lines = text.splitlines(keepends=True)
    lines.insert(len(lines) // 2, "# a fork's local change\n")
    return "".join(lines)


@pytest.fixture(scope="module")
def report_run(tmp_path_factory, telechat3):
    tmp = tmp_path_factory.mktemp("report")
    repos = make_collection(tmp)
    gamma = repos / "gamma"
    (gamma / "node_modules" / "evil").mkdir(parents=True)
    (gamma / "node_modules" / "evil" / "index.js").write_text(PLANTED)  # vendored: dropped with its text
    (gamma / "fork_of_parser.py").write_text(_near_copy((repos / "alpha" / "yaml" / "parser.py").read_text()))
    cfg = write_config(tmp / "report.yaml", {
        "name": "report-test", "inputs": {"code": {"kind": "repos", "paths": [str(repos)], "layout": "collection"}},
        "filters": str(ROOT / "filters" / "code.yaml"),
        "dedup": {"exact": True, "near": {"threshold": 0.7}},
        "tokenizer": {"name_or_path": str(telechat3)},
        "pack": {"seq_len": 1024, "rows_per_shard": 64},
        "executor": {"tasks": 2, "workers": 2},
    })
    out = tmp / "out"
    proc = run_cli("run", str(cfg), "--out", str(out))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for name in ("report.json", "report.html"):  # the run's report, its early figures drawn ahead
        shutil.copy(out / name, tmp / f"run_{name}")
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "curation.report", str(out)], capture_output=True, text=True,
                          cwd=ROOT, timeout=600)
    seconds = time.perf_counter() - started
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == [str(out / "report.html"), str(out / "report.json")]
    print(f"\nreport written in {seconds:.2f}s ({(out / 'report.html').stat().st_size:,} bytes of HTML)")
    return out


def test_report_renders_in_chromium(report_run):
    if chromium_binary() is None:
        pytest.skip("chromium is not installed (Debian: apt-get install -y chromium)")
    out = report_run
    html = (out / "report.html").read_text()
    # self-contained: nothing is fetched (images are data URIs, no script, no link to anything)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//|file:)""", html, re.I)
    assert "<script" not in html.replace("&lt;script", "")
    started = time.perf_counter()
    with Page() as page:
        page.open((out / "report.html").as_uri())
        loaded = time.perf_counter() - started
        sections = page.evaluate("[...document.querySelectorAll('body > section')].map(s => s.id)")
        filled = page.evaluate("[...document.querySelectorAll('body > section')]"
                               ".every(s => s.querySelector('h2') && s.children.length > 1)")
        scripts = page.evaluate("document.scripts.length")
        examples = page.evaluate("document.getElementById('examples').textContent")
        images = page.evaluate("[...document.images].map(i => [i.src.slice(0, 22), i.complete && i.naturalWidth > 0])")
        shot = Path(os.environ.get("CURATION_REPORT_SCREENSHOT", out / "report.png"))
        page.screenshot(shot)
        errors = page.errors()
    print(f"\nchromium: loaded in {loaded:.2f}s, with screenshot {time.perf_counter() - started:.2f}s -> {shot}")
    assert errors == []
    assert sections == SECTION_IDS and filled
    assert scripts == 0
    assert PLANTED.strip() in examples  # shown as text, escaped
    assert images and all(src == "data:image/png;base64," and ok for src, ok in images), images
    assert shot.stat().st_size > 10_000


# -- every number of report.json, recomputed ------------------------------------------------------


def _q(con, sql: str) -> list[dict]:
    cur = con.execute(sql)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]


def _plain(value):
    """Values as JSON holds them (what report.json is compared in)."""
    return json.loads(json.dumps(value, default=lambda v: v.isoformat() if hasattr(v, "isoformat") else float(v)))


def _same(got, want, path="report"):
    if isinstance(want, dict):
        assert isinstance(got, dict) and set(got) == set(want), f"{path}: keys {sorted(got)} != {sorted(want)}"
        for k in want:
            _same(got[k], want[k], f"{path}.{k}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), f"{path}: {len(got)} rows != {len(want)}"
        for i, (g, w) in enumerate(zip(got, want)):
            _same(g, w, f"{path}[{i}]")
    elif isinstance(want, float) or isinstance(got, float):
        assert got is not None and want is not None and math.isclose(got, want, rel_tol=1e-9), f"{path}: {got} != {want}"
    else:
        assert got == want, f"{path}: {got!r} != {want!r}"


def _log2_hist(con, values: str) -> list[dict]:
    return _q(con, f"""
        SELECT CAST(CASE WHEN v >= 1 THEN pow(2, floor(log2(v))) ELSE 0 END AS BIGINT) AS lo,
               CAST(CASE WHEN v >= 1 THEN pow(2, floor(log2(v)) + 1) ELSE 1 END AS BIGINT) AS hi, count(*) AS count
        FROM ({values}) GROUP BY 1, 2 ORDER BY 1""")


def expected_report(out: Path) -> dict:
    con = duckdb.connect()
    o = str(out)
    for view, glob in (("docs", "docs/*.parquet"), ("removed", "removed/*/*.parquet"), ("tokens", "tokens/*/*.parquet"),
                       ("shards", "shards/*.parquet"), ("exact", "dedup/exact/*.parquet"),
                       ("near", "dedup/near/removals/*.parquet")):
        con.execute(f"CREATE VIEW {view} AS SELECT * FROM read_parquet('{o}/{glob}', union_by_name=true)")
    con.execute(f"CREATE VIEW idx AS SELECT json AS j FROM read_json_objects('{o}/shards/index.json')")
    con.execute(f"CREATE VIEW plan AS SELECT unnest(sources, recursive := true) FROM read_json_auto('{o}/plan.json')")
    want = {"out": str(out.resolve()), "generated_by": report_field(out, "generated_by")}
    want["overview"] = _q(con, f"""
        SELECT r.name AS pipeline, (j->>'stage')::INT AS stage, (j->>'seq_len')::INT AS seq_len,
               j->'tokenizer'->>'name' AS tokenizer, (j->'tokenizer'->>'vocab_size')::INT AS vocab_size,
               j->>'code_version' AS code_version, json_array_length(j->'shards') AS shard_files,
               (j->'totals'->>'tokens_in')::BIGINT AS tokens_in, (j->'totals'->>'tokens_out')::BIGINT AS tokens_out,
               (j->'totals'->>'padding')::BIGINT AS padding, (j->'totals'->>'rows')::BIGINT AS rows,
               (j->'totals'->>'documents')::BIGINT AS documents
        FROM idx, read_json_auto('{o}/run.json') r""")[0]
    # The funnel of this run: in = out + dropped, walking back from docs/ in the order the steps run.
    want["funnel"] = _q(con, """
        WITH steps(step, pos) AS (VALUES ('ingest', 1), ('filter', 2), ('exact_dedup', 3), ('near_dup', 4)),
        dropped AS (SELECT step, count(*) AS n, sum(coalesce(size_bytes, 0)) AS b FROM removed GROUP BY step),
        kept AS (SELECT count(*) AS n, sum(size_bytes) AS b FROM docs),
        walk AS (
            SELECT s.step, s.pos, coalesce(d.n, 0) AS n, coalesce(d.b, 0) AS b,
                   kept.n + coalesce(sum(d.n) OVER later, 0) AS docs_out, kept.b + coalesce(sum(d.b) OVER later, 0) AS bytes_out
            FROM steps s LEFT JOIN dropped d USING (step), kept
            WINDOW later AS (ORDER BY s.pos DESC ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
        )
        SELECT step, docs_out + n AS documents_in, docs_out AS documents_out, n AS documents_dropped,
               bytes_out + b AS bytes_in, bytes_out, b AS bytes_dropped FROM walk ORDER BY pos""")
    want["drops"] = _q(con, """SELECT step, reason, count(*) AS documents, sum(coalesce(size_bytes, 0)) AS bytes
                               FROM removed GROUP BY ALL ORDER BY step, documents DESC, reason""")
    want["examples"] = _q(con, """
        SELECT step, reason, id, repo, path, detail, kept_id, similarity, substr(text, 1, 600) AS text,
               length(text) AS text_chars
        FROM (SELECT *, row_number() OVER (PARTITION BY step, reason ORDER BY id) AS k FROM removed)
        WHERE k <= 3 ORDER BY step, reason, id""")
    want["languages"] = _q(con, """
        WITH b AS (SELECT coalesce(lang, 'unknown') AS lang, count(*) AS n, sum(coalesce(size_bytes, 0)) AS s FROM
                   (SELECT lang, size_bytes FROM removed UNION ALL SELECT lang, size_bytes FROM docs) GROUP BY 1),
             a AS (SELECT coalesce(lang, 'unknown') AS lang, count(*) AS n, sum(size_bytes) AS s FROM docs GROUP BY 1),
             t AS (SELECT coalesce(lang, 'unknown') AS lang, sum(n_tokens) AS tokens FROM tokens GROUP BY 1)
        SELECT b.lang, b.n AS documents_before, b.s AS bytes_before, coalesce(a.n, 0) AS documents_after,
               coalesce(a.s, 0) AS bytes_after, coalesce(t.tokens, 0) AS tokens
        FROM b LEFT JOIN a USING (lang) LEFT JOIN t USING (lang) ORDER BY documents_before DESC, lang""")
    want["sources"] = _q(con, """
        WITH r AS (SELECT k AS source, (j->'realized'->>k)::BIGINT AS tokens FROM idx, unnest(json_keys(j->'realized')) t(k))
        SELECT source, p."group", p.asked_share, p.share AS planned_share, p.available_tokens, p.target_tokens,
               p.epochs, coalesce(r.tokens, 0) AS realized_tokens, r.tokens / sum(r.tokens) OVER () AS realized_share
        FROM r FULL JOIN plan p USING (source) ORDER BY source""")
    want["lengths"] = {
        "document_bytes": _log2_hist(con, "SELECT size_bytes AS v FROM docs"),
        "document_tokens": _log2_hist(con, "SELECT n_tokens AS v FROM tokens"),
        "segment_tokens": _log2_hist(con, """
            SELECT cu_seqlens[k + 1] - cu_seqlens[k] AS v
            FROM shards, unnest(generate_series(1, len(doc_ids))) AS g(k) WHERE doc_ids[k] <> ''"""),
    }
    rows = """SELECT len(input_ids) AS n, len(input_ids) - CASE WHEN list_last(doc_ids) = ''
                     THEN list_last(cu_seqlens) - cu_seqlens[len(cu_seqlens) - 1] ELSE 0 END AS real,
                     len(list_filter(doc_ids, lambda d: d <> '')) AS segments FROM shards"""
    want["packing"] = _q(con, f"""SELECT count(*) AS rows, sum(real) AS tokens, sum(n - real) AS padding,
                                  sum(real) / sum(n) AS fill, avg(segments) AS segments_per_row FROM ({rows})""")[0]
    want["packing"]["row_fill"] = _q(con, f"""SELECT CAST(least(floor(10 * real / n), 9) AS INT) / 10 AS lo,
                                             count(*) AS count FROM ({rows}) GROUP BY 1 ORDER BY 1""")

    def clusters(view):
        sizes = _q(con, f"""SELECT size, count(*) AS clusters FROM (SELECT count(*) + 1 AS size FROM {view}
                            GROUP BY kept_id) GROUP BY size ORDER BY size""")
        fig = {"removed": con.execute(f"SELECT count(*) FROM {view}").fetchone()[0],
               "clusters": con.execute(f"SELECT count(DISTINCT kept_id) FROM {view}").fetchone()[0], "sizes": sizes}
        if view == "near":
            fig["similarity"] = _q(con, """SELECT floor(20 * similarity) / 20 AS lo, count(*) AS count
                                           FROM near GROUP BY 1 ORDER BY 1""")
        return fig

    want["dedup"] = {"exact": clusters("exact"), "near": clusters("near"), "near_repo": None}
    # decontamination.json as the step wrote it, read by DuckDB's own JSON reader
    want["decontamination"] = json.loads(con.execute(
        f"SELECT json::VARCHAR FROM read_json_objects('{o}/decontamination.json')").fetchone()[0])
    want["redaction"] = _q(con, " UNION ALL ".join(  # redaction is on by default: one int64 column per type
        f"""SELECT '{c}' AS "column", NULL AS key, coalesce(sum({c}), 0) AS count,
                   count(*) FILTER (WHERE {c} > 0) AS documents FROM docs""" for c in REDACTED) + " ORDER BY 1")
    jobs = _q(con, f"""
        SELECT regexp_extract(filename, 'logs/([^/]+)/job.json', 1) AS stage, kind, tasks, started, finished,
               finished - started AS wall_seconds
        FROM read_json_auto('{o}/logs/*/job.json', filename = true, union_by_name = true) ORDER BY started""")
    for job in jobs:
        steps = _q(con, f"""
            SELECT regexp_replace(json->>'name', '^.*?: ', '') AS step, (json->'time_stats'->>'total')::DOUBLE AS seconds
            FROM read_json_objects('{o}/stats/{job['stage']}.json', format = 'array')
            WHERE json_type(json->'time_stats') = 'OBJECT'""")  # a step that tracked no time has time_stats 0
        peak = con.execute(f"""
            SELECT max(coalesce((json->'stats'->'peak_rss_bytes'->>'max')::DOUBLE,
                                (json->'stats'->'peak_rss_bytes'->>'total')::DOUBLE))
            FROM read_json_objects('{o}/stats/{job['stage']}.json', format = 'array')""").fetchone()[0]
        assert peak and peak > 10 * 2**20, f"{job['stage']}: PeakMemory ends every run"
        job.update(peak_rss_bytes=peak, steps=steps)
    want["stages"] = jobs
    return _plain(want)


def report_field(out: Path, key: str):
    return json.loads((out / "report.json").read_text())[key]


REDACTED = ["redacted_email", "redacted_ip_address", "redacted_key", "redacted_password", "redacted_private_key"]


def test_every_number_is_a_duckdb_query(report_run):
    got = json.loads((report_run / "report.json").read_text())
    want = expected_report(report_run)
    _same(got, want)
    # the planted drop and the near copy are in it, so the figures are about this run
    assert any(x["text"] == PLANTED for x in got["examples"])
    assert got["dedup"]["near"]["removed"] >= 1 and got["dedup"]["exact"]["removed"] == 1


def test_missing_outputs_are_reported_as_absent(tmp_path, report_run):
    """A run that stopped after ingest: no docs, shards, plan or stats; the report says so."""
    partial = tmp_path / "partial"
    shutil.copytree(report_run / "removed", partial / "removed")
    proc = subprocess.run([sys.executable, "-m", "curation.report", str(partial)], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads((partial / "report.json").read_text())
    assert report["packing"] is None and report["sources"] == [] and report["stages"] == []
    assert report["funnel"][0]["documents_out"] == sum(r["documents_dropped"] for r in report["funnel"][1:])
    html = (partial / "report.html").read_text()
    assert all(f'<section id="{s}">' in html for s in SECTION_IDS)
    bad = subprocess.run([sys.executable, "-m", "curation.report", str(tmp_path / "nope")], capture_output=True,
                         text=True, cwd=ROOT, timeout=60)
    assert bad.returncode == 2 and "not an output folder" in bad.stderr


def test_decontamination_and_redaction_when_present(tmp_path):
    """The figures of steps this run lacks: decontamination.json as written, redaction counts from
    docs/ columns (a map placeholder type -> count, or an integer), rendered escaped."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = tmp_path / "out"
    (out / "docs").mkdir(parents=True)
    pq.write_table(pa.table({
        "id": ["a", "b", "c"], "lang": ["python", "go", "python"], "size_bytes": [10, 20, 30], "unit": ["file"] * 3,
        "redactions": pa.array([[("<KEY>", 2), ("<EMAIL>", 1)], [], [("<EMAIL>", 4)]],
                               pa.map_(pa.string(), pa.int64())),
        "redacted_secrets": pa.array([3, 0, 4], pa.int64()),
    }), out / "docs" / "00000.parquet")
    decont = {"benchmarks": {"humaneval<x>": {"items_matched": 3, "documents": 2, "tokens_removed": 140,
                                              "examples": ["a"]}}}
    (out / "decontamination.json").write_text(json.dumps(decont))
    proc = subprocess.run([sys.executable, "-m", "curation.report", str(out)], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads((out / "report.json").read_text())
    assert report["decontamination"] == decont
    assert report["redaction"] == [
        {"column": "redacted_secrets", "key": None, "count": 7, "documents": 2},
        {"column": "redactions", "key": "<EMAIL>", "count": 5, "documents": 2},
        {"column": "redactions", "key": "<KEY>", "count": 2, "documents": 1},
    ]
    html = (out / "report.html").read_text()
    assert "humaneval&lt;x&gt;" in html and "&lt;EMAIL&gt;" in html and "<EMAIL>" not in html


@pytest.mark.slow
def test_the_demos_report_renders_in_chromium(tmp_path, telechat3):
    """`curate demo` writes its report at the end; the page renders with no console error, every
    section is there and filled (the demo redacts and decontaminates), and a screenshot is saved."""
    if chromium_binary() is None:
        pytest.skip("chromium is not installed (Debian: apt-get install -y chromium)")
    out = tmp_path / "demo"
    proc = run_cli("demo", "--out", str(out), "--tokenizer", str(telechat3))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert f"report: {out / 'report.html'}" in proc.stdout
    with Page() as page:
        page.open((out / "report.html").as_uri())
        sections = page.evaluate("[...document.querySelectorAll('body > section')].map(s => s.id)")
        filled = page.evaluate("[...document.querySelectorAll('body > section')]"
                               ".every(s => s.querySelector('h2') && s.children.length > 1)")
        page.screenshot(out / "report.png")
        errors = page.errors()
    assert errors == [] and sections == SECTION_IDS and filled
    assert (out / "report.png").stat().st_size > 10_000
    report = json.loads((out / "report.json").read_text())
    assert report["decontamination"] is not None and report["redaction"], "the demo runs both steps"


def test_the_report_a_run_draws_ahead_is_the_report_drawn_afterwards(report_run):
    """`curate run` computes the figures of docs/, removed/, tokens/ and dedup/ on a thread while
    scatter and pack run; `curate report` afterwards computes everything in order: same bytes."""
    for name in ("report.json", "report.html"):
        assert (report_run.parent / f"run_{name}").read_bytes() == (report_run / name).read_bytes(), name


def test_the_early_figures_start_after_the_last_run_writing_their_inputs(report_run, telechat3):
    from curation.layout import Layout
    from curation.load import load_pipeline
    from curation.recipe import StepContext, recipe
    from curation.report.build import EARLY, ReportAhead

    pipeline = load_pipeline(ROOT / "pipelines" / "stage1_8k.yaml", check_inputs=False)
    layout = Layout(report_run)
    runs = recipe(StepContext(pipeline=pipeline, layout=layout, tokenizer_path=str(telechat3), tokenizer_name="t"))
    ahead = ReportAhead(layout, runs)
    assert [r.name for r in runs][ahead.last:] == ["tokenize", "scatter", "pack"]
    for index in range(ahead.last):
        ahead.after_run(index)
    assert ahead.result() is None  # not started before its inputs are final
    ahead.after_run(ahead.last)
    figures, bodies = ahead.result()
    report = json.loads((report_run / "report.json").read_text())
    assert set(figures) == set(bodies) == set(EARLY)
    assert figures == {k: report[k] for k in EARLY}


def test_the_early_figures_never_read_the_shards_pack_is_writing(report_run, tmp_path):
    """They run while pack writes shards/: a half-written shard (a killed pack task's) must not
    reach them; the same figures as the finished report."""
    from curation.report.build import EARLY, early_figures

    out = tmp_path / "out"
    shutil.copytree(report_run, out)
    (out / "shards" / "part-09999-00000.parquet").write_bytes(b"half a parquet file")
    figures, _ = early_figures(out)
    report = json.loads((report_run / "report.json").read_text())
    assert figures == {k: report[k] for k in EARLY}
