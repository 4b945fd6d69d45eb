"""A stage-1 run whose inputs and output folder are on a real S3-compatible server on this machine
(moto in server mode): the driver is killed (SIGKILL) mid-run, its local mirror is thrown away, the
same command resumes from the completion markers on S3 and the shards are byte-identical to a
local-disk run of the same config."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, write_config
from test_pipeline_small import make_collection

moto_server = pytest.importorskip("moto.server", reason="pip install 'moto[server]' s3fs (the s3 extra) to test object storage")
s3fs = pytest.importorskip("s3fs", reason="pip install s3fs (the s3 extra) to test object storage")

pytestmark = pytest.mark.slow
BUCKET = "curation-s3-run"
CURATE = Path(sys.executable).with_name("curate")


@pytest.fixture(scope="module")
def s3():
    import boto3

    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)  # port 0: a free one
    server.start()
    host, port = server.get_host_and_port()
    env = {"AWS_ENDPOINT_URL": f"http://{host}:{port}", "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
           "AWS_DEFAULT_REGION": "us-east-1"}
    client = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], aws_access_key_id="test",
                          aws_secret_access_key="test", region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    yield client, env
    server.stop()


def keys(client, prefix: str) -> list[str]:
    found, token = [], {}
    while True:
        page = client.list_objects_v2(Bucket=BUCKET, Prefix=prefix, **token)
        found += [o["Key"] for o in page.get("Contents", [])]
        if not page.get("IsTruncated"):
            return sorted(found)
        token = {"ContinuationToken": page["NextContinuationToken"]}


def upload_folder(client, folder: Path, prefix: str) -> None:
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        client.put_object(Bucket=BUCKET, Key=f"{prefix}/{path.relative_to(folder)}", Body=path.read_bytes())


def curate(args: list[str], env: dict, cache: Path) -> subprocess.Popen:
    return subprocess.Popen([str(CURATE), *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT,
                            env={**os.environ, **env, "CURATION_OBJSTORE_CACHE": str(cache), "PYTHONPATH": str(ROOT)},
                            start_new_session=True)  # its own process group: the kill takes the run, not pytest


def finish(proc: subprocess.Popen) -> str:
    out, _ = proc.communicate(timeout=1800)
    assert proc.returncode == 0, out[-4000:]
    return out


def kill_after(run: subprocess.Popen, client, stage: str) -> str:
    """SIGKILL the whole run once task 0 of `stage` has its completion marker on S3, and check
    that task 1 of that stage had not finished (tasks run one after the other)."""
    prefix = f"run/logs/{stage}/completions/"
    deadline = time.time() + 1200
    while f"{prefix}00000" not in keys(client, prefix):
        assert run.poll() is None, run.communicate()[0][-4000:]
        assert time.time() < deadline, f"the first {stage} task never finished"
        time.sleep(0.05)
    os.killpg(run.pid, signal.SIGKILL)
    out, _ = run.communicate()
    assert run.returncode == -signal.SIGKILL
    assert keys(client, prefix) == [f"{prefix}00000"]
    return out


def test_killed_s3_run_resumes_and_matches_local_disk(s3, tmp_path, telechat3):
    client, env = s3
    repos = make_collection(tmp_path)
    upload_folder(client, repos, "inputs/repos")
    config = {
        "name": "small-s3", "inputs": {"code": {"kind": "repos", "paths": [str(repos)], "layout": "collection"}},
        "filters": str(ROOT / "filters" / "code.yaml"), "tokenizer": {"name_or_path": str(telechat3)},
        "pack": {"seq_len": 1024, "rows_per_shard": 16},
        "executor": {"tasks": 2, "workers": 1},  # tasks one after the other: the kill lands between two
    }
    local_cfg = write_config(tmp_path / "local.yaml", config)
    config["inputs"]["code"]["paths"] = [f"s3://{BUCKET}/inputs/repos"]
    s3_cfg = write_config(tmp_path / "s3.yaml", config)
    url = f"s3://{BUCKET}/run"

    # 1. killed once the first ingest task's marker is on S3; 2. resumed with the same mirror (which
    # holds files S3 does not) and killed once the first tokenize task's marker is on S3
    kill_after(curate(["run", str(s3_cfg), "--out", url], env, tmp_path / "cache1"), client, "ingest")
    second = kill_after(curate(["run", str(s3_cfg), "--out", url], env, tmp_path / "cache1"), client, "tokenize")
    assert "[ingest] 1/2 tasks already done; running 1" in second, second[-3000:]
    assert keys(client, "run/logs/ingest/completions/") == [f"run/logs/ingest/completions/{r:05d}" for r in (0, 1)]
    assert not keys(client, "run/shards/")
    assert not [k for k in keys(client, "run/") if k.endswith((".tmp", ".part"))]  # only finished files

    # 3. resumed on "another machine": a new cache, so no mirror and no staged inputs; S3 says what is done
    resumed = finish(curate(["run", str(s3_cfg), "--out", url], env, tmp_path / "cache2"))
    assert "[ingest] 2/2 tasks already done; running 0" in resumed
    assert "[tokenize] 1/2 tasks already done; running 1" in resumed
    # pack is a scatter run and a pack run, each in executor.tasks tasks unless pack sets them
    assert "[scatter] 0/2 tasks already done; running 2" in resumed, resumed[-3000:]
    assert "[pack] 0/2 tasks already done; running 2" in resumed, resumed[-3000:]

    # 4. the same config on local disk gives the same bytes
    out = tmp_path / "local-out"
    finish(curate(["run", str(local_cfg), "--out", str(out)], {}, tmp_path / "cache-local"))
    local_shards = sorted(p.name for p in (out / "shards").glob("part-*.parquet"))
    assert len(local_shards) >= 2
    assert [k.rsplit("/", 1)[1] for k in keys(client, "run/shards/part-")] == local_shards
    for name in local_shards:
        body = client.get_object(Bucket=BUCKET, Key=f"run/shards/{name}")["Body"].read()
        assert body == (out / "shards" / name).read_bytes(), name
    for folder in ("docs", "tokens/code", "removed/ingest", "removed/exact_dedup"):
        for path in sorted((out / folder).glob("*.parquet")):
            body = client.get_object(Bucket=BUCKET, Key=f"run/{folder}/{path.name}")["Body"].read()
            assert body == path.read_bytes(), f"{folder}/{path.name}"
    # 5. the commands that read an output folder read the URL (through a fresh mirror)
    status = finish(curate(["status", url], env, tmp_path / "cache3"))
    assert "pack" in status and "failed" not in status
    n_docs = finish(curate(["inspect", url, "--sql", "SELECT count(*) AS n FROM docs"], env, tmp_path / "cache3"))
    local_docs = finish(curate(["inspect", str(out), "--sql", "SELECT count(*) AS n FROM docs"], {}, tmp_path / "c"))
    assert n_docs == local_docs
    for name in ("shards/index.json", "plan.json", "run.json", "report.json", "report.html", "stats/tokenize.json",
                 "logs/pack/completions/00000"):
        assert f"run/{name}" in keys(client, f"run/{name}"), name
