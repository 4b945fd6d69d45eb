"""`curate`: a thin command line over the library. Heavy imports happen inside the commands."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

EXAMPLES = {
    "run": """example:
  curate run pipelines/stage1_8k.yaml --out out/stage1 --tasks 8 --workers 2 \\
      --set inputs.code.paths=[/data/repos] --set pack.seq_len=8192""",
    "validate": """example:
  curate validate pipelines/*.yaml filters/code.yaml mixtures/stage1_8k.yaml""",
    "inspect": """example:
  curate inspect out/stage1
  curate inspect out/stage1 --sql "SELECT reason, count(*) FROM removed GROUP BY reason ORDER BY 2 DESC\"""",
    "demo": """example:
  curate demo --out out/demo
  curate demo --tokenizer /models/telechat3     # a local copy of the TeleChat3 tokenizer""",
    "status": """example:
  curate run pipelines/stage1_8k.yaml --out out/stage1 --executor slurm --set executor.partition=cpu
  curate status out/stage1          # done / running / failed per stage and task, with log paths
  curate status out/stage1 --json""",
}


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, help="output folder (default: out/<pipeline name>)")
    p.add_argument("--executor", choices=["local", "slurm", "ray"],
                   help="where tasks run (default: the config's executor.kind); cluster settings: "
                        "--set executor.partition=cpu --set executor.time=04:00:00 --set executor.ray_address=HOST:PORT")
    p.add_argument("--tasks", type=int, help="number of tasks (default: the config's executor.tasks)")
    p.add_argument("--workers", type=int, help="tasks run at once (default: the config's executor.workers)")
    p.add_argument("--limit", type=int, help="read at most N files per input per task (a quick small run)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override any config key, e.g. --set pack.seq_len=4096 (value parsed as YAML)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="curate",
        description="Curate code and text into tokenized, packed Parquet shards for continued pretraining.",
        epilog="example:\n  curate demo\n  curate run pipelines/stage1_8k.yaml --out out/stage1\n"
               "  curate inspect out/stage1 --sql \"SELECT lang, count(*) FROM docs GROUP BY lang\"",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(name, help):
        return sub.add_parser(name, help=help, description=help, epilog=EXAMPLES[name],
                              formatter_class=argparse.RawDescriptionHelpFormatter)

    p = command("run", "Run a pipeline config end to end: ingest, filter, dedup, tokenize, pack.")
    p.add_argument("pipeline", type=Path, help="pipeline config (pipelines/*.yaml)")
    _add_run_options(p)

    p = command("validate", "Check config files (pipelines, filters, mixtures) against their schemas.")
    p.add_argument("files", nargs="+", type=Path)

    p = command("inspect", "Summarize an output folder, or run SQL over its views docs, removed, tokens, shards.")
    p.add_argument("out", type=Path, help="an output folder of `curate run`")
    p.add_argument("--sql", help="a DuckDB query over the views docs, removed, tokens, shards")

    p = command("demo", "Run the embedded demo pipeline offline on code installed on this machine.")
    p.add_argument("--out", type=Path, default=Path("out/demo"), help="output folder (default: out/demo)")
    p.add_argument("--tokenizer", help="tokenizer folder or hub id (default: TeleChat3, with an offline fallback)")
    p.add_argument("--tasks", type=int, help="number of tasks (default 2)")
    p.add_argument("--workers", type=int, help="tasks run at once (default 2)")

    p = command("status", "Show which stages and tasks of a run are done, running or failed, with their logs.")
    p.add_argument("out", type=Path, help="an output folder of `curate run`")
    p.add_argument("--json", action="store_true", help="print the status as JSON")

    from curation.mixture.cli import add_plan_parser
    from curation.quality.cli import add_parsers as add_quality_parsers

    add_plan_parser(sub)
    add_quality_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 0
    from curation.schema import ConfigError

    try:
        return handlers()[args.command](args)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: re-run the same command to continue; finished tasks are skipped", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 - the CLI's last line of defence: one clear line, not a traceback
        from curation.pipeline import PipelineError
        from curation.tokenize.tokenizer import TokenizerError

        if isinstance(err, (PipelineError, TokenizerError, FileNotFoundError, ValueError, RuntimeError)):
            print(f"error: {err}", file=sys.stderr)
            return 1
        raise


def handlers() -> dict:
    from curation.mixture.cli import cmd_plan
    from curation.quality.cli import COMMANDS as QUALITY_COMMANDS

    return {"run": cmd_run, "validate": cmd_validate, "inspect": cmd_inspect, "demo": cmd_demo, "status": cmd_status, "plan": cmd_plan,
            **QUALITY_COMMANDS}


def cmd_run(args) -> int:
    from curation.config import load_pipeline

    overrides = list(args.overrides)
    for flag, key in (("executor", "executor.kind"), ("tasks", "executor.tasks"), ("workers", "executor.workers"),
                      ("limit", "limit")):
        value = getattr(args, flag)
        if value is not None:
            overrides.append(f"{key}={value}")
    cfg = load_pipeline(args.pipeline, overrides)
    out = args.out or Path("out") / cfg.name
    run_config(cfg, args.pipeline, out)
    return 0


def run_config(cfg, config_path, out, *, tokenizer=None) -> None:
    """Resolve the tokenizer, compile the runs, execute them and print the summary."""
    from curation.inspect import DUCKDB_EXAMPLE, summary
    from curation.pipeline import Layout, check_inputs, compile_runs, execute, guard_output_folder

    check_inputs(cfg, config_path)
    layout = Layout(out)
    guard_output_folder(cfg, layout)
    if tokenizer is None:
        from curation.tokenize.tokenizer import load_tokenizer

        tokenizer = load_tokenizer(cfg.tokenizer.name_or_path)
    print(f"curate: {cfg.name} -> {layout.out}  (tokenizer {tokenizer.name}, {tokenizer.backend}, "
          f"{cfg.executor.tasks} tasks x {cfg.executor.workers} workers)", flush=True)
    if cfg.dedup.near:
        near = cfg.dedup.near
        bands, rows = near.bands_rows()
        print(f"near-dedup: Jaccard >= {near.threshold} over {near.n_grams}-grams, {near.num_perm} permutations "
              f"-> {bands} bands x {rows} rows", flush=True)
    start = time.time()
    runs = compile_runs(cfg, layout, config_path, tokenizer.path, tokenizer.name)
    execute(runs, layout, executor=cfg.executor.model_dump(), progress=lambda msg: print(msg, flush=True))
    print(f"\nDone in {time.time() - start:.1f}s\n")
    print(summary(layout.out))
    print()
    print(DUCKDB_EXAMPLE.format(out=layout.out))


def cmd_validate(args) -> int:
    from curation.schema import ConfigError
    from curation.validate import validate_file

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
    import duckdb

    from curation.inspect import query, summary

    try:
        print(query(args.out, args.sql) if args.sql else summary(args.out))
    except duckdb.Error as err:
        print(f"error: {args.out}: {err}", file=sys.stderr)
        return 2
    return 0


def cmd_demo(args) -> int:
    from curation.demo import run_demo

    run_demo(out=args.out, tokenizer=args.tokenizer, tasks=args.tasks, workers=args.workers)
    return 0


def cmd_status(args) -> int:
    """Exit code 1 when a task failed, so scripts can tell."""
    import json

    from curation.status import format_status, status

    data = status(args.out)
    print(json.dumps(data, indent=2) if args.json else format_status(data))
    return 1 if any(stage["state"] == "failed" for stage in data["stages"]) else 0


if __name__ == "__main__":
    sys.exit(main())
