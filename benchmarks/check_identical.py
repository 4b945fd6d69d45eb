"""Byte-identity check for speed work: the same config on the same small input must give the same
bytes, before and after an optimization.

Runs `pipelines/stage1_8k.yaml` on a fixed slice of the registry corpus (repositories in several
languages, one of them twice under a second name so exact and near dedup have work), then records
the sha256 of every Parquet file it wrote (docs, removed, dedup, tokens, shards; not work/ or logs/)
and the per-shard sha256 of shards/index.json.

    python benchmarks/check_identical.py --record ref.json      # before a change
    python benchmarks/check_identical.py --compare ref.json     # after: exit 1 on any difference

`--tasks N` changes the task count of every parallel stage (shards must not depend on it).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("CURATION_TEST_CORPUS", ROOT.parent / "main" / ".cache" / "corpus")) / "src"
TOKENIZER = Path(os.environ.get("CURATION_TOKENIZER", ROOT.parent / "shared" / "tokenizers" / "telechat3"))
# Small repositories, one or more per language family the heuristics and filters treat differently.
REPOS = (
    "pypi/requests-2.34.2", "pypi/click-8.5.1", "pypi/msgpack-1.2.4", "npm/express-5.3.0",
    "deb/librust-serde-dev_1.0.152-2_amd64", "deb/golang-github-spf13-cobra-dev_1.6.1-1_all",
    "deb/libfmt-dev_9.1.0+ds1-2_amd64", "deb/ruby-rack_2.2.22-0+deb12u2_all",
    "deb/php-symfony-console_5.4.53+dfsg-0+deb12u1_all", "deb/libmojolicious-perl_9.31+dfsg-1_all",
)
COPIED = "pypi/click-8.5.1"  # a second copy under another name


def build_input(work: Path) -> Path:
    farm = work / "input"
    if farm.exists():
        shutil.rmtree(farm)
    farm.mkdir(parents=True)
    for rel in REPOS:
        (farm / Path(rel).name).symlink_to(CORPUS / rel)
    (farm / (Path(COPIED).name + "~copy")).symlink_to(CORPUS / COPIED)
    return farm


def digests(out: Path) -> dict:
    files = {}
    for path in sorted(out.rglob("*.parquet")):
        rel = path.relative_to(out).as_posix()
        if rel.startswith(("work/", "logs/")):
            continue
        files[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    index = json.loads((out / "shards" / "index.json").read_text())
    shards = {s.get("file", s.get("name", str(i))): s.get("sha256") for i, s in enumerate(index.get("shards", []))}
    return {"files": files, "shards": shards, "totals": index.get("totals")}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=Path("/tmp/check_identical"))
    ap.add_argument("--tasks", type=int, default=None)
    ap.add_argument("--record", type=Path)
    ap.add_argument("--compare", type=Path)
    args = ap.parse_args()
    if not CORPUS.exists():
        print(f"{CORPUS}: no registry corpus; nothing to check", file=sys.stderr)
        return 2
    farm = build_input(args.work)
    out = args.work / "out"
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "curation.cli", "run", str(ROOT / "pipelines" / "stage1_8k.yaml"), "--out", str(out),
           "--set", f"inputs.code.paths=[{farm}]", "--set", f"tokenizer.name_or_path={TOKENIZER}"]
    if args.tasks:
        cmd += ["--set", f"executor.tasks={args.tasks}"]
    subprocess.run(cmd, check=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.DEVNULL)
    got = digests(out)
    print(f"{len(got['files'])} Parquet files, {len(got['shards'])} shards, totals {got['totals']}")
    if args.record:
        args.record.write_text(json.dumps(got, indent=1))
    if args.compare:
        ref = json.loads(args.compare.read_text())
        bad = sorted(k for k in set(ref["files"]) | set(got["files"]) if ref["files"].get(k) != got["files"].get(k))
        bad_shards = ref["shards"] != got["shards"]
        for k in bad:
            print(f"DIFFERS: {k}")
        if bad_shards:
            print("DIFFERS: shard sha256 in index.json")
        if bad or bad_shards:
            return 1
        print("identical")
    return 0


if __name__ == "__main__":
    sys.exit(main())
