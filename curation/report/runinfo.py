"""The figures of a run that live in its JSON files: the plan and what the shards realized,
decontamination, and the time and memory of every stage (datatrove's logs and stats).

Every file is optional: a run that stopped early, or a pipeline without a step, still gets a
report, with the missing figures shown as absent rather than as zeros.
"""

from __future__ import annotations

import json
from pathlib import Path

from curation.report.memory import PEAK_RSS_STAT


def _load(path: Path):
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except ValueError as err:
        raise ValueError(f"{path}: not valid JSON: {err}") from None


def overview(out: Path) -> dict:
    run = _load(out / "run.json") or {}
    index = _load(out / "shards" / "index.json") or {}
    tokenizer = index.get("tokenizer") or {}
    return {"pipeline": run.get("name") or index.get("pipeline"), "stage": index.get("stage"),
            "seq_len": index.get("seq_len"), "tokenizer": tokenizer.get("name"),
            "vocab_size": tokenizer.get("vocab_size"), "code_version": index.get("code_version"),
            "shard_files": len(index.get("shards") or []), **(index.get("totals") or {})}


def sources(out: Path) -> list[dict]:
    """Per source: the share the mixture asked for and the plan set, the tokens it targeted and
    had, and the tokens the shards realized (index.json) with their share."""
    plan = _load(out / "plan.json") or {}
    index = _load(out / "shards" / "index.json") or {}
    realized = index.get("realized") or {}
    total = sum(realized.values())
    planned = {s["source"]: s for s in plan.get("sources") or []}
    rows = []
    for name in sorted(set(planned) | set(realized)):
        p = planned.get(name, {})
        tokens = realized.get(name, 0)
        rows.append({"source": name, "group": p.get("group"), "asked_share": p.get("asked_share"),
                     "planned_share": p.get("share"), "available_tokens": p.get("available_tokens"),
                     "target_tokens": p.get("target_tokens"), "epochs": p.get("epochs"),
                     "realized_tokens": tokens, "realized_share": tokens / total if total else None})
    return rows


def decontamination(out: Path) -> dict | None:
    """OUT/decontamination.json as the decontamination step wrote it (per benchmark: items
    matched, documents affected, tokens removed, examples), or None when the run has none."""
    return _load(out / "decontamination.json")


def stages(out: Path) -> list[dict]:
    """Per stage (executor run), in the order they started: wall time from job.json, time per
    step and peak memory per task from datatrove's merged stats (stats/<stage>.json)."""
    rows = []
    logs = out / "logs"
    for folder in sorted(logs.iterdir()) if logs.is_dir() else []:
        job = _load(folder / "job.json")
        if job is None:
            continue
        merged = _load(out / "stats" / f"{folder.name}.json") or _load(folder / "stats.json") or []
        steps, peak = [], None
        for entry in merged:
            name = entry.get("name", "").split(": ", 1)[-1]
            timing = entry.get("time_stats")
            if isinstance(timing, dict):  # 0 when the step tracked no time (a plan step, a probe)
                steps.append({"step": name, "seconds": timing.get("total")})
            stat = (entry.get("stats") or {}).get(PEAK_RSS_STAT)
            if isinstance(stat, dict):  # datatrove merges a per-task value into total / min / max
                peak = max(peak or 0, stat.get("max", stat.get("total", 0)))
        started, finished = job.get("started"), job.get("finished")
        rows.append({"stage": folder.name, "kind": job.get("kind"), "tasks": job.get("tasks"),
                     "started": started, "finished": finished,
                     "wall_seconds": finished - started if started is not None and finished is not None else None,
                     "peak_rss_bytes": peak, "steps": steps})
    return sorted(rows, key=lambda r: (r["started"] is None, r["started"] or 0, r["stage"]))
