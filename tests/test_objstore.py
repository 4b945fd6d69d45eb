"""Object storage against a real S3-compatible server on this machine (moto in server mode):
atomic uploads, a task killed mid-upload and resumed with datatrove's completions on S3, outputs
byte-identical to a local-disk run, DuckDB over s3:// and staging inputs in."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow as pa
import pytest
from conftest import ROOT

moto_server = pytest.importorskip("moto.server", reason="pip install 'moto[server]' s3fs to test object storage")
s3fs = pytest.importorskip("s3fs")

BUCKET = "curation-test"


@pytest.fixture(scope="module")
def s3():
    import boto3

    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {"AWS_ENDPOINT_URL": f"http://{host}:{port}", "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
           "AWS_DEFAULT_REGION": "us-east-1"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    s3fs.S3FileSystem.clear_instance_cache()
    client = boto3.client("s3")
    client.create_bucket(Bucket=BUCKET)
    yield client, env
    server.stop()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    s3fs.S3FileSystem.clear_instance_cache()


def _keys(client, prefix: str) -> list[str]:
    listing = client.list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return sorted(o["Key"] for o in listing.get("Contents", []))


def test_atomic_upload(s3, tmp_path):
    from curation.io import write_table_atomic as write_local
    from curation.objstore import AtomicUpload, write_table_atomic

    client, _ = s3
    table = pa.table({"id": [f"doc{i}" for i in range(5000)], "n": list(range(5000))})
    write_table_atomic(table, f"s3://{BUCKET}/atomic/ok.parquet")
    write_local(table, tmp_path / "ok.parquet")
    body = client.get_object(Bucket=BUCKET, Key="atomic/ok.parquet")["Body"].read()
    assert body == (tmp_path / "ok.parquet").read_bytes()  # same writer settings, same bytes
    with pytest.raises(RuntimeError), AtomicUpload(f"s3://{BUCKET}/atomic/failed.bin", block_size=5 * 2**20) as fh:
        fh.write(os.urandom(12 * 2**20))  # two parts uploaded before the failure
        raise RuntimeError("task failed")
    assert _keys(client, "atomic/") == ["atomic/ok.parquet"]
    assert not client.list_multipart_uploads(Bucket=BUCKET).get("Uploads")  # aborted, no parts left behind


TASK_SCRIPT = """
import os, signal, sys
import numpy as np, pyarrow as pa, pyarrow.parquet as pq
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.base import PipelineStep
from curation.io import PARQUET_OPTIONS
from curation.objstore import AtomicUpload

class Produce(PipelineStep):
    name = "produce"

    def __init__(self, out, kill_rank):
        super().__init__()
        self.out, self.kill_rank = out, kill_rank

    def run(self, data=None, rank=0, world_size=1):
        rng = np.random.default_rng(rank)  # the same rows on every run
        table = pa.table({"task": [rank] * 8, "blob": [rng.bytes(2**20) for _ in range(8)]})  # 8 MiB, incompressible
        with AtomicUpload(f"{self.out}/{rank:05d}.parquet", block_size=5 * 2**20) as fh:
            pq.write_table(table, fh, **PARQUET_OPTIONS)
            if rank == self.kill_rank:
                fh.flush()
                os.killpg(os.getpgid(0), signal.SIGKILL)  # the whole run killed mid-upload: no cleanup runs
        self.stat_update("written")
        return
        yield

out, logs, kill_rank = sys.argv[1], sys.argv[2], int(sys.argv[3])
LocalPipelineExecutor([Produce(out, kill_rank)], tasks=3, workers=1, logging_dir=logs).run()
"""


def _run_tasks(script: Path, out: str, logs: str, kill_rank: int, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(script), out, logs, str(kill_rank)], capture_output=True, text=True,
                          env={**os.environ, **env, "PYTHONPATH": str(ROOT)}, timeout=600,
                          start_new_session=True)  # its own process group: the kill takes the run, not pytest


def test_killed_task_resumes_on_s3_and_matches_local_disk(s3, tmp_path):
    client, env = s3
    script = tmp_path / "tasks.py"
    script.write_text(textwrap.dedent(TASK_SCRIPT))
    out, logs = f"s3://{BUCKET}/run/out", f"s3://{BUCKET}/run/logs"
    killed = _run_tasks(script, out, logs, kill_rank=1, env=env)
    assert killed.returncode == -9, killed.stderr[-2000:]
    # task 0 finished (output and completion marker on S3); task 1 died mid-upload: no object
    assert _keys(client, "run/out/") == ["run/out/00000.parquet"]
    assert _keys(client, "run/logs/completions/") == ["run/logs/completions/00000"]
    # it died with parts uploaded: an incomplete multipart upload, invisible as an object (a bucket
    # lifecycle rule, AbortIncompleteMultipartUpload, reclaims such parts)
    uploads = client.list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])
    assert [u["Key"] for u in uploads] == ["run/out/00001.parquet"]
    assert client.list_parts(Bucket=BUCKET, Key=uploads[0]["Key"], UploadId=uploads[0]["UploadId"])["Parts"]
    resumed = _run_tasks(script, out, logs, kill_rank=-1, env=env)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "Skipping 1 already completed tasks" in resumed.stderr or "already completed" in resumed.stderr
    local = _run_tasks(script, str(tmp_path / "out"), str(tmp_path / "logs"), kill_rank=-1, env=env)
    assert local.returncode == 0, local.stderr[-2000:]
    for rank in range(3):
        body = client.get_object(Bucket=BUCKET, Key=f"run/out/{rank:05d}.parquet")["Body"].read()
        assert body == (tmp_path / "out" / f"{rank:05d}.parquet").read_bytes()


def test_duckdb_and_stage_in(s3, tmp_path):
    from curation.objstore import duckdb_connect, stage_in, write_table_atomic

    client, _ = s3
    for rank in range(2):
        write_table_atomic(pa.table({"id": [f"{rank}-{i}" for i in range(100)], "n": [rank] * 100}),
                           f"s3://{BUCKET}/q/docs/{rank:05d}.parquet")
    con = duckdb_connect(f"s3://{BUCKET}/q")
    assert con.execute(f"SELECT n, count(*) FROM read_parquet('s3://{BUCKET}/q/docs/*.parquet') GROUP BY n ORDER BY n"
                       ).fetchall() == [(0, 100), (1, 100)]
    client.put_object(Bucket=BUCKET, Key="repos/alpha/pkg/mod.py", Body=b"x = 1\n")
    client.put_object(Bucket=BUCKET, Key="repos/beta/main.go", Body=b"package main\n")
    staged = stage_in(f"s3://{BUCKET}/repos", tmp_path / "cache")
    files = sorted(str(p.relative_to(staged)) for p in staged.rglob("*") if p.is_file())
    assert files == ["alpha/pkg/mod.py", "beta/main.go"]
    before = (staged / "alpha/pkg/mod.py").stat().st_mtime_ns
    client.put_object(Bucket=BUCKET, Key="repos/beta/main.go", Body=b"package main\n\nfunc main() {}\n")
    stage_in(f"s3://{BUCKET}/repos", tmp_path / "cache")
    assert (staged / "alpha/pkg/mod.py").stat().st_mtime_ns == before  # unchanged: not fetched again
    assert (staged / "beta/main.go").read_text().endswith("func main() {}\n")  # changed: fetched
