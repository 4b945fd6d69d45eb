"""Build report.json and report.html for an output folder; `python -m curation.report OUT`."""

from __future__ import annotations

import argparse
import json
import os
import threading
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from curation import __version__
from curation.report import figures, runinfo
from curation.report.render import SECTIONS, render, section_bodies

JSON_NAME, HTML_NAME = "report.json", "report.html"


# The figures that read only docs/, removed/, tokens/, dedup/ and decontamination.json: once the
# last run writing those is done, a run computes them and draws their plots on a driver thread
# (`ReportAhead`) while its last stages (scatter, pack) run. The rest reads shards/ and stage logs.
EARLY = ("funnel", "drops", "examples", "languages", "dedup", "decontamination", "redaction")


def _figures(out: Path, con, keys) -> dict:
    compute = {
        "overview": lambda: runinfo.overview(out),
        "funnel": lambda: figures.funnel(con, out),
        "drops": lambda: figures.drops(con),
        "examples": lambda: figures.examples(con),
        "languages": lambda: figures.languages(con),
        "sources": lambda: runinfo.sources(out),
        "lengths": lambda: figures.lengths(con),
        "packing": lambda: figures.packing(con),
        "dedup": lambda: figures.dedup(con),
        "decontamination": lambda: runinfo.decontamination(out),
        "redaction": lambda: figures.redaction(con),
        "stages": lambda: runinfo.stages(out),
    }
    return {key: compute[key]() for key in keys}


def build_report(out: str | Path, ready: dict | None = None) -> dict:
    """Every figure of the report, as plain JSON values; `ready`: figures already computed (of
    `early_figures`), in the same value space."""
    out = Path(out)
    if not out.is_dir():
        raise FileNotFoundError(f"{out}: not an output folder")
    ready = ready or {}
    keys = [s for s, _ in SECTIONS]
    con = figures.open_out(out)
    computed = _figures(out, con, [k for k in keys if k not in ready])
    report = {"out": str(out.resolve()), "generated_by": f"curation {__version__}",
              **{k: ready[k] if k in ready else computed[k] for k in keys}}
    return json.loads(json.dumps(report, default=_plain))  # one value space: what report.json holds


def early_figures(out: str | Path) -> tuple[dict, dict[str, str]]:
    """The `EARLY` figures (plain JSON values) and their drawn sections."""
    out = Path(out)
    # Never a view of shards/: pack is writing it (a killed task's half-written file may lie there).
    con = figures.open_out(out, views=("docs", "removed", "tokens"))
    ready = json.loads(json.dumps(_figures(out, con, EARLY), default=_plain))
    return ready, section_bodies(ready, EARLY)


class ReportAhead:
    """Computes `early_figures` on a daemon thread once the last run that writes their inputs is
    done; `write_report(out, ahead)` waits for it (and raises what it raised)."""

    def __init__(self, layout, runs: list):
        """layout: the run's curation.layout.Layout; runs: its recipe, in order."""
        inputs = [layout.docs, layout.removed, layout.tokens, layout.dedup, layout.out / "decontamination.json"]

        def feeds(run) -> bool:
            return any(p == i or i in p.parents or p in i.parents for p in [*run.outputs(), *run.files()] for i in inputs)

        self.out = layout.out
        self.last = max((i for i, run in enumerate(runs) if feeds(run)), default=-1)
        self.count = len(runs)
        self._thread: threading.Thread | None = None
        self._result: tuple[dict, dict] | None = None
        self._error: BaseException | None = None

    def after_run(self, index: int) -> None:
        """Called by the driver when run `index` is done (or was done before this invocation)."""
        if index == self.last and self._thread is None and index < self.count - 1:
            self._thread = threading.Thread(target=self._work, name="report-ahead", daemon=True)
            self._thread.start()

    def _work(self) -> None:
        try:
            self._result = early_figures(self.out)
        except BaseException as err:  # noqa: BLE001 - re-raised by result(), in the driver
            self._error = err

    def result(self) -> tuple[dict, dict] | None:
        """The early figures and sections, or None when they were not started (computed then)."""
        if self._thread is None:
            return None
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._result


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


def write_report(out: str | Path, ahead: ReportAhead | None = None) -> tuple[Path, Path]:
    """Writes OUT/report.json and OUT/report.html; returns their paths. `ahead`: the early figures
    a run started while its last stages ran (the same bytes as without it)."""
    out = Path(out)
    early = ahead.result() if ahead else None
    report = build_report(out, early[0] if early else None)
    json_path, html_path = out / JSON_NAME, out / HTML_NAME
    _write_atomic(json_path, json.dumps(report, indent=1, ensure_ascii=False) + "\n")
    _write_atomic(html_path, render(report, early[1] if early else None))
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
