"""The commands of `curate` that run pipelines and read their outputs (see curation.cli)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import duckdb

from curation.demo import run_demo
from curation.inspect import query, summary
from curation.load import load_pipeline
from curation.mirror import readable_out
from curation.pipeline import run_pipeline
from curation.report.build import write_report
from curation.schema import ConfigError
from curation.status import format_status, status
from curation.validate import validate_file


def cmd_run(args) -> int:
    overrides = list(args.overrides)
    for flag, key in (("executor", "executor.kind"), ("tasks", "executor.tasks"), ("workers", "executor.workers"),
                      ("limit", "limit")):
        value = getattr(args, flag)
        if value is not None:
            overrides.append(f"{key}={value}")
    pipeline = load_pipeline(args.pipeline, overrides)
    run_pipeline(pipeline, args.out or Path("out") / pipeline.config.name)
    return 0


def cmd_validate(args) -> int:
    failed = 0
    for path in args.files:
        try:
            kind = validate_file(path)
            print(f"ok    {path} ({kind})")
        except ConfigError as err:
            failed += 1
            print(f"error {err}")
    return 1 if failed else 0


def cmd_inspect(args) -> int:

    try:
        out, _ = readable_out(args.out)
        print(query(out, args.sql) if args.sql else summary(out))
    except duckdb.Error as err:
        print(f"error: {args.out}: {err}", file=sys.stderr)
        return 2
    return 0


def cmd_demo(args) -> int:
    run_demo(out=args.out, tokenizer=args.tokenizer, tasks=args.tasks, workers=args.workers)
    return 0


def cmd_status(args) -> int:
    """Exit code 1 when a task failed, so scripts can tell."""

    out, _ = readable_out(args.out, skip=("work/", "docs/", "removed/", "tokens/", "dedup/", "shards/part-"))
    data = status(out)
    print(json.dumps(data, indent=2) if args.json else format_status(data))
    return 1 if any(stage["state"] == "failed" for stage in data["stages"]) else 0


def cmd_report(args) -> int:
    out, mirror = readable_out(args.out)
    json_path, html_path = write_report(out)
    if mirror:
        mirror.push()
        json_path, html_path = f"{mirror.url}/{json_path.name}", f"{mirror.url}/{html_path.name}"
    print(f"{html_path}\n{json_path}")
    return 0

