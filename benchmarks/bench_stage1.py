"""Stage 1 end to end against the tokenization floor, on the same input, same cores, same run.

For each scale (1x, 4x, ...):

1. input: the registry corpus (`--corpus`, children of deb/ npm/ pypi/ are repositories). At Nx
   every repository appears N times under new names (`<name>~r1` .. `~r{N-1}`, symlinks to the
   same folder), so ids differ and contents repeat: exact dedup drops the copies, as it would
   drop a re-uploaded fork. That is the realistic workload for repetition, and it is documented
   next to every figure: at Nx, ingest, filters and signatures see N times the bytes, the
   stages after exact dedup about 1x.
2. floor: the fastest exact tokenization of the same input. "Input" = every file ingest reads
   (the same enumeration, `curation.ingest.reader.discover_source` + `repo.files()`, after the
   size and symlink limits that skip a file unread) whose bytes decode as UTF-8 text, and the
   documents of the config's text inputs (`installed_docs`: READMEs, the language reference,
   stdlib docstrings, as their readers yield them; their extraction is not timed): those
   texts, BOM stripped, tokenized by SentencePiece `encode(batch, num_threads=cores)` in batches
   of ~8 MB. Only the encode calls are timed (files are read before the clock starts), so the
   floor is as fast as tokenization gets here; no writing, no ids kept.
3. pipeline: `curate run pipelines/stage1_8k.yaml` as a subprocess, with the default executor
   (4 tasks, 2 workers). While it runs, every process of its tree is polled (`--poll` s): peak
   RSS per process (VmHWM from /proc, exact for task processes; the driver's RSS is sampled per
   stage, since one-task stages run inside it), CPU time per process (utime + stime, assigned to
   the stage that was running when the process first appeared; the driver's CPU is split at stage
   boundaries). Stage boundaries come from the driver's "[stage] ..." lines. (getrusage of
   children cannot give the total: task processes are children of datatrove's forkserver, which
   the driver never waits for.) A process's last 0.1 s can be missed; tasks run for seconds to
   minutes. datatrove's per-step times (wall, summed over tasks) come from
   OUT/logs/<stage>/stats.json.
4. the floor runs again after the pipeline (`--floor-runs 2`, the default); the faster floor run
   is the reference (the machine is shared: the stricter reference is the fair one).
5. a second reference, once per scale after the floor runs: the same texts through the pipeline's
   own exact tokenization, `curation.tokenize.lines.LineEncoder` (SentencePiece ids with each
   distinct line encoded once), in one process per core, each on a contiguous share. It is
   faster than the floor on code, so "pipeline vs it" is the stricter ratio; both are shown.

Ratios: throughput(pipeline) / throughput(floor) = floor wall / pipeline wall (same input
bytes). The CPU ratio (floor CPU / pipeline CPU) is shown too: it is steadier when other
processes compete for the cores.

    PYTHONPATH=. python benchmarks/bench_stage1.py --scales 1 4 --json bench_stage1.json \
        --markdown docs/PERFORMANCE.md
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = ROOT.parent / "main" / ".cache" / "corpus" / "src"
DEFAULT_TOKENIZER = ROOT.parent / "shared" / "tokenizers" / "telechat3"
COLLECTIONS = ("deb", "npm", "pypi")
PIPELINE = ROOT / "pipelines" / "stage1_8k.yaml"
FLOOR_BATCH_BYTES = 8 << 20
MIB = 1 << 20
_STAGE_LINE = re.compile(r"^\[(\w+)\] \d+/\d+ tasks already done")
_CLK = os.sysconf("SC_CLK_TCK")


# --- input -------------------------------------------------------------------------------------


def build_input(corpus: Path, scale: int, work: Path) -> list[str]:
    """The collection folders of one scale: the corpus itself at 1x, a symlink farm above."""
    if scale == 1:
        return [str(corpus / c) for c in COLLECTIONS]
    paths = []
    for c in COLLECTIONS:
        farm = work / f"corpus_{scale}x" / c
        farm.mkdir(parents=True, exist_ok=True)
        for repo in sorted((corpus / c).iterdir()):
            for i in range(scale):
                link = farm / (repo.name if i == 0 else f"{repo.name}~r{i}")
                if not link.exists():
                    link.symlink_to(repo.resolve())
        paths.append(str(farm))
    return paths


def input_texts(paths: list[str]):
    """(texts, bytes read) batches of the files ingest reads, as `IngestReader._classify` decodes them."""
    from curation.config.inputs import RepoInput
    from curation.ingest.filetypes import binary_extension_reason, is_probably_binary
    from curation.ingest.reader import discover_source
    from curation.load import read_pipeline_config
    from curation.text.inputs import TEXT_INPUT_KINDS, iter_items

    config = read_pipeline_config(PIPELINE)
    ingest = config.ingest  # the limits the pipeline reads with
    cfg = RepoInput(kind="repos", paths=paths, rev="HEAD", layout="collection")
    batch, size, read = [], 0, 0
    repos, _ = discover_source(cfg, ingest)
    for repo in repos:
        for f in repo.files():
            if f.drop:
                continue
            read += len(f.data)
            if binary_extension_reason(f.path) or is_probably_binary(f.data):
                continue
            try:
                text = f.data.decode("utf-8")
            except UnicodeDecodeError:
                continue
            if text.startswith("\ufeff"):
                text = text[1:]
            batch.append(text)
            size += len(f.data)
            if size >= FLOOR_BATCH_BYTES:
                yield batch, size, read
                batch, size, read = [], 0, 0
    # The pipeline's text inputs (`code_text`, `stdlib_docs`: READMEs, the language reference,
    # stdlib docstrings) are input too: their documents as the readers yield them.
    for name, inp in sorted(config.inputs.items()):
        if inp.kind in TEXT_INPUT_KINDS:
            for item in iter_items(inp):
                data = item.text.encode("utf-8", "surrogatepass")
                batch.append(item.text)
                size += len(data)
                read += len(data)
                if size >= FLOOR_BATCH_BYTES:
                    yield batch, size, read
                    batch, size, read = [], 0, 0
    if batch or read:
        yield batch, size, read



# --- floor -------------------------------------------------------------------------------------


def tokenization_floor(paths: list[str], tokenizer: Path, threads: int) -> dict:
    """Wall and CPU seconds of SentencePiece batched encode over the input's texts."""
    import sentencepiece

    sp = sentencepiece.SentencePieceProcessor(model_file=str(tokenizer / "tokenizer.model"))
    wall = cpu = 0.0
    tokens = text_bytes = read_bytes = files = 0
    for texts, size, read in input_texts(paths):
        t0, c0 = time.perf_counter(), time.process_time()
        ids = sp.encode(texts, num_threads=threads)
        wall += time.perf_counter() - t0
        cpu += time.process_time() - c0
        tokens += sum(map(len, ids))
        text_bytes += size
        read_bytes += read
        files += len(texts)
        del ids
    return {"wall_s": wall, "cpu_s": cpu, "tokens": tokens, "text_bytes": text_bytes, "read_bytes": read_bytes,
            "files": files, "threads": threads, "mb_per_s": text_bytes / MIB / wall if wall else None}


_LINE_INPUT: list[list[str]] = []  # the batches, read before the clock starts; forked children share them


def _line_share(tokenizer: str, worker: int, workers: int, conn) -> None:
    from curation.config.pipeline import DEFAULT_LINE_CACHE
    from curation.tokenize.lines import LineEncoder
    from curation.tokenize.tokenizer import load_tokenizer

    lines = LineEncoder(load_tokenizer(tokenizer), max_lines=DEFAULT_LINE_CACHE)
    tokens = 0
    c0 = time.process_time()
    # Contiguous runs of batches, as the pipeline's tokenize tasks read contiguous row ranges.
    share = len(_LINE_INPUT)
    for texts in _LINE_INPUT[worker * share // workers:(worker + 1) * share // workers]:
        for at in range(0, len(texts), 256):
            tokens += sum(map(len, lines.encode(texts[at:at + 256])))
    conn.send((time.process_time() - c0, tokens, lines.by_line))
    conn.close()


def line_table_tokenization(paths: list[str], tokenizer: Path, workers: int) -> dict:
    """The second reference: the same texts through `curation.tokenize.lines.LineEncoder` (the same
    ids; each distinct line encoded once per process), in `workers` forked processes that each take
    a contiguous share of the batches, 256 documents per call as the tokenize step. Only the
    encoding is timed: the texts are read before the clock starts."""
    import multiprocessing

    _LINE_INPUT.clear()
    text_bytes = 0
    for texts, size, _ in input_texts(paths):
        _LINE_INPUT.append(texts)
        text_bytes += size
    ctx = multiprocessing.get_context("fork")
    t0 = time.perf_counter()
    pipes, procs = [], []
    for w in range(workers):
        parent, child = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_line_share, args=(str(tokenizer), w, workers, child))
        proc.start()
        pipes.append(parent)
        procs.append(proc)
    results = [p.recv() for p in pipes]
    for proc in procs:
        proc.join()
    wall = time.perf_counter() - t0
    _LINE_INPUT.clear()
    assert all(by_line for _, _, by_line in results), f"{tokenizer}: not a tokenizer that can be encoded by line"
    return {"wall_s": wall, "cpu_s": sum(c for c, _, _ in results), "tokens": sum(t for _, t, _ in results),
            "text_bytes": text_bytes, "workers": workers, "mb_per_s": text_bytes / MIB / wall if wall else None}


# --- pipeline ----------------------------------------------------------------------------------


def _proc_status(pid: int) -> tuple[int, int, float] | None:
    """(VmHWM, VmRSS) in bytes and utime+stime in seconds, or None if the process is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = {}
    for line in status.splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            fields[key] = int(value.split()[0]) * 1024
    after = stat.rsplit(")", 1)[1].split()
    cpu = (int(after[11]) + int(after[12])) / _CLK  # utime, stime (fields 14, 15)
    return fields.get("VmHWM", 0), fields.get("VmRSS", 0), cpu


def _descendants(pid: int) -> list[int]:
    """Every process below `pid` (psutil reads each process's parent; /proc/<pid>/task/*/children
    is not available on every kernel)."""
    import psutil

    try:
        return [p.pid for p in psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _parent(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


class TreeMonitor(threading.Thread):
    """Polls a process tree: per process its stage, peak RSS and CPU; the driver per stage."""

    def __init__(self, root: int, poll: float):
        super().__init__(daemon=True)
        self.root, self.poll = root, poll
        self.stage = "start"
        self.procs: dict[int, dict] = {}
        self.driver_stages: dict[str, dict] = {}
        self.stop = threading.Event()
        self.lock = threading.Lock()

    def set_stage(self, stage: str) -> None:
        with self.lock:
            self._sample()
            self.stage = stage

    def run(self) -> None:
        while not self.stop.is_set():
            with self.lock:
                self._sample()
            time.sleep(self.poll)

    def _sample(self) -> None:
        for pid in [self.root, *_descendants(self.root)]:
            status = _proc_status(pid)
            if status is None:
                continue
            hwm, rss, cpu = status
            if pid == self.root:
                d = self.driver_stages.setdefault(self.stage, {"rss_max": 0, "cpu_start": cpu, "cpu_end": cpu})
                d["rss_max"] = max(d["rss_max"], rss)
                d["cpu_end"] = cpu
                continue
            p = self.procs.get(pid)
            if p is None:
                try:
                    cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                except OSError:
                    cmd = ""
                # The driver's own children are helpers (datatrove's forkserver, the resource
                # tracker); task processes are forked from the forkserver.
                p = self.procs[pid] = {"stage": self.stage, "hwm": 0, "cpu": 0.0, "cmd": cmd[:80],
                                       "forkserver": _parent(pid) == self.root}
            p["hwm"] = max(p["hwm"], hwm)
            p["cpu"] = max(p["cpu"], cpu)


def run_pipeline(paths: list[str], out: Path, tokenizer: Path, poll: float, extra_sets: list[str]) -> dict:
    cmd = [sys.executable, "-m", "curation.cli", "run", str(PIPELINE), "--out", str(out),
           "--set", f"inputs.code.paths=[{','.join(paths)}]", "--set", f"tokenizer.name_or_path={tokenizer}"]
    for s in extra_sets:
        cmd += ["--set", s]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    monitor = TreeMonitor(proc.pid, poll)
    monitor.start()
    stages: list[tuple[str, float]] = []
    log = []
    for line in proc.stdout:
        log.append(line)
        m = _STAGE_LINE.match(line)
        if m:
            stages.append((m.group(1), time.perf_counter() - t0))
            monitor.set_stage(m.group(1))
    code = proc.wait()
    wall = time.perf_counter() - t0
    monitor.stop.set()
    monitor.join()
    (out / "bench_driver.log").write_text("".join(log))
    if code != 0:
        raise RuntimeError(f"curate run failed ({code}); log: {out / 'bench_driver.log'}\n{''.join(log[-20:])}")

    per_stage = {}
    bounds = stages + [("end", wall)]
    for (name, start), (_, end) in zip(bounds, bounds[1:]):
        tasks = [p for p in monitor.procs.values() if p["stage"] == name and not p["forkserver"]]
        driver = monitor.driver_stages.get(name, {"rss_max": 0, "cpu_start": 0.0, "cpu_end": 0.0})
        driver_cpu = driver["cpu_end"] - driver["cpu_start"]
        per_stage[name] = {
            "wall_s": end - start,
            "cpu_s": sum(p["cpu"] for p in tasks) + driver_cpu,
            "task_processes": len(tasks),
            "peak_rss_task_mb": max((p["hwm"] for p in tasks), default=0) / MIB,
            "peak_rss_driver_mb": driver["rss_max"] / MIB,
            "steps": step_times(out / "logs" / name / "stats.json"),
        }
    return {
        "wall_s": wall,
        "cpu_s": sum(s["cpu_s"] for s in per_stage.values()),
        "stages": per_stage,
        "peak_rss_any_process_mb": max([p["hwm"] for p in monitor.procs.values()]
                                       + [d["rss_max"] for d in monitor.driver_stages.values()]) / MIB,
        "processes": len(monitor.procs) + 1,
        "helpers": [{"cmd": p["cmd"], "peak_rss_mb": p["hwm"] / MIB, "cpu_s": p["cpu"]}
                    for p in monitor.procs.values() if p["forkserver"]],
        "outputs": output_sizes(out),
    }


def step_times(stats_file: Path) -> dict:
    """datatrove's time per step (summed over tasks) from a stage's merged stats."""
    if not stats_file.exists():
        return {}
    times = {}
    for step in json.loads(stats_file.read_text()):
        name = step.get("name", "?")
        t = step.get("time_stats") or {}
        total = t.get("total") if isinstance(t, dict) else None
        if total is not None:
            times[name] = round(times.get(name, 0.0) + total, 2)
    return times


def output_sizes(out: Path) -> dict:
    import pyarrow.parquet as pq

    result = {}
    for name in ("docs", "tokens", "shards"):
        files = sorted((out / name).rglob("*.parquet"))
        result[f"{name}_bytes"] = sum(f.stat().st_size for f in files)
        if name == "docs":
            result["docs"] = sum(pq.read_metadata(f).num_rows for f in files)
    index = out / "shards" / "index.json"
    if index.exists():
        data = json.loads(index.read_text())
        result["tokens_out"] = (data.get("totals") or {}).get("tokens_out")
    return result


# --- report ------------------------------------------------------------------------------------


def markdown(results: dict) -> str:
    lines = []
    meta = results["meta"]
    lines.append(f"Measured by `benchmarks/bench_stage1.py` on {meta['date']}, {meta['cores']} cores "
                 f"(shared with other jobs; load average at start {meta['load']}), tokenizer TeleChat3 "
                 f"(SentencePiece), `pipelines/stage1_8k.yaml` defaults ({meta['tasks']}).\n")
    lines.append("| scale | input MB (text) | floor s (MB/s) | pipeline s | throughput vs floor | CPU vs floor "
                 "| line-table tokenization s | pipeline vs it | pipeline CPU s | peak RSS, any process | docs kept |")
    lines.append("|---|---|---|---|---|---|---|---|---|---|---|")
    for key, r in results["scales"].items():
        f, p = r["floor"], r["pipeline"]
        lf = r.get("line_floor")
        line_cells = f"{lf['wall_s']:.1f} | {r['ratio_wall_line_floor']:.2f}x" if lf else "| "
        lines.append(
            f"| {key} | {f['text_bytes'] / MIB:.0f} | {f['wall_s']:.1f} ({f['mb_per_s']:.1f}) | {p['wall_s']:.1f} "
            f"| **{r['ratio_wall']:.2f}x** | {r['ratio_cpu']:.2f}x | {line_cells} | {p['cpu_s']:.0f} "
            f"| {p['peak_rss_any_process_mb']:.0f} MB | {p['outputs'].get('docs')} |")
    if "4x" in results["scales"] and "1x" in results["scales"]:
        lines.append(f"\n4x / 1x pipeline time: **{results['time_ratio_4x_1x']:.2f}x** "
                     f"(floor: {results['floor_ratio_4x_1x']:.2f}x).\n")
    for key, r in results["scales"].items():
        lines.append(f"\n{key}, per stage (wall and CPU seconds; peak RSS of its task processes, and of the "
                     "driver, which runs one-task stages itself):\n")
        lines.append("| stage | wall s | CPU s | tasks | peak RSS task | peak RSS driver | datatrove step times (s, summed over tasks) |")
        lines.append("|---|---|---|---|---|---|---|")
        for name, s in r["pipeline"]["stages"].items():
            steps = ", ".join(f"{k} {v}" for k, v in s["steps"].items())
            lines.append(f"| {name} | {s['wall_s']:.1f} | {s['cpu_s']:.1f} | {s['task_processes']} "
                         f"| {s['peak_rss_task_mb']:.0f} MB | {s['peak_rss_driver_mb']:.0f} MB | {steps} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--tokenizer", type=Path, default=DEFAULT_TOKENIZER)
    ap.add_argument("--scales", type=int, nargs="+", default=[1, 4])
    ap.add_argument("--work", type=Path, default=Path("/tmp/bench_stage1"))
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--poll", type=float, default=0.1)
    ap.add_argument("--floor-runs", type=int, default=2, help="floor runs per scale: before the pipeline, then after")
    ap.add_argument("--set", dest="sets", action="append", default=[], help="extra curate --set overrides")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--markdown", type=Path)
    args = ap.parse_args()
    if not (args.corpus / "deb").exists():
        sys.exit(f"{args.corpus}: no registry corpus (deb/ npm/ pypi/); build it with ../shared/scripts/build_corpus.sh")
    import shutil

    results = {"meta": {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cores": os.cpu_count(),
                        "load": os.getloadavg()[0], "tasks": "4 tasks, 2 workers", "corpus": str(args.corpus),
                        "sets": args.sets},
               "scales": {}}
    for scale in args.scales:
        key = f"{scale}x"
        paths = build_input(args.corpus, scale, args.work)
        out = args.work / f"out_{key}"
        shutil.rmtree(out, ignore_errors=True)
        floors = [tokenization_floor(paths, args.tokenizer, args.threads)]
        print(f"[{key}] floor: {floors[0]['text_bytes'] / MIB:.0f} MB in {floors[0]['wall_s']:.1f} s", flush=True)
        pipe = run_pipeline(paths, out, args.tokenizer, args.poll, args.sets)
        print(f"[{key}] pipeline: {pipe['wall_s']:.1f} s wall, {pipe['cpu_s']:.0f} s CPU", flush=True)
        for _ in range(args.floor_runs - 1):
            floors.append(tokenization_floor(paths, args.tokenizer, args.threads))
            print(f"[{key}] floor again: {floors[-1]['wall_s']:.1f} s", flush=True)
        floor = min(floors, key=lambda f: f["wall_s"])
        line_floor = line_table_tokenization(paths, args.tokenizer, args.threads)
        print(f"[{key}] line-table tokenization: {line_floor['wall_s']:.1f} s", flush=True)
        results["scales"][key] = {
            "paths": paths, "floor": floor, "floor_runs_wall_s": [f["wall_s"] for f in floors], "pipeline": pipe,
            "ratio_wall": floor["wall_s"] / pipe["wall_s"], "ratio_cpu": floor["cpu_s"] / pipe["cpu_s"],
            "line_floor": line_floor, "ratio_wall_line_floor": line_floor["wall_s"] / pipe["wall_s"],
        }
        shutil.rmtree(out / "work", ignore_errors=True)
        if args.json:  # each scale as soon as it is measured
            args.json.write_text(json.dumps(results, indent=1))
    s = results["scales"]
    if "1x" in s and "4x" in s:
        results["time_ratio_4x_1x"] = s["4x"]["pipeline"]["wall_s"] / s["1x"]["pipeline"]["wall_s"]
        results["floor_ratio_4x_1x"] = s["4x"]["floor"]["wall_s"] / s["1x"]["floor"]["wall_s"]
    text = markdown(results)
    print(text)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(text)


if __name__ == "__main__":
    main()
