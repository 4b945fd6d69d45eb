"""The dedup keep rule (license > stars > newer date > id) on real metadata: a Stack v2-style
Parquet input with licenses, stars and revision dates, and git repositories with commit dates."""

from __future__ import annotations

import json
import os
import random
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import run_cli, write_config

from curation.dedup.keep import (
    KEEP_ORDER_SQL,
    KeepCandidate,
    choose_kept,
    keep_order_key,
)
from curation.ingest.tables import iter_table_rows


def _real(module: str, name: str) -> str:
    """A real source file of an installed package."""
    import importlib

    return (Path(importlib.import_module(module).__file__).parent / name).read_text()


def _date(year: int) -> datetime:
    return datetime(year, 6, 1, 12, 0, 0)  # naive, as The Stack v2 stores it: UTC


def _edited(text: str, n: int) -> str:
    """A near copy: a few lines changed, as forks do (estimated Jaccard stays well above 0.7)."""
    lines = text.splitlines(keepends=True)
    for k in range(n):
        at = (k + 1) * len(lines) // (n + 2)
        lines[at] = f"# local change {k}\n" + lines[at]
    return "".join(lines)


# (repo, license list, stars, revision year, content key). The rule names the kept row of each cluster.
ROWS = [
    # exact E1: the copyleft and the unlicensed copies have more stars, the permissive ones win; then stars.
    ("org/e1-mit-10", ["MIT"], 10, 2020, "E1"),
    ("org/e1-gpl-10000", ["GPL-3.0-only"], 10_000, 2024, "E1"),
    ("org/e1-mit-500", ["MIT", "BSD-3-Clause"], 500, 2019, "E1"),  # kept: permissive, most stars
    ("org/e1-none-9000", [], 9_000, 2025, "E1"),
    # exact E2: equal license and stars, the newer revision wins; unknown stars rank last.
    ("org/e2-mit-old", ["MIT"], 50, 2018, "E2"),
    ("org/e2-mit-new", ["Apache-2.0"], 50, 2023, "E2"),  # kept: newer
    ("org/e2-mit-nostars", ["MIT"], None, 2025, "E2"),
    # exact E3: everything equal: the smallest id.
    ("org/e3-b", ["MIT"], 3, 2021, "E3"),
    ("org/e3-a", ["MIT"], 3, 2021, "E3"),  # kept: smallest id
    # near N1: variants of one file; license first, then stars.
    ("org/n1-mit-5", ["MIT"], 5, 2022, "N1a"),
    ("org/n1-mit-100", ["MIT"], 100, 2016, "N1b"),  # kept
    ("org/n1-none-1000", [], 1_000, 2024, "N1c"),
    # near N2: equal stars; newer date wins, an unknown date ranks last.
    ("org/n2-2021", ["MIT"], 7, 2021, "N2a"),
    ("org/n2-2022", ["MIT"], 7, 2022, "N2b"),  # kept
    ("org/n2-nodate", ["MIT"], 7, None, "N2c"),
    # unique files
    ("org/u1", ["MIT"], 1, 2020, "U1"),
    ("org/u2", [], None, None, "U2"),
]
EXPECTED_KEPT = {"E1": "org/e1-mit-500", "E2": "org/e2-mit-new", "E3": "org/e3-a",
                 "N1": "org/n1-mit-100", "N2": "org/n2-2022"}


def stack_table() -> pa.Table:
    contents = {
        "E1": _real("yaml", "scanner.py"), "E2": _real("yaml", "parser.py"), "E3": _real("yaml", "emitter.py"),
        "N1a": _real("json", "decoder.py"), "N1b": _edited(_real("json", "decoder.py"), 1),
        "N1c": _edited(_real("json", "decoder.py"), 2),
        "N2a": _real("json", "encoder.py"), "N2b": _edited(_real("json", "encoder.py"), 1),
        "N2c": _edited(_real("json", "encoder.py"), 2),
        "U1": _real("yaml", "representer.py"), "U2": _real("json", "scanner.py"),
    }
    paths = {"E1": "src/scanner.py", "E2": "src/parser.py", "E3": "src/emitter.py", "N1a": "lib/decoder.py",
             "N1b": "lib/decoder.py", "N1c": "lib/decoder.py", "N2a": "lib/encoder.py", "N2b": "lib/encoder.py",
             "N2c": "lib/encoder.py", "U1": "representer.py", "U2": "scanner.py"}
    return pa.table({
        # The Stack v2 column names (a subset), with its types
        "blob_id": pa.array([f"{i:040x}" for i in range(len(ROWS))]),
        "path": pa.array([paths[r[4]] for r in ROWS]),
        "repo_name": pa.array([r[0] for r in ROWS]),
        "revision_id": pa.array([f"{i + 1:040x}" for i in range(len(ROWS))]),
        "detected_licenses": pa.array([r[1] for r in ROWS], pa.list_(pa.string())),
        "license_type": pa.array(["permissive" if r[1] else "no_license" for r in ROWS]),
        "star_events_count": pa.array([r[2] for r in ROWS], pa.int64()),
        "revision_date": pa.array([_date(r[3]) if r[3] else None for r in ROWS], pa.timestamp("us")),
        "committer_date": pa.array([_date(2000) for _ in ROWS], pa.timestamp("us")),  # revision_date comes first
        "content": pa.array([contents[r[4]] for r in ROWS]),
    })


def git_repo(path: Path, files: dict[str, str], when: datetime) -> None:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("GIT_")},
           "GIT_AUTHOR_DATE": "2001-01-01T00:00:00+00:00",  # the committer date counts, not this
           "GIT_COMMITTER_DATE": when.isoformat(), "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org"}
    path.mkdir(parents=True)
    for name, text in files.items():
        (path / name).write_text(text)
    for args in (["init", "-q"], ["add", "."], ["commit", "-q", "-m", "import"]):
        subprocess.run(["git", *args], cwd=path, env=env, check=True)


@pytest.fixture(scope="module")
def keep_run(tmp_path_factory, telechat3):
    tmp = tmp_path_factory.mktemp("keep")
    pq.write_table(stack_table(), tmp / "stack.parquet", row_group_size=5)
    shared = _real("yaml", "constructor.py")
    new, old = datetime(2024, 3, 1, tzinfo=timezone.utc), datetime(2019, 3, 1, tzinfo=timezone.utc)
    git_repo(tmp / "git" / "aaa-old", {"constructor.py": shared, "extra.py": _real("yaml", "resolver.py")}, old)
    git_repo(tmp / "git" / "zzz-new", {"constructor.py": shared}, new)
    cfg = write_config(tmp / "keep.yaml", {
        "name": "keep",
        "inputs": {
            # content, path and repo as The Stack v2 names them; license, rev, stars and date unmapped:
            # read from the v2 columns by default.
            "stack": {"kind": "stack", "paths": [str(tmp / "stack.parquet")],
                      "columns": {"content": "content", "path": "path", "repo": "repo_name"}},
            "git": {"kind": "repos", "paths": [str(tmp / "git")], "layout": "collection"},
        },
        "dedup": {"exact": True, "near": {"threshold": 0.7}},
        "tokenizer": {"name_or_path": str(telechat3)},
        "mixture": None,
        "pack": {"seq_len": 2048, "rows_per_shard": 64},
        "executor": {"tasks": 2, "workers": 1},
    })
    out = tmp / "out"
    proc = run_cli("run", str(cfg), "--out", str(out))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return tmp, out, {"new": new, "old": old}


def _repo_of(doc_id: str) -> str:
    return doc_id.split("@")[0]


def test_stack_columns_are_read_by_default(keep_run):
    tmp, out, _ = keep_run
    rows = {r[0]: r[1:] for r in duckdb.sql(
        f"SELECT repo, license, license_class, stars, date, rev FROM '{out}/docs/*.parquet' WHERE source = 'stack'"
    ).fetchall()}
    assert rows["org/e1-mit-500"][:3] == ("BSD-3-Clause AND MIT", "permissive", 500)
    assert rows["org/e1-mit-500"][3] == datetime(2019, 6, 1, 12, tzinfo=timezone.utc)
    assert rows["org/e1-mit-500"][4] == f"{3:040x}"  # revision_id
    assert rows["org/u2"][:4] == (None, "none", None, None)


def test_exact_duplicates_keep_the_copy_the_rule_names(keep_run):
    _, out, _ = keep_run
    removed = duckdb.sql(f"SELECT id, kept_id FROM '{out}/removed/exact_dedup/*.parquet'").fetchall()
    kept_by_cluster = {}
    for doc_id, kept in removed:
        cluster = next(r[4] for r in ROWS if r[0] == _repo_of(doc_id)) if _repo_of(doc_id) != "aaa-old" else "G"
        kept_by_cluster.setdefault(cluster, set()).add(_repo_of(kept))
    assert kept_by_cluster == {"E1": {EXPECTED_KEPT["E1"]}, "E2": {EXPECTED_KEPT["E2"]},
                               "E3": {EXPECTED_KEPT["E3"]}, "G": {"zzz-new"}}
    assert len(removed) == 3 + 2 + 1 + 1


def test_near_duplicates_keep_the_copy_the_rule_names(keep_run):
    _, out, _ = keep_run
    removed = duckdb.sql(f"SELECT id, kept_id, similarity FROM '{out}/removed/near_dup/*.parquet' ORDER BY id").fetchall()
    got = {_repo_of(i): _repo_of(k) for i, k, _ in removed}
    assert got == {"org/n1-mit-5": "org/n1-mit-100", "org/n1-none-1000": "org/n1-mit-100",
                   "org/n2-2021": "org/n2-2022", "org/n2-nodate": "org/n2-2022"}
    assert all(s >= 0.7 for _, _, s in removed)


def test_git_inputs_take_the_commit_date(keep_run):
    _, out, dates = keep_run
    rows = dict(duckdb.sql(f"SELECT repo, max(date) FROM '{out}/docs/*.parquet' WHERE source = 'git' GROUP BY repo"
                           ).fetchall())
    assert rows == {"aaa-old": dates["old"], "zzz-new": dates["new"]}


def test_sql_and_python_rules_agree():
    """KEEP_ORDER_SQL and keep_order_key order the same rows the same way, ties and nulls included."""
    rng = random.Random(7)
    base = datetime(2020, 1, 1, tzinfo=timezone.utc)
    people = [KeepCandidate(id=f"d{rng.randrange(1000):03d}-{i}", license_class=rng.choice(
        ["permissive", "none", "copyleft", "other", None]), stars=rng.choice([None, 0, 5, 5, 100]),
        date=rng.choice([None, base, base + timedelta(days=3)])) for i in range(400)]
    con = duckdb.connect()
    con.execute("CREATE TABLE t (id VARCHAR, license_class VARCHAR, stars BIGINT, date TIMESTAMPTZ)")
    con.executemany("INSERT INTO t VALUES (?, ?, ?, ?)", [(p.id, p.license_class, p.stars, p.date) for p in people])
    sql_order = [r[0] for r in con.execute(f"SELECT id FROM t ORDER BY {KEEP_ORDER_SQL}").fetchall()]
    assert sql_order == [p.id for p in sorted(people, key=keep_order_key)]
    assert choose_kept(people).id == sql_order[0]


def test_bad_metadata_is_a_recorded_row_error(tmp_path):
    table = pa.table({"content": ["x = 1\n"] * 3, "path": ["a.py", "b.py", "c.py"], "repo": ["r1", "r2", "r3"],
                      "star_events_count": pa.array([-1, 2, 3]), "revision_date": ["2020-01-01", "soon", None]})
    pq.write_table(table, tmp_path / "t.parquet")
    rows = list(iter_table_rows(tmp_path / "t.parquet", columns={"content": "content", "path": "path",
                                                                 "repo": "repo"}))
    assert [r.get("error") for r in rows] == ["stars: -1 is not a non-negative integer",
                                              "date: 'soon' is not an ISO 8601 date", None]
    assert rows[2]["stars"] == 3 and rows[2]["date"] is None
    (tmp_path / "t.jsonl").write_text(json.dumps({"content": "y = 2\n", "path": "d.py", "repo_name": "r4",
                                                  "max_stars_count": 9, "revision_date": "2021-02-03T04:05:06Z"}))
    (row,) = iter_table_rows(tmp_path / "t.jsonl", columns={"content": "content", "path": "path"})
    assert (row["repo"], row["stars"], row["date"]) == ("r4", 9, datetime(2021, 2, 3, 4, 5, 6, tzinfo=timezone.utc))
