"""The other input kinds end to end: Stack-style tables, general text, git repositories at a revision."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import ROOT, run_cli, write_config


def real_python_files(limit: int) -> list[tuple[str, str]]:
    import pydantic

    root = Path(pydantic.__file__).parent
    files = sorted(root.rglob("*.py"))[:limit]
    return [(str(p.relative_to(root.parent)), p.read_text()) for p in files]


@pytest.fixture(scope="module")
def mixed_run(tmp_path_factory, telechat3):
    tmp = tmp_path_factory.mktemp("inputs")
    files = real_python_files(60)
    # Stack-style: the same schema names as the-stack (max_stars_repo_*), six repositories.
    rows = [{"content": text, "max_stars_repo_path": path, "max_stars_repo_name": f"org/repo{i % 6}",
             "license": "MIT" if i % 2 else "GPL-3.0"} for i, (path, text) in enumerate(files)]
    pq.write_table(pa.Table.from_pylist(rows), tmp / "stack.parquet", row_group_size=10)
    text = tmp / "text"
    text.mkdir()
    with open(text / "a.jsonl", "w") as fh:
        for i in range(20):
            fh.write(json.dumps({"id": f"t{i}", "text": f"Paragraph {i}: how to read a file in Python. " * 5}) + "\n")
        fh.write("{not json\n")
        fh.write(json.dumps({"id": "t-no-text", "body": "x"}) + "\n")
    repo = tmp / "gitrepo"
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / "main.py").write_text("def main():\n    return 'committed'\n\n\nif __name__ == '__main__':\n    main()\n")
    subprocess.run(git + ["add", "."], check=True)
    subprocess.run(git + ["commit", "-qm", "one"], check=True)
    (repo / "main.py").write_text("def main():\n    return 'edited, not committed'\n")
    (repo / "junk.py").write_text("untracked = True\n")
    cfg = write_config(tmp / "mixed.yaml", {
        "name": "mixed",
        "inputs": {
            "stack": {"kind": "stack", "paths": [str(tmp / "stack.parquet")],
                      "columns": {"content": "content", "path": "max_stars_repo_path",
                                  "repo": "max_stars_repo_name", "license": "license"}},
            "web": {"kind": "jsonl", "paths": [str(text)]},
            "git": {"kind": "repos", "paths": [str(repo)], "rev": "HEAD"},
        },
        "filters": str(ROOT / "filters" / "code.yaml"),
        "tokenizer": {"name_or_path": str(telechat3)},
        "pack": {"seq_len": 2048}, "executor": {"tasks": 3, "workers": 1},
    })
    out = tmp / "out"
    proc = run_cli("run", str(cfg), "--out", str(out))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out, files


def test_stack_rows_become_documents_and_repos_stay_whole(mixed_run):
    out, files = mixed_run
    con = duckdb.connect()
    n = con.execute(f"SELECT count(*) FROM '{out}/docs/*.parquet' WHERE source = 'stack'").fetchone()[0]
    dropped = con.execute(f"SELECT count(*) FROM read_parquet('{out}/removed/*/*.parquet', union_by_name=true) "
                          "WHERE source = 'stack'").fetchone()[0]
    assert n + dropped == len(files) and n > 40
    tasks = con.execute(f"SELECT repo, count(DISTINCT task) FROM '{out}/docs/*.parquet' WHERE source = 'stack' "
                        "GROUP BY repo").fetchall()
    assert len(tasks) == 6 and all(t == 1 for _, t in tasks)
    lic = con.execute(f"SELECT DISTINCT license, license_class FROM '{out}/docs/*.parquet' WHERE source = 'stack' "
                      "ORDER BY 1").fetchall()
    assert lic == [("GPL-3.0", "copyleft"), ("MIT", "permissive")]


def test_text_is_tagged_with_its_source_and_bad_lines_are_recorded(mixed_run):
    out, _ = mixed_run
    con = duckdb.connect()
    rows = con.execute(f"SELECT id, kind FROM '{out}/docs/*.parquet' WHERE source = 'web' ORDER BY id").fetchall()
    assert len(rows) == 20 and {k for _, k in rows} == {"text"}
    bad = con.execute(f"SELECT reason FROM read_parquet('{out}/removed/*/*.parquet', union_by_name=true) "
                      "WHERE source = 'web' ORDER BY reason").fetchall()
    assert bad == [("malformed_row",), ("no_text",)]


def test_git_input_reads_the_committed_revision_only(mixed_run):
    out, _ = mixed_run
    rows = duckdb.sql(f"SELECT path, text, rev FROM '{out}/docs/*.parquet' WHERE source = 'git'").fetchall()
    assert [r[0] for r in rows] == ["main.py"] and "'committed'" in rows[0][1]
    assert len(rows[0][2]) == 40  # the commit sha, not "HEAD"


def test_every_source_is_in_the_shards(mixed_run):
    out, _ = mixed_run
    index = json.loads((out / "shards" / "index.json").read_text())
    assert set(index["realized"]) == {"stack", "web", "git"} and all(v > 0 for v in index["realized"].values())
