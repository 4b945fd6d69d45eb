"""What running into object storage costs: the same stage-1 config run into a local folder and into
s3:// on a local S3-compatible server (moto, in this process), inputs on S3 too. Prints both wall
times, their ratio, and the objects and bytes the S3 run stored; checks the shards are identical.

    python benchmarks/bench_s3.py --tokenizer ../shared/tokenizers/telechat3 [--packages yaml json email]

moto answers from memory on this machine, so the ratio is the mirror's own cost (walks, uploads,
markers, staging), not a network's."""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def run(args: list[str], env: dict) -> float:
    start = time.time()
    proc = subprocess.run([str(Path(sys.executable).with_name("curate")), *args], check=False, capture_output=True,
                          text=True,
                          env={**os.environ, **env, "PYTHONPATH": str(ROOT)}, cwd=ROOT)
    if proc.returncode:
        sys.exit(proc.stdout[-3000:] + proc.stderr[-3000:])
    return time.time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokenizer", required=True)
    parser.add_argument("--packages", nargs="+", default=["yaml", "json", "email", "logging"])
    parser.add_argument("--tasks", type=int, default=2)
    args = parser.parse_args()
    import logging

    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {"AWS_ENDPOINT_URL": f"http://{host}:{port}", "AWS_ACCESS_KEY_ID": "b", "AWS_SECRET_ACCESS_KEY": "b",
           "AWS_DEFAULT_REGION": "us-east-1"}
    s3 = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], aws_access_key_id="b", aws_secret_access_key="b",
                      region_name="us-east-1")
    s3.create_bucket(Bucket="bench")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        repos = tmp / "repos"
        for name in args.packages:
            src = Path(importlib.import_module(name).__file__).parent
            shutil.copytree(src, repos / name / name, ignore=shutil.ignore_patterns("__pycache__", "*.so"))
        for path in sorted(p for p in repos.rglob("*") if p.is_file()):
            s3.put_object(Bucket="bench", Key=f"in/repos/{path.relative_to(repos)}", Body=path.read_bytes())
        config = {"name": "bench-s3", "inputs": {"code": {"kind": "repos", "paths": [str(repos)], "layout": "collection"}},
                  "filters": str(ROOT / "filters" / "code.yaml"), "tokenizer": {"name_or_path": args.tokenizer},
                  "pack": {"seq_len": 2048}, "executor": {"tasks": args.tasks, "workers": 1}}
        (tmp / "local.yaml").write_text(yaml.safe_dump(config))
        config["inputs"]["code"]["paths"] = ["s3://bench/in/repos"]
        (tmp / "s3.yaml").write_text(yaml.safe_dump(config))
        cache = {"CURATION_OBJSTORE_CACHE": str(tmp / "cache")}
        local = run(["run", str(tmp / "local.yaml"), "--out", str(tmp / "out")], cache)
        remote = run(["run", str(tmp / "s3.yaml"), "--out", "s3://bench/out"], {**env, **cache})
        again = run(["run", str(tmp / "s3.yaml"), "--out", "s3://bench/out"], {**env, **cache})
        objects = s3.list_objects_v2(Bucket="bench", Prefix="out/")["Contents"]
        shards = sorted((tmp / "out" / "shards").glob("part-*.parquet"))
        same = all(s3.get_object(Bucket="bench", Key=f"out/shards/{p.name}")["Body"].read() == p.read_bytes()
                   for p in shards)
        mb = sum(p.stat().st_size for p in repos.rglob("*") if p.is_file()) / 2**20
        print(f"input: {mb:.1f} MB of {', '.join(args.packages)}; {args.tasks} tasks")
        print(f"local folder: {local:.1f}s   s3://: {remote:.1f}s   ratio {remote / local:.2f}")
        print(f"re-run of the finished s3:// run (everything skipped): {again:.1f}s")
        print(f"stored: {len(objects)} objects, {sum(o['Size'] for o in objects) / 2**20:.1f} MB; "
              f"{len(shards)} shards byte-identical: {same}")
    server.stop()


if __name__ == "__main__":
    main()
