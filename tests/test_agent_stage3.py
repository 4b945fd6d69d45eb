"""Stage 3 as shipped (pipelines/stage3_128k.yaml) with its default agent_trajectories input (SWE-agent's
demonstrations in ../shared/agent/swe-agent) and two real repositories of the registry corpus:
`curate run` end to end; agent_trajectories realizes its share of the mixture within 0.5 points;
the loader's batches carry each trajectory's loss mask, exactly as rendered from its docs/ row."""

from __future__ import annotations

import json
import subprocess
from collections import Counter

import duckdb
import pyarrow.parquet as pq
import pytest
from conftest import ROOT, SHARED, run_cli
from datatrove.data import Document

from curation.agent.tokens import TrajectoryEncoder
from curation.loader import ShardLoader
from curation.tokenize.tokenizer import load_tokenizer

pytestmark = pytest.mark.slow

TRAJ_DIR = SHARED / "agent" / "swe-agent"
# small enough that 2 epochs of the shared trajectories cover their share (it is not capped)
REPOS = ("pypi/click-8.5.1", "pypi/requests-2.34.2")


@pytest.fixture(scope="module")
def stage3(registry_corpus, telechat3, tmp_path_factory):
    if not list(TRAJ_DIR.glob("*.traj")):
        pytest.skip(f"no SWE-agent trajectories at {TRAJ_DIR} (../shared/agent/swe-agent)")
    bundles = sorted((SHARED / "git").glob("*.bundle"), key=lambda b: b.stat().st_size)
    if not bundles:
        pytest.skip(f"no git bundles at {SHARED / 'git'} (swe_tasks mines one)")
    out = tmp_path_factory.mktemp("stage3_agent") / "out"
    clones = tmp_path_factory.mktemp("clones")
    subprocess.run(["git", "clone", "-q", str(bundles[0]), str(clones / bundles[0].stem)], check=True)
    paths = "[" + ", ".join(str(registry_corpus / r) for r in REPOS) + "]"
    proc = run_cli("run", str(ROOT / "pipelines" / "stage3_128k.yaml"), "--out", str(out),
                   "--set", f"inputs.repos.paths={paths}", "--set", "inputs.repos.layout=repo",
                   "--set", f"inputs.swe_tasks.paths=[{clones}]",
                   "--set", f"tokenizer.name_or_path={telechat3}", "--set", "executor.tasks=2")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out


def test_agent_trajectories_realize_their_share(stage3):
    plan = {s["source"]: s for s in json.loads((stage3 / "plan.json").read_text())["sources"]}
    index = json.loads((stage3 / "shards" / "index.json").read_text())
    agent = plan["agent_trajectories"]
    assert agent["asked_share"] == pytest.approx(0.20)  # 0.20 of code; the text group has no sources
    assert not agent["capped"] and agent["available_documents"] >= 10
    realized = index["realized"]["agent_trajectories"] / sum(index["realized"].values())
    assert abs(realized - index["mixture"]["agent_trajectories"]) < 0.005, (realized, index["mixture"])
    if not any(s["capped"] for s in plan.values()):  # a capped source moves every share
        assert abs(realized - agent["asked_share"]) < 0.005, (realized, agent)
    print(f"agent_trajectories: asked {agent['asked_share']:.4f}, realized {realized:.4f}")


def test_trajectories_are_docs_rows_with_their_conversation(stage3):
    rows = duckdb.sql(f"SELECT unit, kind, messages IS NOT NULL, count(*) FROM '{stage3}/docs/*.parquet' "
                      "GROUP BY ALL").fetchall()
    units = {(r[0], r[1], r[2]) for r in rows}
    assert {("repo", "code", False), ("trajectory", "trajectory", True)} <= units, units
    assert all(r[2] == (r[0] == "trajectory") for r in rows)  # messages only on trajectories
    reasons = Counter(r["reason"] for r in pq.read_table(stage3 / "removed" / "trajectories").to_pylist())
    assert set(reasons) <= {"near_duplicate"}, reasons  # the shared demonstrations are well-formed


def test_loader_batches_carry_each_trajectory_mask(stage3, telechat3):
    tok = load_tokenizer(str(telechat3))
    encoder = TrajectoryEncoder(tok)  # the shipped config's chat settings are the defaults
    rows = duckdb.sql(f"SELECT id, text, messages, source FROM '{stage3}/docs/*.parquet' "
                      "WHERE unit = 'trajectory'").fetchall()
    expected = {}
    for r in (dict(zip(("id", "text", "messages", "source"), row)) for row in rows):
        doc = Document(text=r["text"], id=r["id"], metadata={"messages": r["messages"], "source": r["source"]})
        ids, mask = encoder.documents([doc])[0]
        expected[r["id"]] = (ids + [tok.eos_id], mask + [mask[-1]])  # the packer's EOS takes the last mask

    shards = stage3 / "shards"
    doc_ids = [d for p in sorted(shards.glob("part-*.parquet"))
               for d in pq.read_table(p, columns=["doc_ids"]).column(0).to_pylist()]
    seen = Counter()
    for batch in ShardLoader(shards, batch_size=2):
        for k, s in enumerate(batch["sample_index"]):
            cu, ids, mask = batch["cu_seqlens"][k], batch["input_ids"][k], batch["loss_mask"][k]
            for j, d in enumerate(doc_ids[s]):
                seg_ids, seg_mask = ids[cu[j]:cu[j + 1]].tolist(), mask[cu[j]:cu[j + 1]].tolist()
                if not d:
                    assert set(seg_mask) == {0}  # padding
                elif d in expected:
                    assert (seg_ids, seg_mask) == expected[d], d
                    assert set(seg_mask) == {0, 1}  # tool output and the task are never in the loss
                    seen[d] += 1
                else:
                    assert set(seg_mask) == {1}, d  # code: every token, its EOS included
    index = json.loads((shards / "index.json").read_text())
    assert sum(seen.values()) == index["sampling"]["sources"]["agent_trajectories"]["documents"]
    assert set(seen) <= set(expected) and len(seen) >= 10
