"""`curate train-quality` and `curate recall-text`: thin commands over curation.quality.

The lead wires them into curation/cli.py:

    from curation.quality.cli import COMMANDS as QUALITY_COMMANDS, add_parsers as add_quality_parsers
    add_quality_parsers(sub)                 # after the other sub.add_parser calls
    handlers.update(QUALITY_COMMANDS)        # command name -> function(args) -> exit code
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXAMPLES = {
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
}


def _train_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, default=0, help="split and training seed (default 0); same seed, same model")
    p.add_argument("--test-fraction", type=float, default=0.2, help="held-out share of each label's files (default 0.2)")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--lr", type=float, default=0.5)
    p.add_argument("--word-ngrams", type=int, default=2, help=">= 2 (see curation/quality/fasttext_train.py)")
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--text-key", default="text", help="text column of jsonl/parquet sources (default text)")


def add_parsers(sub) -> None:
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


def _train_kwargs(args) -> dict:
    return dict(test_fraction=args.test_fraction, epochs=args.epochs, lr=args.lr, wordNgrams=args.word_ngrams, dim=args.dim)


def _cap(docs: list, limit: int | None, seed: int) -> list:
    """At most `limit` documents per label, sampled (one big source must not be the whole class)."""
    if not limit:
        return docs
    import random

    by_label: dict[str, list] = {}
    for d in docs:
        by_label.setdefault(d.label, []).append(d)
    rng = random.Random(seed)
    out = []
    for label in sorted(by_label):
        group = by_label[label]
        out += group if len(group) <= limit else rng.sample(group, limit)
    return out


def cmd_train_quality(args) -> int:
    from curation.quality.fasttext_train import train_classifier
    from curation.quality.sources import read_source

    if not (args.positive and args.negative) and not args.input:
        raise ValueError("give --positive and --negative sources, or --input with --label-key")
    docs = []
    for spec in args.positive:
        docs += read_source(spec, args.positive_label, text_key=args.text_key)
    for spec in args.negative:
        docs += read_source(spec, args.negative_label, text_key=args.text_key)
    for spec in args.input:
        docs += read_source(spec, None, text_key=args.text_key, label_key=args.label_key)
    docs = _cap(docs, args.max_per_label, args.seed)
    _, report = train_classifier(docs, positive=args.positive_label, seed=args.seed, model_path=args.out,
                                 version=args.version, **_train_kwargs(args))
    print(report.summary())
    print(f"\nmodel {args.out} (sha256 {report.model_sha256[:16]}), report {args.out}.json; "
          f"documents get score_{args.name}_v{args.version}")
    return 0


def cmd_recall_text(args) -> int:
    from curation.quality.recall import recall_loop
    from curation.quality.sources import read_source

    seeds = [d for spec in args.seeds for d in read_source(spec, "code_related", text_key=args.text_key)]
    pool = [d for spec in args.pool
            for d in read_source(spec, None if args.pool_label_key else "unlabelled", text_key=args.text_key,
                                 label_key=args.pool_label_key)]
    reports = recall_loop(seeds, pool, args.out, rounds=args.rounds, threshold=args.threshold,
                          truth_labelled=bool(args.pool_label_key), seed=args.seed, **_train_kwargs(args))
    for r in reports:
        measured = f"  precision {r.precision:.4f} recall {r.recall:.4f}" if r.recall is not None else ""
        print(f"round {r.round}: {r.positives} positives, {r.negatives} negatives, held-out F1 {r.held_out_f1:.4f}, "
              f"recalled {r.recalled}/{r.pool}{measured}  -> {r.recalled_file}")
    print(f"\nreport {args.out / 'recall_report.json'}; next model: {reports[-1].model}")
    return 0


COMMANDS = {"train-quality": cmd_train_quality, "recall-text": cmd_recall_text}


def main(argv: list[str] | None = None) -> int:
    """Run the two commands on their own (`python -m curation.quality.cli ...`) until wired in."""
    parser = argparse.ArgumentParser(prog="curate")
    add_parsers(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except (ValueError, FileNotFoundError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
