"""`curate`: a thin command line over the library.

This module is the tool's whole interface (every command, its arguments and an example) and
imports nothing but the standard library, so `curate --help` is instant. A command's code is
imported when that command runs, by the module path in `HANDLERS` (pip's lazy command registry).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from curation.forkserver import run_needs_forkserver, start_forkserver

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
    "report": """example:
  curate report out/stage1          # then open out/stage1/report.html (one file, works offline)""",
    "status": """example:
  curate run pipelines/stage1_8k.yaml --out out/stage1 --executor slurm --set executor.partition=cpu
  curate status out/stage1          # done / running / failed per stage and task, with log paths
  curate status out/stage1 --json""",
}

EXAMPLES.update({
    "train-quality": """examples:
  # code-related text vs general prose, from data every machine can fetch (the acceptance run)
  curate train-quality --positive registry-docs:.cache/corpus/src --negative debian-prose \\
      --name code_text --out models/code_text.bin
  # two sources of your own
  curate train-quality --positive docs.jsonl --negative web.parquet --out models/code_text.bin
  # one file with a label column
  curate train-quality --input labelled.parquet --label-key label --positive-label good --out models/quality.bin""",
    "recall-text": """example:
  # seeds -> train -> recall from the pool -> retrain on seeds + recalled, twice
  curate recall-text --seeds registry-docs:.cache/corpus/src --pool web.jsonl --rounds 2 \\
      --threshold 0.5 --out out/recall
  # then score with the last round's model in a pipeline, and threshold in YAML:
  #   quality: {models: {code_text: out/recall/round1.bin}}
  #   thresholds: {score_code_text_v1: {min: 0.5, kinds: [text]}}""",
})

PLAN_HELP = "Plan a mixture: tokens available and targeted per source, epochs, warnings; writes plan.json."
PLAN_EXAMPLE = """example:
  curate plan mixtures/stage1_8k.yaml --tokens out/stage1/tokens
  curate plan mixtures/stage1_8k.yaml --tokens out/stage1/tokens --out out/stage1/plan.json

The table shows, per source: documents and tokens available (ids + one EOS each), the share the
mixture asks for, the target tokens, the share they give, and epochs = target / available.
Exit status 1 when a required source has no tokens."""


FORMATS = ("megatron", "mindrecord")
EXPORT_HELP = "Export a run's shards for Megatron-LM / NeMo (indexed datasets) or MindFormers (MindRecord)."
EXPORT_EXAMPLE = """example:
  curate export out/stage1 --format megatron                # -> out/stage1/export/megatron
  curate export out/stage1 --format mindrecord --to /data/stage1-mindrecord

megatron: sources/<source>.bin/.idx (documents + EOD, one dataset per plan source), blend.json and
data_args.txt (`--data-path w1 p1 w2 p2 ...` reproducing the plan's shares), packed/rows.bin/.idx
(one sequence per shard row) with loss-mask and cu_seqlens sidecars. Needs megatron-core.
mindrecord: the shard rows as MindRecord (input_ids, labels, loss_mask, position_ids,
actual_seq_len) for MindFormers' CausalLanguageModelDataset. Needs mindspore.

The shard contract is checked while reading; a mismatch stops the export with the file and row.
A re-run skips outputs whose files still match the sizes and hashes recorded when they were made."""


def add_export_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("export", help=EXPORT_HELP, description=EXPORT_HELP, epilog=EXPORT_EXAMPLE,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_arguments(p)
    return p


def _add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("out", type=Path, help="the output folder of a finished `curate run` (holds shards/, tokens/)")
    p.add_argument("--format", required=True, choices=FORMATS, help="the trainer's format")
    p.add_argument("--to", type=Path, help="where to write (default: OUT/export/FORMAT)")


# command -> "module:function" that runs it (imported only when the command is used)
HANDLERS = {
    "run": "curation.commands:cmd_run",
    "validate": "curation.commands:cmd_validate",
    "inspect": "curation.commands:cmd_inspect",
    "demo": "curation.commands:cmd_demo",
    "status": "curation.commands:cmd_status",
    "report": "curation.commands:cmd_report",
    "export": "curation.export.cli:export_command",
    "plan": "curation.mixture.cli:cmd_plan",
    "train-quality": "curation.quality.cli:cmd_train_quality",
    "recall-text": "curation.quality.cli:cmd_recall_text",
}


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", help="output folder or URL, e.g. s3://bucket/run (default: out/<pipeline name>)")
    p.add_argument("--executor", choices=["local", "slurm", "ray"],
                   help="where tasks run (default: the config's executor.kind); cluster settings: "
                        "--set executor.partition=cpu --set executor.time=04:00:00 --set executor.ray_address=HOST:PORT")
    p.add_argument("--tasks", type=int, help="number of tasks (default: the config's executor.tasks)")
    p.add_argument("--workers", type=int, help="tasks run at once (default: the config's executor.workers)")
    p.add_argument("--limit", type=int, help="read at most N files per input per task (a quick small run)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override any config key, e.g. --set pack.seq_len=4096 (value parsed as YAML)")


def _train_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, default=0, help="split and training seed (default 0); same seed, same model")
    p.add_argument("--test-fraction", type=float, default=0.2, help="held-out share of each label's files (default 0.2)")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--lr", type=float, default=0.5)
    p.add_argument("--word-ngrams", type=int, default=2, help=">= 2 (see curation/quality/fasttext_train.py)")
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--text-key", default="text", help="text column of jsonl/parquet sources (default text)")


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
    p.add_argument("out", help="an output folder of `curate run`, or its URL (s3://bucket/run)")
    p.add_argument("--sql", help="a DuckDB query over the views docs, removed, tokens, shards")

    p = command("demo", "Run the embedded demo pipeline offline on code installed on this machine.")
    p.add_argument("--out", type=Path, default=Path("out/demo"), help="output folder (default: out/demo)")
    p.add_argument("--tokenizer", help="tokenizer folder or hub id (default: TeleChat3, with an offline fallback)")
    p.add_argument("--tasks", type=int, help="number of tasks (default 2)")
    p.add_argument("--workers", type=int, help="tasks run at once (default 2)")

    p = command("report", "Write OUT/report.html (one self-contained page) and OUT/report.json: funnel, drops, "
                          "languages, token shares, lengths, fill, dedup, decontamination, redaction, time, memory.")
    p.add_argument("out", help="an output folder of `curate run`, or its URL (s3://bucket/run)")

    p = command("status", "Show which stages and tasks of a run are done, running or failed, with their logs.")
    p.add_argument("out", help="an output folder of `curate run`, or its URL (s3://bucket/run)")
    p.add_argument("--json", action="store_true", help="print the status as JSON")

    add_plan_parser(sub)
    add_quality_parsers(sub)
    add_export_parser(sub)
    return parser


def add_plan_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("plan", help=PLAN_HELP, description=PLAN_HELP, epilog=PLAN_EXAMPLE,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mixture", type=Path, help="mixture config (mixtures/*.yaml)")
    p.add_argument("--tokens", type=Path, required=True, help="the tokens folder of a run: OUT/tokens")
    p.add_argument("--out", type=Path, help="where to write plan.json (default: next to the tokens folder)")
    return p


def add_quality_parsers(sub) -> None:
    def command(name, help):
        return sub.add_parser(name, help=help, description=help, epilog=EXAMPLES[name],
                              formatter_class=argparse.RawDescriptionHelpFormatter)

    p = command("train-quality", "Train a fastText classifier from labelled documents; report held-out precision, recall, F1.")
    p.add_argument("--positive", action="append", default=[], metavar="SOURCE", help="documents of the positive label (repeatable)")
    p.add_argument("--negative", action="append", default=[], metavar="SOURCE", help="documents of the negative label (repeatable)")
    p.add_argument("--input", action="append", default=[], metavar="SOURCE", help="documents labelled by --label-key")
    p.add_argument("--label-key", help="label column of --input sources")
    p.add_argument("--positive-label", default="code_related", help="name of the positive label (default code_related)")
    p.add_argument("--negative-label", default="general", help="name of the negative label (default general)")
    p.add_argument("--max-per-label", type=int, help="sample at most this many documents per label")
    p.add_argument("--name", default="code_text", help="score name: documents get score_<name>_v<version> (default code_text)")
    p.add_argument("--version", type=int, default=1, help="score version (default 1)")
    p.add_argument("--out", type=Path, required=True, help="model file (.bin); the report goes to <out>.json")
    _train_options(p)

    p = command("recall-text", "Recall code-related text from a pool: seed, train, recall, retrain (DeepSeek-Coder / OpenCoder).")
    p.add_argument("--seeds", action="append", required=True, metavar="SOURCE", help="code-related seed documents (repeatable)")
    p.add_argument("--pool", action="append", required=True, metavar="SOURCE", help="general text to recall from (repeatable)")
    p.add_argument("--pool-label-key", help="a column with true labels in the pool: report precision and recall per round")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--threshold", type=float, default=0.5, help="recall documents with P(code_related) >= this")
    p.add_argument("--out", type=Path, required=True, help="folder for round<k>.bin, round<k>.recalled.jsonl, recall_report.json")
    _train_options(p)


def handler(command: str):
    module, _, function = HANDLERS[command].partition(":")
    return getattr(importlib.import_module(module), function)


def _start_forkserver_early(args) -> None:
    """Before the run command's imports: the forkserver's preload then runs beside them
    (curation.forkserver, which imports only the standard library, yaml and multiprocess)."""
    if run_needs_forkserver(args.pipeline, list(args.overrides), args.executor, args.workers):
        start_forkserver()


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 0
    if args.command == "run":
        _start_forkserver_early(args)
    try:
        return handler(args.command)(args)
    except KeyboardInterrupt:
        print("interrupted: re-run the same command to continue; finished tasks are skipped", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 - the CLI's last line of defence: one clear line, not a traceback
        # Our own errors (curation.errors.CurationError) say which exit code they mean: 2 for a
        # config that is wrong, 1 for a run that failed.
        code = getattr(err, "exit_code", None)
        if code is None and isinstance(err, (FileNotFoundError, ValueError, RuntimeError)):
            code = 1
        if code is None:
            raise
        print(f"error: {err}", file=sys.stderr)
        return code


if __name__ == "__main__":
    sys.exit(main())
