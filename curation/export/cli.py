"""`curate export OUT --format megatron|mindrecord [--to DIR]`: a run's data in a trainer's format.

`curation.cli` adds it with `add_export_parser(subparsers)`; `export_command(args)` runs it.
`python -m curation.export.cli OUT --format ...` runs it alone.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from curation.export.contract import ExportError

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


def export_command(args) -> int:
    to = args.to or Path(args.out) / "export" / args.format
    try:
        if args.format == "megatron":
            from curation.export.megatron import export_megatron

            export_megatron(args.out, to)
        else:
            from curation.export.mindrecord import export_mindrecord

            export_mindrecord(args.out, to)
    except (ExportError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except ImportError as err:
        print(f"error: --format {args.format} needs a package that is not installed: {err}", file=sys.stderr)
        return 2
    print(f"wrote {to}")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="curate export", description=EXPORT_HELP, epilog=EXPORT_EXAMPLE,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_arguments(p)
    return export_command(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
