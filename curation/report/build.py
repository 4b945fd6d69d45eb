"""Build report.json and report.html for an output folder; `python -m curation.report OUT`."""

from __future__ import annotations

import argparse
import json
import os
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from curation import __version__
from curation.report import figures, runinfo
from curation.report.render import render

JSON_NAME, HTML_NAME = "report.json", "report.html"


def build_report(out: str | Path) -> dict:
    """Every figure of the report, as plain JSON values."""
    out = Path(out)
    if not out.is_dir():
        raise FileNotFoundError(f"{out}: not an output folder")
    con = figures.open_out(out)
    report = {
        "out": str(out.resolve()),
        "generated_by": f"curation {__version__}",
        "overview": runinfo.overview(out),
        "funnel": figures.funnel(con, out),
        "drops": figures.drops(con),
        "examples": figures.examples(con),
        "languages": figures.languages(con),
        "sources": runinfo.sources(out),
        "lengths": figures.lengths(con),
        "packing": figures.packing(con),
        "dedup": figures.dedup(con),
        "decontamination": runinfo.decontamination(out),
        "redaction": figures.redaction(con),
        "stages": runinfo.stages(out),
    }
    return json.loads(json.dumps(report, default=_plain))  # one value space: what report.json holds


def _plain(value):
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} in a report figure")


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_report(out: str | Path) -> tuple[Path, Path]:
    """Writes OUT/report.json and OUT/report.html; returns their paths."""
    out = Path(out)
    report = build_report(out)
    json_path, html_path = out / JSON_NAME, out / HTML_NAME
    _write_atomic(json_path, json.dumps(report, indent=1, ensure_ascii=False) + "\n")
    _write_atomic(html_path, render(report))
    return json_path, html_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="curate report", description="Write OUT/report.html (one self-contained page) and OUT/report.json.",
        epilog="example: curate report out/stage1   (then open out/stage1/report.html)")
    parser.add_argument("out", help="the output folder of a run")
    args = parser.parse_args(argv)
    try:
        json_path, html_path = write_report(args.out)
    except (FileNotFoundError, ValueError) as err:
        parser.exit(2, f"curate report: {err}\n")
    print(f"{html_path}\n{json_path}")
    return 0
