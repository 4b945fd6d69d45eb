"""`curate export OUT --format megatron|mindrecord [--to DIR]`: a run's data in a trainer's format.

Its arguments are declared in `curation.cli`; `export_command(args)` runs it. megatron-core and
mindspore are imported by the exporters when they run (optional, heavy).
"""

from __future__ import annotations

import sys
from pathlib import Path

from curation.export.contract import ExportError
from curation.export.megatron import export_megatron
from curation.export.mindrecord import export_mindrecord


def export_command(args) -> int:
    to = args.to or Path(args.out) / "export" / args.format
    try:
        (export_megatron if args.format == "megatron" else export_mindrecord)(args.out, to)
    except (ExportError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except ImportError as err:
        print(f"error: --format {args.format} needs a package that is not installed: {err}", file=sys.stderr)
        return 2
    print(f"wrote {to}")
    return 0
