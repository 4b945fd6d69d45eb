"""Scores reach docs/ through `curate run`, and a threshold in the pipeline YAML changes what is kept."""

from __future__ import annotations

import duckdb
import pytest
from conftest import ROOT, run_cli, write_config


def run(tmp, name, telechat3, thresholds):
    cfg = write_config(tmp / f"{name}.yaml", {
        "name": name,
        "inputs": {"code": {"kind": "installed", "names": ["pyyaml", "packaging", "rich"]}},
        "filters": str(ROOT / "filters" / "code.yaml"),
        "quality": {"heuristic": True, "thresholds": thresholds},
        "tokenizer": {"name_or_path": str(telechat3)},
        "executor": {"tasks": 2, "workers": 2},
    })
    out = tmp / name
    proc = run_cli("run", str(cfg), "--out", str(out))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory, telechat3):
    tmp = tmp_path_factory.mktemp("quality")
    return (run(tmp, "all", telechat3, {}),
            run(tmp, "good", telechat3, {"score_code_heuristic_v2": {"min": 0.75, "kinds": ["code"]}}))


def test_scores_are_columns_of_docs(runs):
    everything, _ = runs
    rows = duckdb.sql(f"SELECT count(*), min(score_code_heuristic_v2), max(score_code_heuristic_v2), "
                      f"count(signals_code_heuristic_v2) FROM '{everything}/docs/*.parquet' WHERE kind = 'code'"
                      ).fetchall()[0]
    n, low, high, with_signals = rows
    assert n > 50 and 0 <= low < 0.75 < high <= 1 and with_signals == n


def test_a_yaml_threshold_changes_what_is_kept(runs):
    everything, good = runs
    con = duckdb.connect()
    below = {r[0] for r in con.execute(f"SELECT id FROM '{everything}/docs/*.parquet' "
                                       "WHERE score_code_heuristic_v2 < 0.75").fetchall()}
    kept = {r[0] for r in con.execute(f"SELECT id FROM '{good}/docs/*.parquet'").fetchall()}
    removed = dict(con.execute(f"SELECT id, reason FROM '{good}/removed/quality/*.parquet'").fetchall())
    assert below and set(removed) == below and kept.isdisjoint(below)
    assert set(removed.values()) == {"score_code_heuristic_v2:below_min"}
