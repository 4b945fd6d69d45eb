"""The pack stage (scatter + pack) in 1 task against N tasks, on the tokens of a finished run: wall
(slowest task of each stage, summed over the two), CPU (sum of tasks), peak RSS of the largest
task, and a check that the shards and index.json are byte-identical.

Every task is its own spawned process running the functions the pipeline's steps call
(curation.mixture.mix: prepare_mix once, scatter per task, pack_bucket per owned bucket; the
tokenizer is loaded once by the driver and handed to the tasks as its ids and hashes), all
tasks of a stage at once, as a local executor with as many workers as tasks.

    nice python benchmarks/bench_pack_tasks.py OUT [--mixture mixtures/stage1_8k.yaml] [--tasks 4]
        [--seq-len 8192] [--buckets N] [--json results.json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ROOT = Path(__file__).resolve().parents[1]
TOKENIZER = ROOT.parent / "shared" / "tokenizers" / "telechat3"


def run_task(job: dict, conn) -> None:
    try:
        cpu, wall = time.process_time(), time.perf_counter()
        from curation.mixture.mix import pack_bucket, read_mix, scatter
        from curation.mixture.shards import packing_tokenizer

        if job["stage"] == "scatter":
            scatter(job["tokens"], job["work"], task=job["rank"], tasks=job["world_size"])
            fragments = {}
        else:
            tokenizer = packing_tokenizer(job["tokenizer"])  # loaded once by the driver, as the pipeline does
            fragments = {b: pack_bucket(job["work"], b, job["shards"], scatter_tasks=job["scatter_tasks"],
                                        tokenizer=tokenizer, seq_len=job["seq_len"], rows_per_shard=512)
                         for b in range(job["rank"], read_mix(job["work"])["buckets"], job["world_size"])}
        conn.send({"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu,
                   "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "fragments": fragments})
    except Exception as err:  # noqa: BLE001 - reported by the parent with the task's name
        conn.send({"error": f"{type(err).__name__}: {err}"})


def run_stage(job: dict, tasks: int) -> tuple[dict, dict]:
    ctx = multiprocessing.get_context("spawn")
    running = []
    for rank in range(tasks):
        parent, child = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=run_task, args=({**job, "rank": rank, "world_size": tasks}, child))
        proc.start()
        child.close()
        running.append((proc, parent))
    results = []
    for rank, (proc, parent) in enumerate(running):
        result = parent.recv()
        proc.join()
        if "error" in result:
            raise RuntimeError(f"{job['stage']} task {rank}: {result['error']}")
        results.append(result)
    fragments = {b: f for r in results for b, f in r["fragments"].items()}
    return {"wall": max(r["wall"] for r in results), "cpu": sum(r["cpu"] for r in results),
            "peak_mb": max(r["peak_mb"] for r in results), "tasks": tasks}, fragments


def run(out: Path, work: Path, *, mixture: Path, tasks: int, seq_len: int, buckets: int | None) -> dict:
    from curation.mixture import available_tokens, load_mixture, plan_mixture
    from curation.mixture.mix import mix_index, prepare_mix
    from curation.mixture.shards import tokenizer_info
    from curation.tokenize.tokenizer import load_tokenizer

    tokens = out / "tokens"
    shutil.rmtree(work, ignore_errors=True)
    mix = load_mixture(mixture)
    plan = plan_mixture(mix, available_tokens(tokens, mix.language_splits()))
    start = time.perf_counter()
    prepared = prepare_mix(plan, tokens, work / "mix", seq_len=seq_len, buckets=buckets)
    prepare = time.perf_counter() - start
    job = {"tokens": str(tokens), "work": str(work / "mix"), "shards": str(work / "shards"), "seq_len": seq_len,
           "tokenizer": tokenizer_info(load_tokenizer(str(TOKENIZER))), "scatter_tasks": tasks}
    scatter, _ = run_stage({**job, "stage": "scatter"}, tasks)
    pack, fragments = run_stage({**job, "stage": "pack"}, tasks)
    index = mix_index(work / "mix", work / "shards", [fragments[b] for b in range(prepared["buckets"])],
                      seq_len=seq_len)
    hashes = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((work / "shards").iterdir())}
    t = index["totals"]
    return {"tasks": tasks, "buckets": prepared["buckets"], "prepare_s": prepare, "scatter": scatter, "pack": pack,
            "wall_s": scatter["wall"] + pack["wall"], "cpu_s": scatter["cpu"] + pack["cpu"],
            "tokens": t["tokens_out"], "rows": t["rows"], "fill": t["tokens_out"] / (t["rows"] * seq_len),
            "sha256": hashlib.sha256(json.dumps(hashes, sort_keys=True).encode()).hexdigest()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="a finished run's output folder (its tokens/ are read)")
    parser.add_argument("--mixture", type=Path, default=ROOT / "mixtures" / "stage1_8k.yaml")
    parser.add_argument("--tasks", type=int, default=4)
    parser.add_argument("--seq-len", type=int, default=8192)
    parser.add_argument("--buckets", type=int, default=None, help="default: the pipeline's default for the sample")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for tasks in (1, args.tasks):
            results.append(run(args.out, Path(tmp) / f"t{tasks}", mixture=args.mixture, tasks=tasks,
                               seq_len=args.seq_len, buckets=args.buckets))
    same = len({r["sha256"] for r in results}) == 1
    print(f"{results[0]['tokens']:,} tokens, {results[0]['rows']:,} rows of {args.seq_len}, "
          f"{results[0]['buckets']} buckets, fill {results[0]['fill']:.4f}; shards identical: {same}")
    print("| tasks | prepare s (driver) | scatter wall / CPU s | pack wall / CPU s | wall s | CPU s | peak RSS MiB |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['tasks']} | {r['prepare_s']:.2f} | {r['scatter']['wall']:.2f} / {r['scatter']['cpu']:.2f} | "
              f"{r['pack']['wall']:.2f} / {r['pack']['cpu']:.2f} | {r['wall_s']:.2f} | {r['cpu_s']:.2f} | "
              f"{max(r['scatter']['peak_mb'], r['pack']['peak_mb']):.0f} |")
    if args.json:
        args.json.write_text(json.dumps({"identical": same, "runs": results}, indent=1))
    if not same:
        raise SystemExit("shards differ between task counts")


if __name__ == "__main__":
    main()
