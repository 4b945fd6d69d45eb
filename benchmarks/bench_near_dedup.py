"""Near-dedup stages as the pipeline runs them: speed against datatrove's four MinHash stages,
and peak memory of every stage as the corpus grows.

Each stage task runs in its own spawned process (signature and filter: --tasks processes side by
side; buckets and cluster: one), reading its documents as a stream of datatrove Documents from a
Parquet shard, so a task's peak RSS (VmHWM) is its own and the input is never held whole.

(a) speed, at 1x: MinhashSigner -> NearDedupBuckets -> NearDedupCluster -> NearDedupFilter vs
    datatrove's MinhashDedupSignature -> Buckets -> Cluster -> Filter on the same documents, with
    the same n-grams and bands x rows hashes (NearDedupConfig defaults: 5-grams, 256 permutations,
    32 bands x 8 rows; datatrove gets num_buckets=32, hashes_per_bucket=8). datatrove's bucket
    stage, one task per bucket by design, runs as one process doing its 32 buckets in turn, as
    our one bucket task does every band. Its spaCy word tokenizer is loaded before the clock
    starts, and interpreter start-up is outside every stage's clock, on both sides.
(b) memory, at every scale (1x, 2x, 4x): peak RSS of each of our stages; the clustering state
    (verified edges, clustered documents) is allowed to grow and is reported; any other stage
    whose own memory (peak minus RSS before its run) grows by more than --grow-limit is flagged.

Scales are nested prefixes of one shuffled list of distinct real code files (the corpus grows,
files are never repeated), each with near-copies of 5% of its files so clustering has work.

    /work/venv/bin/python benchmarks/bench_near_dedup.py [--mb 20] [--scales 1 2 4] [--tasks 2]
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing
import os
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_minhash import CODE_EXTENSIONS, edit_lines  # noqa: E402  (same near-copy recipe)

DEFAULT_CORPUS = Path("/work/fresh/.cache/corpus/src")
NEAR_COPY_RATE = 0.05
LICENSE_CLASSES = ("permissive", "none", "copyleft")
INPUT_BATCH_ROWS = 256  # documents decoded at a time: the reader's memory is bounded by this
MIB = 1 << 20


# --- corpus -----------------------------------------------------------------------------------


def corpus_files(root: Path) -> tuple[Path, list[Path]]:
    if not root.exists():
        import datatrove

        root = Path(datatrove.__file__).parents[1]  # site-packages: real code on every machine
    return root, sorted(p for p in root.rglob("*") if p.suffix in CODE_EXTENSIONS and p.is_file())


def distinct_texts(files: list[Path], budget_bytes: int, seed: int) -> list[str]:
    """Distinct (by content) files of at most 1 MB, in a seeded random order, up to the budget;
    the largest one first, so that every scale holds it: a stage's transient peak on its largest
    document then weighs the same at every scale, and only growth with corpus size remains."""
    texts, seen, total = [], set(), 0
    for path in random.Random(seed).sample(files, len(files)):
        text = path.read_text(encoding="utf-8", errors="replace")
        size = len(text.encode())
        digest = hashlib.blake2b(text.encode(), digest_size=16).digest()
        if 0 < size <= MIB and digest not in seen:
            seen.add(digest)
            texts.append(text)
            total += size
            if total >= budget_bytes:
                break
    largest = max(range(len(texts)), key=lambda i: len(texts[i]), default=0)
    return texts[largest:largest + 1] + texts[:largest] + texts[largest + 1:]


def scale_documents(texts: list[str], budget_bytes: int, seed: int) -> list[str]:
    """The prefix of `texts` that fills the budget, plus near-copies (3% of lines edited) of 5%
    of it, shuffled so copies land in every task."""
    docs, total = [], 0
    for text in texts:
        if total >= budget_bytes:
            break
        docs.append(text)
        total += len(text.encode())
    rng = random.Random(seed)
    docs += [edit_lines(t, t, 0.03, rng) for t in rng.sample(docs, int(len(docs) * NEAR_COPY_RATE))]
    rng.shuffle(docs)
    return docs


def write_inputs(docs: list[str], folder: Path, tasks: int) -> None:
    """Contiguous shares of the documents, one Parquet shard per task (ids are global)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True)
    bounds = [len(docs) * r // tasks for r in range(tasks + 1)]
    for rank in range(tasks):
        index = range(bounds[rank], bounds[rank + 1])
        table = pa.table({
            "id": [f"doc{i:08d}" for i in index],
            "text": [docs[i] for i in index],
            "license_class": [LICENSE_CLASSES[i % len(LICENSE_CLASSES)] for i in index],
        })
        pq.write_table(table, folder / f"{rank:05d}.parquet", row_group_size=INPUT_BATCH_ROWS)


def read_documents(folder: str, rank: int):
    """This task's documents as the pipeline hands them to a step: a stream, with metadata."""
    import pyarrow.parquet as pq
    from datatrove.data import Document

    shard = pq.ParquetFile(Path(folder) / f"{rank:05d}.parquet")
    for batch in shard.iter_batches(batch_size=INPUT_BATCH_ROWS):
        for row in batch.to_pylist():
            yield Document(text=row["text"], id=row["id"],
                           metadata={"kind": "code", "license_class": row["license_class"]})


# --- stages -----------------------------------------------------------------------------------


def build_step(job: dict):
    """(step, input stream or None) for one task of one stage; `job` is plain data (it crosses
    the process boundary)."""
    work, rank, stage, side = Path(job["work"]), job["rank"], job["stage"], job["side"]
    tasks, n_grams, num_perm, bands, rows = job["tasks"], job["n_grams"], job["num_perm"], job["bands"], job["rows"]
    docs = read_documents(job["inputs"], rank) if stage in ("read", "sign", "filter") else None
    if stage == "read":
        return None, docs
    if side == "ours":
        from curation.dedup.cluster import NearDedupCluster, NearDedupComponents
        from curation.dedup.near import MinhashSigner, NearDedupBuckets, NearDedupFilter

        # cluster_tasks > 1: the cluster stage reads the components' stars (bench_near_cluster.py)
        cluster_tasks, removals = job.get("cluster_tasks", 1), str(work / job.get("removals", "removals"))
        pairs = ((str(work / "edges"), 1, ("id_a", "id_b")) if cluster_tasks == 1 else
                 (str(work / "components"), cluster_tasks, ("id", "root")))
        steps = {
            "sign": lambda: MinhashSigner(str(work / "signatures"), n_grams=n_grams, num_perm=num_perm, bands=bands,
                                          rows=rows, seed=job["seed"], normalize_identifiers=job["normalize"]),
            "buckets": lambda: NearDedupBuckets(str(work / "signatures"), tasks, str(work / "edges"), bands=bands,
                                                threshold=job["threshold"], exact_plan_folder=None,
                                                exact_plan_tasks=0),
            "components": lambda: NearDedupComponents(str(work / "edges"), 1, str(work / "components")),
            "cluster": lambda: NearDedupCluster(pairs[0], pairs[1], str(work / "signatures"), tasks, removals,
                                                threshold=job["threshold"], pair_columns=pairs[2]),
            "filter": lambda: NearDedupFilter(removals_folder=str(work / "removals"), removed_folder=str(work / "removed")),
        }
        return steps[stage](), docs

    import xxhash
    from datatrove.pipeline.dedup.minhash import (
        MinhashConfig,
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
        MinhashDedupSignature,
    )

    config = MinhashConfig(n_grams=n_grams, num_buckets=bands, hashes_per_bucket=rows)
    if stage == "sign":
        step = MinhashDedupSignature(output_folder=str(work / "sigs"), config=config)
        # datatrove 0.10.1's default xxhash64 passes str, which xxhash >= 3.5 refuses: the same
        # fix as bench_minhash.py (encode, the fastest working equivalent of its default)
        step._hash_func = lambda text: xxhash.xxh64_intdigest(text.encode("utf-8", "surrogatepass"))
        # its spaCy tokenizer loads on first use (seconds): a one-off per process, not throughput
        step.word_tokenizer.word_tokenize("warm up")
        return step, docs
    if stage == "buckets":
        return MinhashDedupBuckets(input_folder=str(work / "sigs"), output_folder=str(work / "buckets"),
                                   config=config), None
    if stage == "cluster":
        return MinhashDedupCluster(str(work / "buckets"), str(work / "remove_ids"), config=config), None
    return MinhashDedupFilter(str(work / "remove_ids")), docs


def _status_mib(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def _consume(result) -> int:
    return 0 if result is None else sum(1 for _ in result)


def run_task(job: dict, conn) -> None:
    """Child process: one task of one stage; sends back wall, CPU and memory of the run alone."""
    os.environ["TQDM_DISABLE"] = "1"
    try:
        step, docs = build_step(job)
        from loguru import (
            logger,  # datatrove's, set up on import: an INFO line per bucket drowns the report
        )

        logger.remove()
        logger.add(sys.stderr, level="WARNING")
        rss_before = _status_mib("VmRSS")
        cpu_before = resource.getrusage(resource.RUSAGE_SELF)
        start = time.perf_counter()
        if step is None:
            out = _consume(docs)
        elif job["side"] == "theirs" and job["stage"] == "buckets":
            # datatrove runs one task per bucket (world_size = num_buckets); here one process
            # does them all in turn, as our single bucket task does every band
            out = sum(_consume(step.run(None, bucket, job["bands"])) for bucket in range(job["bands"]))
        else:
            out = _consume(step.run(docs, job["rank"], job["world_size"]))
        wall = time.perf_counter() - start
        cpu_after = resource.getrusage(resource.RUSAGE_SELF)
        cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
        conn.send({"wall": wall, "cpu": cpu, "rss_before": rss_before, "peak": _status_mib("VmHWM"),
                   "docs_out": out})
    except BaseException as exc:  # noqa: BLE001  (reported by the parent with the stage named)
        import traceback

        conn.send({"error": f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"})
    finally:
        conn.close()


def run_stage(job: dict, tasks: int) -> dict:
    """All tasks of a stage side by side, one spawned process each; the stage's wall is its
    slowest task (the barrier), CPU the sum, peak the largest task's."""
    ctx = multiprocessing.get_context("spawn")  # a fresh interpreter: the peak is this task's
    running = []
    for rank in range(tasks):
        parent, child = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=run_task, args=({**job, "rank": rank, "world_size": tasks}, child))
        proc.start()
        child.close()
        running.append((proc, parent))
    results = []
    for rank, (proc, parent) in enumerate(running):
        try:
            result = parent.recv()
        except EOFError:
            result = {"error": "the process died without a result"}
        proc.join()
        if "error" in result:
            raise RuntimeError(f"{job['side']} {job['stage']} task {rank}: {result['error']}")
        results.append(result)
    return {
        "wall": max(r["wall"] for r in results),
        "cpu": sum(r["cpu"] for r in results),
        "peak": max(r["peak"] for r in results),
        "own": max(r["peak"] - r["rss_before"] for r in results),
        "docs_out": sum(r["docs_out"] for r in results),
    }


OUR_STAGES = (("sign", "tasks"), ("buckets", 1), ("cluster", 1), ("filter", "tasks"))
STREAMING_STAGES = ("sign", "filter")


def run_pipeline(side: str, base: dict, tasks: int) -> dict[str, dict]:
    stages = {stage: run_stage({**base, "side": side, "stage": stage}, tasks if n == "tasks" else n)
              for stage, n in OUR_STAGES}
    if side == "ours":  # the reader is shared: its cost, once, shows how much of sign/filter it is
        stages["read"] = run_stage({**base, "side": side, "stage": "read"}, tasks)
    return stages


def clustering_state(work: Path) -> dict[str, int]:
    """What the cluster stage holds in memory and is allowed to grow: the edges, the documents
    they touch, and the removals it writes."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    edges = pq.read_table(work / "edges" / "00000.parquet")
    clustered = len(pc.unique(pa.chunked_array(edges.column("id_a").chunks + edges.column("id_b").chunks)))
    removals = pq.read_metadata(work / "removals" / "00000.parquet").num_rows
    signed = sum(pq.read_metadata(p).num_rows for p in sorted((work / "signatures").glob("*.parquet")))
    return {"signed": signed, "edges": edges.num_rows, "clustered": clustered, "removed": removals}


# --- report -----------------------------------------------------------------------------------


def print_speed(ours: dict, theirs: dict, size_mb: float, docs: int, tasks: int) -> None:
    print(f"\n(a) speed at 1x: {docs} documents, {size_mb:.1f} MB; signature and filter {tasks} tasks "
          f"side by side, buckets and cluster 1 task; wall = slowest task, interpreter start excluded")
    print(f"  {'stage':<8} {'datatrove s':>11} {'cpu s':>7} {'MB/s':>7} {'ours s':>8} {'cpu s':>7} {'MB/s':>7} "
          f"{'speed-up':>8} {'cpu ratio':>9}")
    rows = [(stage, theirs[stage]["wall"], theirs[stage]["cpu"], ours[stage]["wall"], ours[stage]["cpu"])
            for stage, _ in OUR_STAGES]
    rows.append(("all", *(sum(r[i] for r in rows) for i in range(1, 5))))
    for stage, t_wall, t_cpu, o_wall, o_cpu in rows:
        print(f"  {stage:<8} {t_wall:>11.2f} {t_cpu:>7.2f} {size_mb / t_wall:>7.1f} {o_wall:>8.2f} {o_cpu:>7.2f} "
              f"{size_mb / o_wall:>7.1f} {t_wall / o_wall:>7.1f}x {t_cpu / o_cpu:>8.1f}x")
    read = ours["read"]["wall"]
    print(f"  reading the documents alone (inside sign and filter, both sides): {read:.2f} s "
          f"({size_mb / read:.0f} MB/s)")
    sig_ratio = theirs["sign"]["wall"] / ours["sign"]["wall"]
    all_ratio = rows[-1][1] / rows[-1][3]
    print(f"  documents kept: datatrove {theirs['filter']['docs_out']}, ours {ours['filter']['docs_out']} "
          f"(tokenizers differ, so the clusters differ)")
    print(f"  signature throughput ratio (target >= 10x): {sig_ratio:.1f}x "
          f"[{size_mb / ours['sign']['wall']:.1f} vs {size_mb / theirs['sign']['wall']:.1f} MB/s]")
    print(f"  all-stages ratio (target >= 5x): {all_ratio:.1f}x "
          f"[{rows[-1][3]:.2f} s vs {rows[-1][1]:.2f} s]")


def print_memory(by_scale: dict[int, dict], states: dict[int, dict], sizes: dict[int, float],
                 grow_limit: float, floor_mib: float) -> None:
    scales = sorted(by_scale)
    first, last = scales[0], scales[-1]
    print("\n(b) memory, ours: peak RSS MiB of the largest task (own = peak minus RSS before the "
          "run, i.e. without interpreter and imports)")
    header = "".join(f" {f'{s}x ({sizes[s]:.0f} MB)':>22}" for s in scales)
    print(f"  {'stage':<8}{header}  {f'own {last}x/{first}x':>12}")
    flagged = []
    for stage, _ in OUR_STAGES:
        cells = "".join(f" {by_scale[s][stage]['peak']:>9.0f} (own {by_scale[s][stage]['own']:>5.0f})"
                        for s in scales)
        own_first, own_last = by_scale[first][stage]["own"], by_scale[last][stage]["own"]
        growth = own_last / max(own_first, 1.0)
        # growth of a few MiB is allocator noise, not a stage that scales with its input
        grows = growth > grow_limit and own_last - own_first > floor_mib
        mark = "  GROWS" if grows and stage != "cluster" else ("  grows (allowed)" if grows else "")
        if grows and stage != "cluster":
            flagged.append(stage)
        print(f"  {stage:<8}{cells}  {growth:>11.2f}x{mark}")
    reads = "".join(f" {by_scale[s]['read']['peak']:>9.0f} (own {by_scale[s]['read']['own']:>5.0f})" for s in scales)
    print(f"  {'(reader)':<8}{reads}  {by_scale[last]['read']['own'] / max(by_scale[first]['read']['own'], 1):>11.2f}x"
          "  the harness's document stream alone, inside sign and filter")
    print("  clustering state (allowed to grow):")
    for key in ("signed", "edges", "clustered", "removed"):
        print(f"    {key:<10}" + "".join(f" {states[s][key]:>22}" for s in scales))
    print("  wall s  " + "".join(f" {sum(by_scale[s][st]['wall'] for st, _ in OUR_STAGES):>22.2f}"
                                 for s in scales))
    if flagged:
        print(f"  FLAGGED: own memory grows more than {grow_limit}x (and by > {floor_mib:.0f} MiB) from "
              f"{first}x to {last}x: {', '.join(flagged)}")
        added_docs = states[last]["signed"] - states[first]["signed"]
        for stage in flagged:
            growth = by_scale[last][stage]["own"] - by_scale[first][stage]["own"]
            note = ""
            if stage in STREAMING_STAGES:  # these read the document stream, whose own growth is the harness's
                reader = by_scale[last]["read"]["own"] - by_scale[first]["read"]["own"]
                growth, note = growth - reader, f" (net of the reader's +{reader:.0f} MiB)"
            per_doc = max(growth, 0) * MIB / max(added_docs, 1)
            print(f"    {stage}: +{growth:.0f} MiB{note} = ~{per_doc / 1024:.1f} KiB per signed document, "
                  f"~{per_doc * 1e7 / 2**30:.0f} GiB at 10 million documents if it kept growing linearly")
    else:
        print(f"  no stage other than cluster grows more than {grow_limit}x from {first}x to {last}x")


def main() -> None:
    from curation.config.pipeline import NearDedupConfig
    from curation.dedup.minhash import bands_rows

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS,
                        help="tree of real code (default: the registry corpus; site-packages if absent)")
    parser.add_argument("--mb", type=float, default=20.0, help="size of the 1x corpus, before near-copies")
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--tasks", type=int, default=2, help="tasks of the signature and filter stages")
    parser.add_argument("--grow-limit", type=float, default=1.5, help="flag own-memory growth above this")
    parser.add_argument("--grow-floor-mib", type=float, default=16.0, help="...and above this many MiB")
    parser.add_argument("--skip-datatrove", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if sorted(set(args.scales)) != args.scales or args.scales[0] < 1:
        parser.error("--scales: increasing positive integers, e.g. 1 2 4")

    near = NearDedupConfig()
    bands, rows = bands_rows(near)
    base = {"tasks": args.tasks, "n_grams": near.n_grams, "num_perm": near.num_perm, "bands": bands, "rows": rows,
            "seed": near.seed, "normalize": near.normalize_identifiers, "threshold": near.threshold}
    root, files = corpus_files(args.corpus)
    budget = int(args.mb * 1e6)
    texts = distinct_texts(files, budget * args.scales[-1], args.seed)
    available = sum(len(t.encode()) for t in texts)
    print(f"corpus: {root} ({len(files)} code files; {len(texts)} distinct files, {available / 1e6:.1f} MB read)")
    if available < budget * args.scales[-1]:
        print(f"  WARNING: only {available / 1e6:.1f} MB of distinct code for {args.scales[-1]}x "
              f"{args.mb:g} MB: the largest scales are smaller than asked")
    print(f"NearDedupConfig defaults: {near.n_grams}-grams, {near.num_perm} permutations, {bands} bands x {rows} "
          f"rows, threshold {near.threshold}; datatrove: MinhashConfig(n_grams={near.n_grams}, "
          f"num_buckets={bands}, hashes_per_bucket={rows}) = {bands * rows} hashes")

    by_scale, states, sizes = {}, {}, {}
    with tempfile.TemporaryDirectory(prefix="bench_near_dedup_") as tmp:
        for scale in args.scales:
            docs = scale_documents(texts, budget * scale, args.seed + scale)
            sizes[scale] = sum(len(d.encode()) for d in docs) / 1e6
            work = Path(tmp) / f"x{scale}"
            write_inputs(docs, work / "input", args.tasks)
            job = {**base, "work": str(work / "ours"), "inputs": str(work / "input")}
            by_scale[scale] = run_pipeline("ours", job, args.tasks)
            states[scale] = clustering_state(work / "ours")
            print(f"  {scale}x: {len(docs)} documents, {sizes[scale]:.1f} MB: ours "
                  f"{sum(by_scale[scale][s]['wall'] for s, _ in OUR_STAGES):.1f} s", flush=True)
            if scale == args.scales[0] and not args.skip_datatrove:
                theirs = run_pipeline("theirs", {**job, "work": str(work / "theirs")}, args.tasks)
                print_speed(by_scale[scale], theirs, sizes[scale], len(docs), args.tasks)
            del docs
    print_memory(by_scale, states, sizes, args.grow_limit, args.grow_floor_mib)


if __name__ == "__main__":
    main()
