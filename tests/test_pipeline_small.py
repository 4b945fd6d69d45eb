"""`curate run` end to end on a small collection of real repositories, with the real tokenizer."""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
from pathlib import Path

import duckdb
import pytest
from checks import accounted_ids, check_shards, expected_ids_of_collection
from conftest import ROOT, run_cli, write_config
from datatrove.pipeline.base import PipelineStep

from curation.layout import Layout
from curation.pipeline import execute
from curation.recipe import Run
from curation.steps import Described


def make_collection(root: Path) -> Path:
    """Three repositories of real code (yaml's and json's sources) plus the files a tokenizer and a
    filter must get right."""
    import json as json_pkg

    import yaml as yaml_pkg

    repos = root / "repos"
    alpha, beta, gamma = repos / "alpha", repos / "beta", repos / "gamma"
    shutil.copytree(Path(yaml_pkg.__file__).parent, alpha / "yaml", ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    shutil.copytree(Path(json_pkg.__file__).parent, beta / "json", ignore=shutil.ignore_patterns("__pycache__"))
    (alpha / "LICENSE").write_text(
        "MIT License\n\nPermission is hereby granted, free of charge, to any person obtaining a copy of this "
        "software and associated documentation files (the \"Software\"), to deal in the Software without "
        "restriction, including without limitation the rights to use, copy, modify, merge, publish, distribute, "
        "sublicense, and/or sell copies of the Software, and to permit persons to whom the Software is furnished "
        "to do so, subject to the following conditions:\n\nThe above copyright notice and this permission notice "
        "shall be included in all copies or substantial portions of the Software.\n\nTHE SOFTWARE IS PROVIDED "
        "\"AS IS\", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED.\n")
    gamma.mkdir(parents=True)
    (gamma / "leading_space.py").write_text("    indented = True\n\tprint(indented)\n")
    (gamma / "newline_first.py").write_text("\n\n\nimport os\nprint(os.sep)\n")
    (gamma / "special_text.py").write_text('END = "<_end>"\nCALL = "<tool_call>{}</tool_call>"\nprint(END, CALL)\n')
    (gamma / "__dunder__.py").write_text("__all__ = ['x']\nx = 1\n")
    (gamma / "copy_of_scanner.py").write_text((alpha / "yaml" / "scanner.py").read_text())  # exact duplicate
    (gamma / "node_modules" / "left-pad").mkdir(parents=True)
    (gamma / "node_modules" / "left-pad" / "index.js").write_text("module.exports = function () {};\n")
    (gamma / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    (gamma / "latin1.py").write_bytes("name = 'caf\xe9'\n".encode("latin-1"))
    (gamma / "huge_line.js").write_text("var x = [" + ",".join(["1234567"] * 2000) + "];\n")
    return repos


@pytest.fixture(scope="module")
def small_run(tmp_path_factory, telechat3):
    tmp = tmp_path_factory.mktemp("small")
    repos = make_collection(tmp)
    cfg = write_config(tmp / "small.yaml", {
        "name": "small", "inputs": {"code": {"kind": "repos", "paths": [str(repos)], "layout": "collection"}},
        "filters": str(ROOT / "filters" / "code.yaml"),
        "tokenizer": {"name_or_path": str(telechat3)},
        "pack": {"seq_len": 1024, "rows_per_shard": 64},
        "executor": {"tasks": 2, "workers": 2},
    })
    out = tmp / "out"
    proc = run_cli("run", str(cfg), "--out", str(out))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return repos, cfg, out, proc


def test_every_file_is_kept_or_removed_with_a_reason(small_run):
    repos, _, out, _ = small_run
    kept, removed, by_reason = accounted_ids(out)
    expected = expected_ids_of_collection(repos)
    assert kept.isdisjoint(removed)
    assert kept | removed == expected
    assert by_reason["ingest/vendored:node_modules"] == 1
    assert by_reason["ingest/binary:extension"] >= 1
    assert by_reason["ingest/undecodable"] == 1
    assert by_reason["exact_dedup/exact_duplicate"] == 1
    assert any(k.startswith("filter/") for k in by_reason), by_reason


def test_exact_duplicate_points_at_the_copy_kept(small_run):
    _, _, out, _ = small_run
    row = duckdb.sql(f"SELECT id, kept_id, similarity FROM '{out}/removed/exact_dedup/*.parquet'").fetchall()
    # gamma has no license, alpha is MIT: the permissive copy survives whatever the ids say.
    assert row == [("gamma@worktree:copy_of_scanner.py", "alpha@worktree:yaml/scanner.py", 1.0)]


def test_metadata_columns(small_run):
    _, _, out, _ = small_run
    rows = duckdb.sql(f"SELECT repo, path, lang, license, size_bytes, unit FROM '{out}/docs/*.parquet' "
                      "WHERE path IN ('yaml/scanner.py', 'special_text.py') ORDER BY repo").fetchall()
    assert rows[0][:4] == ("alpha", "yaml/scanner.py", "python", "MIT") and rows[0][5] == "file"
    assert rows[1][:4] == ("gamma", "special_text.py", "python", None)


def test_shards_hold_exactly_the_kept_documents(small_run, telechat3):
    _, _, out, _ = small_run
    index = check_shards(out, telechat3)
    assert index["seq_len"] == 1024 and index["tokenizer"]["vocab_size"] == 131072
    assert index["realized"] == {"code": index["totals"]["tokens_out"]}


def test_summary_and_inspect(small_run):
    _, _, out, proc = small_run
    assert "Files per step" in proc.stdout and "Drops by reason" in proc.stdout
    assert "exact_duplicate" in proc.stdout and "Shards:" in proc.stdout
    q = run_cli("inspect", str(out), "--sql", "SELECT count(*) AS n FROM docs WHERE lang = 'python'")
    assert q.returncode == 0 and q.stdout.splitlines()[0].strip() == "n"
    assert int(q.stdout.splitlines()[2].replace(",", "")) > 20
    s = run_cli("inspect", str(out))
    assert s.returncode == 0 and "Tokens per source" in s.stdout


def test_rerun_skips_finished_tasks_and_changes_nothing(small_run):
    _, cfg, out, _ = small_run
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (out / "shards").iterdir()}
    proc = run_cli("run", str(cfg), "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "[ingest] 2/2 tasks already done; running 0" in proc.stdout
    after = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (out / "shards").iterdir()}
    assert before == after


def test_a_different_config_refuses_the_same_out(small_run):
    _, cfg, out, _ = small_run
    proc = run_cli("run", str(cfg), "--out", str(out), "--set", "pack.seq_len=2048")
    assert proc.returncode == 2 and "holds a run of a different config" in proc.stderr


def test_syntax_signals_and_the_option_to_drop_unparsable_files(tmp_path, telechat3):
    repo = tmp_path / "repos" / "r"
    repo.mkdir(parents=True)
    good = "def ok(x):\n    return x + 1\n\n\nprint(ok(1))\n"
    (repo / "good.py").write_text(good)
    (repo / "broken.py").write_text(good.replace("def ok(x):", "def ok(x:") + "if (:\n    pass\n")
    (repo / "main.go").write_text("package main\n\nimport \"fmt\"\n\nfunc main() {\n\tfmt.Println(1)\n}\n")
    base = {"name": "syn", "inputs": {"code": {"kind": "repos", "paths": [str(repo)], "layout": "repo"}},
            "filters": str(ROOT / "filters" / "code.yaml"), "tokenizer": {"name_or_path": str(telechat3)},
            "pack": {"seq_len": 256}, "executor": {"tasks": 1, "workers": 1}}
    flag = write_config(tmp_path / "flag.yaml", {**base, "assemble": {"unit": "file", "syntax_signals": True}})
    assert run_cli("run", str(flag), "--out", str(tmp_path / "flag")).returncode == 0
    rows = dict(duckdb.sql(f"SELECT path, has_syntax_error FROM '{tmp_path}/flag/docs/*.parquet'").fetchall())
    assert rows == {"good.py": False, "broken.py": True, "main.go": False}
    drop = write_config(tmp_path / "drop.yaml", {**base, "assemble": {"unit": "file", "syntax_signals": True,
                                                                      "drop_syntax_errors": True}})
    assert run_cli("run", str(drop), "--out", str(tmp_path / "drop")).returncode == 0
    removed = duckdb.sql(f"SELECT id, reason FROM '{tmp_path}/drop/removed/syntax/*.parquet'").fetchall()
    assert removed == [("r@worktree:broken.py", "syntax_error")]


def test_progress_files_count_what_each_stage_read(small_run):
    """Each task of ingest and tokenize left its progress: documents read, against the totals."""
    import json

    _, _, out, _ = small_run
    ingest = [json.loads(p.read_text()) for p in sorted((out / "logs" / "ingest" / "progress").glob("*.json"))]
    tokenize = [json.loads(p.read_text()) for p in sorted((out / "logs" / "tokenize" / "progress").glob("*.json"))]
    assert len(ingest) == len(tokenize) == 2 and all(s["done"] for s in ingest + tokenize)
    # The tokenize tasks read the row ranges the driver's split plan gave them: all rows, once.
    plan = json.loads((out / "work" / "tokenize_split.json").read_text())
    planned = {rank: sum(end - start for _, start, end in ranges) for rank, ranges in enumerate(plan["slices"])}
    assert {s["rank"]: s["docs"] for s in tokenize} == planned
    filtered = duckdb.sql(f"SELECT count(*) FROM '{out}/work/filtered/*.parquet'").fetchall()[0][0]
    assert sum(planned.values()) == filtered
    assert all(s["total_bytes"] == s["bytes"] for s in tokenize)  # the tokenize run read its whole input
    assert all(s["total_bytes"] >= s["bytes"] > 0 for s in ingest)  # drops are read but never pass


def test_status_shows_progress_and_the_printer_writes_plain_lines(small_run, monkeypatch):
    import io
    import json
    import time

    from curation import progress

    _, _, out, _ = small_run
    proc = run_cli("status", str(out), "--json")
    stages = {s["name"]: s for s in json.loads(proc.stdout)["stages"]}
    assert stages["tokenize"]["progress"]["docs"] > 0 and stages["tokenize"]["progress"]["done"] == 2
    monkeypatch.setattr(progress, "PLAIN_EVERY_S", 0.05)
    stream = io.StringIO()  # not a terminal: plain lines
    with progress.ProgressPrinter("tokenize", out / "logs" / "tokenize", 2, stream=stream):
        time.sleep(0.3)
    lines = stream.getvalue().splitlines()
    assert lines and lines[0].startswith("[tokenize] ") and "MB/s" in lines[0] and "\r" not in stream.getvalue()


def test_forkserver_preload_names_importable_modules():
    """multiprocess ignores a preload module that fails to import: a typo would silently bring back
    the per-task imports. The preload must also hold every step of the recipe."""
    import importlib

    from curation import recipe
    from curation.forkserver import FORKSERVER_PRELOAD

    modules = [importlib.import_module(name) for name in FORKSERVER_PRELOAD]
    assert recipe in modules


def test_curate_run_starts_the_forkserver_early_only_for_local_runs_on_several_workers(tmp_path):
    """`curate run` starts the forkserver before its imports when the config file and the command
    line say tasks run locally on more than one worker, with --set and the flags applied as
    curation.load applies them; when it cannot tell, it leaves the start to the run."""
    import subprocess
    import sys

    from curation.forkserver import run_needs_forkserver

    stage1 = ROOT / "pipelines" / "stage1_8k.yaml"
    assert run_needs_forkserver(stage1, [])  # local, 2 workers
    assert not run_needs_forkserver(stage1, [], executor="slurm")
    assert not run_needs_forkserver(stage1, ["executor.kind=ray"])
    assert run_needs_forkserver(stage1, ["executor.kind=ray", "executor.kind=local"])  # the last wins
    assert not run_needs_forkserver(stage1, [], workers=1)
    assert not run_needs_forkserver(stage1, ["executor.workers=1"])
    assert run_needs_forkserver(stage1, ["executor.workers=1"], workers=3)  # the flag over --set
    assert not run_needs_forkserver(stage1, ["executor={kind: local}"])
    slurm = write_config(tmp_path / "slurm.yaml", {"name": "x", "executor": {"kind": "slurm", "workers": 8}})
    assert not run_needs_forkserver(slurm, [])
    assert run_needs_forkserver(slurm, [], executor="local")
    assert run_needs_forkserver(write_config(tmp_path / "bare.yaml", {"name": "x"}), [])  # default: 2 workers
    assert not run_needs_forkserver(tmp_path / "missing.yaml", [])
    (tmp_path / "bad.yaml").write_text("executor: [unclosed\n")
    assert not run_needs_forkserver(tmp_path / "bad.yaml", [])
    assert not run_needs_forkserver(write_config(tmp_path / "odd.yaml", {"executor": {"workers": "many"}}), [])
    # A config error still reads as before, with the forkserver started ahead of it.
    proc = subprocess.run([sys.executable, "-m", "curation.cli", "run", str(tmp_path / "bare.yaml"),
                           "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "error:" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


def test_forkserver_warm_loads_the_kernel_and_grammars_the_driver_does_not():
    """`curation.warm` (in the preload) leaves the decontamination kernel compiled for the argument
    types every scan uses and the grammars loaded; the driver's own import of the recipe does not
    load numba at all."""
    import subprocess
    import sys

    from curation.forkserver import FORKSERVER_PRELOAD

    assert "curation.warm" in FORKSERVER_PRELOAD
    probe = (
        "import sys, curation.recipe; assert 'numba' not in sys.modules, 'the recipe imports numba'\n"
        "import curation.warm\n"
        "from curation.decontam import kernel; from curation.repo import parsing\n"
        "sigs = list(kernel.scan.signatures); assert len(sigs) == 1, sigs\n"
        "from curation.decontam.index import SHIFT, BenchmarkIndex; import numpy as np\n"
        "from curation.decontam.scan import scan\n"
        "scan('def f(): pass', 13, 8, np.zeros(1 << 12, np.uint8), SHIFT)\n"
        "assert list(kernel.scan.signatures) == sigs, 'a real scan needed another compile'\n"
        "assert {'python', 'c', 'cpp', 'java'} <= set(parsing._languages), parsing._languages\n"
    )
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_tasks_start_heaviest_first(tmp_path):
    """The local executor starts the task with the largest input file first; steps that do not
    know their task's work leave the rank order alone."""
    from curation.executors import heaviest_first
    from curation.steps import DocSink, DocSource

    for rank, size in ((0, 10), (1, 300), (2, 20), (3, 300)):
        (tmp_path / f"{rank:05d}.parquet").write_bytes(b"x" * size)
    assert heaviest_first([0, 1, 2, 3], [DocSource(tmp_path)]) == [1, 3, 2, 0]
    assert heaviest_first([0, 1, 2, 3], [DocSink(tmp_path)]) == [0, 1, 2, 3]


def test_ingest_tasks_start_heaviest_first(tmp_path):
    """Ingest tasks weigh the repositories the driver assigned them: the task holding the one large
    repository starts first (it ran last, alone, when tasks started in rank order)."""
    from curation.config.inputs import RepoInput
    from curation.config.pipeline import IngestConfig
    from curation.executors import heaviest_first
    from curation.ingest.reader import IngestReader

    src = Path(__file__).resolve().parents[1] / "curation"
    repos = tmp_path / "repos"
    for name, files in (("big", sorted(src.rglob("*.py"))[:60]), ("small1", [src / "io.py"]),
                        ("small2", [src / "layout.py"]), ("small3", [src / "steps.py"])):
        (repos / name).mkdir(parents=True)
        for f in files:
            (repos / name / f"{f.parent.name}_{f.name}").write_bytes(f.read_bytes())
    reader = IngestReader(inputs={"code": RepoInput(kind="repos", paths=[str(repos)], layout="collection")},
                          ingest=IngestConfig(), removed_folder=str(tmp_path / "removed"),
                          assignment_path=str(tmp_path / "work" / "ingest_assignment.json"), tasks=4)
    (tmp_path / "work").mkdir()
    assert heaviest_first([0, 1, 2, 3], [reader]) == [0, 1, 2, 3]  # nothing planned yet: rank order
    reader.prepare()
    assignment = json.loads((tmp_path / "work" / "ingest_assignment.json").read_text())["code"]
    big = next(rank for rank, names in enumerate(assignment) if names == ["big"])
    order = heaviest_first([0, 1, 2, 3], [reader])
    assert order[0] == big and sorted(order) == [0, 1, 2, 3]


def test_ingest_assignment_plans_for_the_workers_that_run_the_tasks(tmp_path):
    """4 tasks on 2 workers, one repository of 45 in 156 (the registry corpus's django): equal tasks
    leave one worker idle at the end; the plan for 2 workers ends when the work is shared evenly."""
    from curation.ingest.reader import _lpt, _makespan, assign_repos

    class Repo:
        def __init__(self, name, cost):
            self.name, self.cost = name, cost

        def cost_hint(self):
            return self.cost

    repos = [Repo("big", 45)] + [Repo(f"r{k:02d}", c) for k, c in enumerate([14, 13, 12, 11, 10, 9, 9, 8, 7, 6, 5, 4, 3])]
    total = sum(r.cost for r in repos)
    def loads(plan):
        return [sum(r.cost for r in task) for task in plan]
    equal = _lpt(repos, 4)
    assert loads(equal) == [45, 39, 36, 36] and _makespan(loads(equal), 2) == 81  # 45 + 36 against 39 + 36
    plan = assign_repos(repos, 4, workers=2)
    assert total == 156 and _makespan(loads(plan), 2) == 79  # 78 at best
    assert sorted(r.name for task in plan for r in task) == sorted(r.name for r in repos)
    assert all(task == sorted(task, key=lambda r: r.name) for task in plan)
    # as many workers as tasks, or no worker count: the equal tasks of plain LPT
    for workers in (4, 8, None):
        assert [[r.name for r in t] for t in assign_repos(repos, 4, workers)] == \
               [sorted(r.name for r in t) for t in equal]


def test_a_repository_costs_its_bytes_and_a_share_per_file(tmp_path):
    from curation.ingest.sources import FILE_COST_BYTES, discover_repos

    for name, n in (("many", 50), ("few", 1)):
        (tmp_path / name).mkdir()
        for k in range(n):
            (tmp_path / name / f"f{k}.py").write_text("x" * (5000 // n))
    repos = {r.name: r for r in discover_repos(tmp_path, layout="collection")}
    assert repos["many"].size_hint() == repos["few"].size_hint() == 5000
    assert repos["many"].cost_hint() - repos["few"].cost_hint() == 49 * FILE_COST_BYTES


# Module state, not step attributes: the executor deep-copies the steps of every task.
_AHEAD = {"ready": threading.Event(), "seen": [], "fail": False}


class _Waits(Described, PipelineStep):
    """A first-stage step whose task blocks until a later stage's early prepare has run."""

    name = "waits"

    def run(self, data=None, rank=0, world_size=1):
        if not _AHEAD["ready"].wait(30):
            raise TimeoutError("the later stage's prepare() did not run while this stage ran")
        _AHEAD["seen"].append(("first stage ran", rank))
        yield from data or []


class _Ahead(Described, PipelineStep):
    name = "ahead"
    prepare_ahead = True

    def prepare(self):
        _AHEAD["seen"].append(("prepare", threading.current_thread().name.split("_")[0]))
        if _AHEAD["fail"]:
            raise FileNotFoundError("benchmarks: no such folder")
        _AHEAD["ready"].set()

    def run(self, data=None, rank=0, world_size=1):
        _AHEAD["seen"].append(("second stage ran", rank))
        yield from data or []


def test_a_later_stage_prepares_while_the_first_stage_runs_and_its_error_stops_the_run_there(tmp_path):
    """`prepare_ahead` steps (the decontamination index) prepare on a driver thread during the earlier
    stages: the first stage's task (run in the driver: one worker) only finishes once that happened.
    Its error is raised when its own stage starts: the earlier stage is complete, the later one never
    ran."""
    seen = _AHEAD["seen"]
    _AHEAD["ready"].clear()
    seen.clear()
    layout = Layout(tmp_path / "out")
    execute([Run("first", 1, 1, [_Waits()]), Run("second", 1, 1, [_Ahead()])], layout, progress=lambda _line: None)
    assert seen == [("prepare", "prepare-ahead"), ("first stage ran", 0), ("prepare", "MainThread"),
                    ("second stage ran", 0)], seen

    seen.clear()
    _AHEAD["fail"] = True  # the ready event stays set: nothing waits, the failing prepare raises
    layout = Layout(tmp_path / "failing")
    try:
        with pytest.raises(FileNotFoundError, match="benchmarks: no such folder"):
            execute([Run("first", 1, 1, [_Waits()]), Run("second", 1, 1, [_Ahead()])], layout,
                    progress=lambda _line: None)
    finally:
        _AHEAD["fail"] = False
    assert ("first stage ran", 0) in seen and ("second stage ran", 0) not in seen, seen
    assert (layout.logs / "first" / "completions" / "00000").exists()
    assert not (layout.logs / "second" / "completions").exists()
