"""`curate plan MIXTURE --tokens OUT/tokens`: the mixture's tokens per source, as a table and plan.json.

Its arguments are declared in `curation.cli`; `cmd_plan(args)` runs it.
"""

from __future__ import annotations

import sys
from pathlib import Path

from curation.mixture import (
    available_tokens,
    format_plan,
    load_mixture,
    plan_mixture,
)


def cmd_plan(args) -> int:
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
