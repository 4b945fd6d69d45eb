"""The near-dedup cluster stage in 1 task against N tasks (near_components + near_cluster), on the
same verified edges: wall (slowest task of each stage, summed over the stages), CPU, peak RSS of
the largest task, and a check that the removals are the same set.

Input: distinct real code files (the registry corpus; site-packages if absent) with 1-3
near-copies (3% of lines edited) of --copy-rate of them, so the cluster stage has edges to merge.
Signatures and buckets run once (as in the pipeline, bench_near_dedup.py's spawned tasks); each
task of the compared stages is its own spawned process, so its peak RSS (VmHWM) is its own.

    nice python benchmarks/bench_near_cluster.py [--mb 10] [--copy-rate 0.3] [--cluster-tasks 4]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_minhash import edit_lines  # the near-copy recipe of the other benchmarks
from bench_near_dedup import (
    DEFAULT_CORPUS,
    corpus_files,
    distinct_texts,
    run_stage,
    write_inputs,
)


def with_copies(texts: list[str], copy_rate: float, seed: int) -> list[str]:
    """The texts plus 1-3 near-copies of `copy_rate` of them, shuffled."""
    rng = random.Random(seed)
    docs = list(texts)
    for text in rng.sample(texts, int(len(texts) * copy_rate)):
        docs += [edit_lines(text, text, 0.03, rng) for _ in range(rng.randint(1, 3))]
    rng.shuffle(docs)
    return docs


def removal_set(folder: Path) -> list[tuple]:
    import pyarrow.parquet as pq

    return sorted(r for f in sorted(folder.glob("*.parquet")) for r in zip(*pq.read_table(f).to_pydict().values()))


def edge_state(work: Path) -> dict[str, int]:
    import pyarrow.parquet as pq

    edges = pq.read_table(work / "edges" / "00000.parquet")
    clustered = len(set(edges.column("id_a").to_pylist()) | set(edges.column("id_b").to_pylist()))
    stars = sum(pq.read_metadata(p).num_rows for p in (work / "components").glob("*.parquet"))
    return {"edges": edges.num_rows, "clustered": clustered, "star_rows": stars}


def main() -> None:
    from curation.config.pipeline import NearDedupConfig
    from curation.dedup.minhash import bands_rows

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--mb", type=float, default=10.0, help="distinct code, before near-copies")
    parser.add_argument("--copy-rate", type=float, default=0.3, help="share of files given near-copies")
    parser.add_argument("--tasks", type=int, default=2, help="tasks of the signature stage")
    parser.add_argument("--cluster-tasks", type=int, default=4)
    parser.add_argument("--json", type=Path, help="write the figures here too")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    near = NearDedupConfig()
    bands, rows = bands_rows(near)
    root, files = corpus_files(args.corpus)
    docs = with_copies(distinct_texts(files, int(args.mb * 1e6), args.seed), args.copy_rate, args.seed)
    size_mb = sum(len(d.encode()) for d in docs) / 1e6
    print(f"corpus: {root}: {len(docs)} documents, {size_mb:.1f} MB with near-copies of {args.copy_rate:.0%}")
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench_near_cluster_") as tmp:
        work = Path(tmp)
        write_inputs(docs, work / "input", args.tasks)
        del docs
        base = {"tasks": args.tasks, "n_grams": near.n_grams, "num_perm": near.num_perm, "bands": bands,
                "rows": rows, "seed": near.seed, "normalize": near.normalize_identifiers,
                "threshold": near.threshold, "work": str(work / "ours"), "inputs": str(work / "input"),
                "side": "ours"}
        run_stage({**base, "stage": "sign"}, args.tasks)
        run_stage({**base, "stage": "buckets"}, 1)
        for n in sorted({1, args.cluster_tasks}):
            job = {**base, "cluster_tasks": n, "removals": f"removals-{n}"}
            stages = {}
            if n > 1:  # then the barrier, as between two runs of the pipeline
                stages["components"] = run_stage({**job, "stage": "components"}, n)
            stages["cluster"] = run_stage({**job, "stage": "cluster"}, n)
            results[n] = {
                "stages": stages,
                "wall": sum(s["wall"] for s in stages.values()),
                "cpu": sum(s["cpu"] for s in stages.values()),
                "peak": max(s["peak"] for s in stages.values()),
                "own": max(s["own"] for s in stages.values()),
                "removed": len(removal_set(work / "ours" / f"removals-{n}")),
            }
        state = edge_state(work / "ours")
        same = len({tuple(removal_set(work / "ours" / f"removals-{n}")) for n in results}) == 1
    print(f"edges {state['edges']}, clustered documents {state['clustered']}, star rows at "
          f"{args.cluster_tasks} tasks {state['star_rows']}")
    print(f"  {'cluster tasks':<14} {'wall s':>7} {'cpu s':>7} {'peak MiB':>9} {'own MiB':>8} {'removed':>8}   stages")
    for n, r in results.items():
        detail = ", ".join(f"{k} {v['wall']:.2f} s / {v['peak']:.0f} MiB" for k, v in r["stages"].items())
        print(f"  {n:<14} {r['wall']:>7.2f} {r['cpu']:>7.2f} {r['peak']:>9.0f} {r['own']:>8.0f} {r['removed']:>8}   "
              f"{detail}")
    print(f"  removals identical for {' and '.join(map(str, results))} tasks: {same}")
    if args.json:
        args.json.write_text(json.dumps({"size_mb": size_mb, "state": state, "identical": same,
                                         "runs": {str(n): r for n, r in results.items()}}, indent=1))
    if not same:
        raise SystemExit("removals differ between task counts")


if __name__ == "__main__":
    main()
