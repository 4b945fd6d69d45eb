"""`curate plan MIXTURE --tokens OUT/tokens`: the mixture's tokens per source, as a table and plan.json.

`curation.cli` adds it with `add_plan_parser(subparsers)`; `cmd_plan(args)` runs it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

PLAN_HELP = "Plan a mixture: tokens available and targeted per source, epochs, warnings; writes plan.json."
PLAN_EXAMPLE = """example:
  curate plan mixtures/stage1_8k.yaml --tokens out/stage1/tokens
  curate plan mixtures/stage1_8k.yaml --tokens out/stage1/tokens --out out/stage1/plan.json

The table shows, per source: documents and tokens available (ids + one EOS each), the share the
mixture asks for, the target tokens, the share they give, and epochs = target / available.
Exit status 1 when a required source has no tokens."""


def add_plan_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("plan", help=PLAN_HELP, description=PLAN_HELP, epilog=PLAN_EXAMPLE,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mixture", type=Path, help="mixture config (mixtures/*.yaml)")
    p.add_argument("--tokens", type=Path, required=True, help="the tokens folder of a run: OUT/tokens")
    p.add_argument("--out", type=Path, help="where to write plan.json (default: next to the tokens folder)")
    return p


def cmd_plan(args) -> int:
    from curation.mixture import available_tokens, format_plan, load_mixture, plan_mixture

    mixture = load_mixture(args.mixture)  # ConfigError: reported by curation.cli.main
    try:
        available = available_tokens(args.tokens, mixture.language_splits())
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    plan = plan_mixture(mixture, available)
    out = args.out or Path(args.tokens).parent / "plan.json"
    plan.write(out)
    print(format_plan(plan))
    print(f"\nwrote {out}")
    return 0 if plan.ok else 1
