"""Bad input gets a recorded drop with a reason (or a clear error); the run completes for the rest,
and nothing is written outside OUT."""

from __future__ import annotations

import io
import os
import random
import string
import subprocess
import tarfile
from pathlib import Path

import duckdb
import pytest
from conftest import ROOT, run_cli, write_config

GOOD = 'def greet(name):\n    """Say hello."""\n    return f"hello {name}"\n\n\nprint(greet("world"))\n'


def tar_gz(entries: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def words(rng: random.Random) -> str:
    return " ".join("".join(rng.choices(string.ascii_lowercase, k=rng.randint(2, 9))) for _ in range(8))


def tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.fixture(scope="module")
def bad_run(tmp_path_factory, telechat3):
    tmp = tmp_path_factory.mktemp("bad")
    inputs = tmp / "inputs"
    (inputs / "good").mkdir(parents=True)
    (inputs / "good" / "hello.py").write_text(GOOD)
    # an archive cut in half: the members before the cut are read, the rest is a recorded drop
    # random text so that gzip cannot shrink it and the cut lands in the middle of the members
    rng = random.Random(0)
    real = tar_gz([(f"pkg/mod{i}.py", (GOOD + "".join(f"# {words(rng)}\n" for _ in range(60))).encode())
                   for i in range(8)])
    (inputs / "broken.tar.gz").write_bytes(real[: len(real) // 2])
    (inputs / "evil.tar.gz").write_bytes(tar_gz([("evil/../../escaped.py", b"x = 1\n"), ("/abs.py", b"y = 2\n"),
                                                 ("ok.py", GOOD.replace("world", "archive").encode())]))
    (inputs / "loop").mkdir()
    (inputs / "loop" / "main.py").write_text(GOOD.replace("world", "loop"))
    os.symlink(".", inputs / "loop" / "again")
    (inputs / "big").mkdir()
    with open(inputs / "big" / "huge.py", "wb") as fh:
        fh.truncate(2**30)  # sparse: 1 GB on paper, nothing on disk
    (inputs / "latin").mkdir()
    (inputs / "latin" / "cafe.py").write_bytes("name = 'caf\xe9'\nprint(name)\n".encode("latin-1"))
    (inputs / "empty").mkdir()
    subprocess.run(["git", "init", "-q", str(inputs / "empty")], check=True)
    cfg = write_config(tmp / "bad.yaml", {
        "name": "bad", "inputs": {"code": {"kind": "repos", "paths": [str(inputs)], "layout": "collection"}},
        "filters": str(ROOT / "filters" / "code.yaml"),
        "tokenizer": {"name_or_path": str(telechat3)},
        "pack": {"seq_len": 256}, "executor": {"tasks": 2, "workers": 1},
    })
    out = tmp / "out"
    before = tree(tmp)
    proc = run_cli("run", str(cfg), "--out", str(out))
    return tmp, out, proc, before


def test_run_completes(bad_run):
    _, _, proc, _ = bad_run
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def test_each_problem_is_a_recorded_drop(bad_run):
    _, out, _, _ = bad_run
    rows = duckdb.sql(f"SELECT id, reason, detail FROM '{out}/removed/ingest/*.parquet' ORDER BY id").fetchall()
    reasons = {r[0]: r[1] for r in rows}
    assert reasons["big@worktree:huge.py"] == "too_large"
    assert reasons["latin@worktree:cafe.py"] == "undecodable"
    assert reasons["loop@worktree:again"] == "symlink"
    assert [r for r in rows if r[1] == "corrupt_archive" and r[0].startswith("broken@")], rows
    unsafe = [r for r in rows if r[0].startswith("evil@") and r[1] == "unsafe_path"]
    assert len(unsafe) == 2, rows
    assert [r for r in rows if r[0].startswith("empty@") and r[1] == "empty_repository"], rows
    detail = {r[0]: r[2] for r in rows}
    assert "1073741824" in detail["big@worktree:huge.py"]


def test_the_rest_is_kept(bad_run):
    _, out, _, _ = bad_run
    kept = {r[0] for r in duckdb.sql(f"SELECT id FROM '{out}/docs/*.parquet'").fetchall()}
    assert "good@worktree:hello.py" in kept and "loop@worktree:main.py" in kept
    assert any(k.startswith("evil@") and k.endswith(":ok.py") for k in kept)
    broken = sorted(k for k in kept if k.startswith("broken@"))
    assert 0 < len(broken) < 8, "members before the cut are kept"


def test_nothing_is_written_outside_out(bad_run):
    tmp, out, _, before = bad_run
    new = tree(tmp) - before
    outside = [p for p in new if not (tmp / p).resolve().is_relative_to(out.resolve())]
    assert outside == []
    assert not list(tmp.parent.rglob("escaped.py")) and not Path("/abs.py").exists()


def test_a_corrupt_task_output_is_redone_on_rerun(bad_run, telechat3):
    tmp, out, _, _ = bad_run
    victim = out / "work" / "filtered" / "00001.parquet"
    original = victim.read_bytes()
    victim.write_bytes(b"not parquet")
    proc = run_cli("run", str(tmp / "bad.yaml"), "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "[ingest] task 1 was marked done but" in proc.stdout and "unreadable" in proc.stdout
    assert victim.read_bytes() == original
