"""What decontamination and redaction cost inside stage 1 (issue 13, acceptance 3: under 15%).

Runs `curate run pipelines/stage1_8k.yaml` over the registry corpus once, with both steps on as
shipped, and reads the run's own per-step times (datatrove's `time_stats`, summed over tasks) from
OUT/stats/<stage>.json. Everything is from the same run, on the same cores:

    share of task time   (redact + decontaminate) / all steps of all stages
    share of wall time   (redact + decontaminate) / workers / stage-1 wall time

    python benchmarks/bench_safety_share.py --corpus .cache/corpus/src --tokenizer ../shared/tokenizers/telechat3
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STEPS = ("redact", "decontaminate")


def step_seconds(out: Path) -> dict[str, float]:
    """step name -> seconds summed over the tasks of every stage."""
    total: dict[str, float] = {}
    for path in sorted((out / "stats").glob("*.json")):
        for entry in json.loads(path.read_text()):
            timing = entry.get("time_stats")
            if isinstance(timing, dict):
                name = entry["name"].split(": ", 1)[-1]
                total[name] = total.get(name, 0.0) + float(timing.get("total") or 0.0)
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=ROOT / ".cache" / "corpus" / "src")
    parser.add_argument("--tokenizer", default=str(ROOT.parent / "shared" / "tokenizers" / "telechat3"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        paths = "[" + ", ".join(str(args.corpus / d) for d in ("deb", "npm", "pypi")) + "]"
        started = time.perf_counter()
        proc = subprocess.run([str(Path(sys.executable).with_name("curate")), "run", str(ROOT / "pipelines" / "stage1_8k.yaml"),
                               "--out", str(out), "--workers", str(args.workers), "--set", f"inputs.code.paths={paths}",
                               "--set", f"tokenizer.name_or_path={args.tokenizer}"], capture_output=True, text=True, cwd=ROOT)
        wall = time.perf_counter() - started
        if proc.returncode != 0:
            print(proc.stdout[-2000:], proc.stderr[-2000:], file=sys.stderr)
            return 1
        seconds = step_seconds(out)
    safety = sum(seconds.get(s, 0.0) for s in STEPS)
    figures = {"stage1_wall_s": round(wall, 1), "task_seconds_all_steps": round(sum(seconds.values()), 1),
               **{f"{s}_task_s": round(seconds.get(s, 0.0), 1) for s in STEPS},
               "share_of_task_time": round(safety / sum(seconds.values()), 4),
               "share_of_wall_time": round(safety / args.workers / wall, 4), "workers": args.workers}
    print(json.dumps(figures, indent=1))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
