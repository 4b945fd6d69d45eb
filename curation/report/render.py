"""report.json -> one self-contained HTML page: inline CSS, plots as data URIs, no script.

Everything that comes from the data (ids, paths, reasons, texts of dropped files, benchmark
names) goes through `html.escape`: a dropped file is untrusted input, and a `<script>` in it must
show as text. The Content-Security-Policy forbids scripts and every network fetch, so even a
missed escape could neither run code nor leak a request.
"""

from __future__ import annotations

import html
from datetime import datetime, timezone

from curation.report import plots

# (id, title): the sections every report has, in order; a figure the run lacks says so in place.
SECTIONS = (
    ("overview", "Overview"),
    ("funnel", "Funnel: documents and bytes through every step"),
    ("drops", "Drops by reason"),
    ("examples", "Examples of drops"),
    ("languages", "Languages before and after"),
    ("sources", "Token shares per source against the plan"),
    ("lengths", "Document and sequence lengths"),
    ("packing", "Packing fill"),
    ("dedup", "Deduplication clusters"),
    ("decontamination", "Decontamination"),
    ("redaction", "Redaction"),
    ("stages", "Time and memory per stage"),
)

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;max-width:1100px;padding:0 24px 48px;color:#1d2430}
h1{font-size:24px;margin:24px 0 4px} h2{font-size:18px;margin:32px 0 8px;border-bottom:1px solid #d5dae1;padding-bottom:4px}
h3{font-size:15px;margin:16px 0 6px} nav a{margin-right:12px;font-size:13px} .muted{color:#6a7380}
table{border-collapse:collapse;margin:6px 0 12px;font-size:13px} th,td{padding:3px 10px;border-bottom:1px solid #e6e9ee;text-align:left;vertical-align:top}
th{background:#f4f6f9} td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
pre{background:#f6f8fa;border:1px solid #e1e5ea;padding:8px;max-height:220px;overflow:auto;white-space:pre-wrap;word-break:break-all;font-size:12px}
img{max-width:100%;display:block;margin:6px 0} .absent{color:#8a5a00;background:#fff7e0;padding:6px 10px;border-radius:4px}
.example{border-left:3px solid #c44e52;padding-left:10px;margin:8px 0 14px}
"""

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def e(value) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def number(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.4f}" if abs(value) < 1000 else f"{value:,.1f}"
    return e(value)


def table(rows: list[dict], columns: list[str] | None = None) -> str:
    if not rows:
        return absent("no rows")
    columns = columns or list(rows[0])
    head = "".join(f"<th>{e(c)}</th>" for c in columns)
    body = []
    for row in rows:
        cells = []
        for c in columns:
            v = row.get(c)
            numeric = isinstance(v, (int, float)) and not isinstance(v, bool)
            cells.append(f'<td class="n">{number(v)}</td>' if numeric else f"<td>{e(v)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def image(uri: str | None, alt: str) -> str:
    return f'<img src="{e(uri)}" alt="{e(alt)}">' if uri else ""


def absent(what: str) -> str:
    return f'<p class="absent">{e(what)}</p>'


def _overview(r: dict) -> str:
    o = r["overview"]
    rows = [{"figure": k, "value": v} for k, v in o.items() if v is not None]
    return table(rows, ["figure", "value"]) + f'<p class="muted">Output folder: {e(r["out"])}</p>'


def _examples(r: dict) -> str:
    if not r["examples"]:
        return absent("nothing was dropped")
    parts = []
    for x in r["examples"]:
        kept = f" · kept: {e(x['kept_id'])} (similarity {number(x['similarity'])})" if x.get("kept_id") else ""
        cut = (f' <span class="muted">(first {len(x["text"]):,} of {x["text_chars"]:,} characters)</span>'
               if x.get("text") is not None and x.get("text_chars") and x["text_chars"] > len(x["text"]) else "")
        text = f"<pre>{e(x['text'])}</pre>" if x.get("text") is not None else '<p class="muted">(no text kept)</p>'
        parts.append(f'<div class="example"><h3>{e(x["step"])} · {e(x["reason"])}</h3>'
                     f'<p><code>{e(x["id"])}</code>{kept}<br><span class="muted">{e(x.get("detail"))}</span>{cut}</p>'
                     f"{text}</div>")
    return "".join(parts)


def _lengths(r: dict) -> str:
    L = r["lengths"]
    out = []
    for key, title in (("document_tokens", "tokens per document (tokens/)"),
                       ("document_bytes", "bytes per document (docs/)"),
                       ("segment_tokens", "tokens per document segment in the packed sequences (shards/)")):
        out.append(f"<h3>{e(title)}</h3>")
        out.append(image(plots.histogram(L[key], title), title) + table(L[key]) if L[key] else absent("not in this run"))
    return "".join(out)


def _packing(r: dict) -> str:
    p = r["packing"]
    if not p:
        return absent("no shards in this run")
    totals = {k: v for k, v in p.items() if k != "row_fill"}
    return (table([totals]) + image(plots.histogram(p["row_fill"], "share of real tokens per sequence", log2=False),
                                    "fill per sequence") + table(p["row_fill"]))


def _dedup(r: dict) -> str:
    d = r["dedup"]
    out = [image(plots.cluster_sizes(d), "cluster sizes")]
    for key, title in (("exact", "exact (dedup/exact/)"), ("near", "near, files (dedup/near/removals/)"),
                       ("near_repo", "near, repositories (dedup/near/repo/removals/)")):
        fig = d[key]
        out.append(f"<h3>{e(title)}</h3>")
        if not fig:
            out.append(absent("not in this run"))
            continue
        out.append(table([{"clusters": fig["clusters"], "removed": fig["removed"]}]) + table(fig["sizes"]))
        if fig.get("similarity"):
            out.append("<p>Estimated Jaccard similarity of each removed copy to the copy kept:</p>"
                       + table(fig["similarity"]))
    return "".join(out)


def _decontamination(r: dict) -> str:
    d = r["decontamination"]
    if d is None:
        return absent("no decontamination.json in this run")
    benchmarks = d.get("benchmarks", d) if isinstance(d, dict) else {}
    rows = []
    for name, fig in sorted(benchmarks.items()) if isinstance(benchmarks, dict) else []:
        if isinstance(fig, dict):
            rows.append({"benchmark": name, **{k: v for k, v in fig.items() if isinstance(v, (int, float, str))}})
    return table(rows) if rows else f"<pre>{e(d)}</pre>"


def _stages(r: dict) -> str:
    rows = r["stages"]
    if not rows:
        return absent("no stage logs (logs/<stage>/job.json) in this run")
    summary = [{"stage": s["stage"], "executor": s["kind"], "tasks": s["tasks"], "wall_seconds": s["wall_seconds"],
                "peak_rss_MiB": None if s["peak_rss_bytes"] is None else s["peak_rss_bytes"] / 2**20,
                "started": datetime.fromtimestamp(s["started"], timezone.utc).isoformat(timespec="seconds")
                if s["started"] else None} for s in rows]
    steps = [{"stage": s["stage"], "step": x["step"], "seconds (summed over tasks)": x["seconds"]}
             for s in rows for x in s["steps"]]
    note = ("" if any(s["peak_rss_bytes"] is not None for s in rows) else
            '<p class="muted">Peak memory is recorded by the peak_memory step (curation.report.memory); '
            "this run did not have it.</p>")
    return image(plots.stages(rows), "wall time per stage") + table(summary) + note + "<h3>Time per step</h3>" + table(steps)


_BODIES = {
    "overview": _overview,
    "funnel": lambda r: image(plots.funnel(r["funnel"]), "funnel") + table(r["funnel"]),
    "drops": lambda r: image(plots.drops(r["drops"]), "drops by reason") + table(r["drops"]) if r["drops"]
    else absent("nothing was dropped"),
    "examples": _examples,
    "languages": lambda r: image(plots.languages(r["languages"]), "languages") + table(r["languages"]),
    "sources": lambda r: image(plots.sources(r["sources"]), "token shares") + table(r["sources"]) if r["sources"]
    else absent("no plan.json or shards/index.json in this run"),
    "lengths": _lengths,
    "packing": _packing,
    "dedup": _dedup,
    "decontamination": _decontamination,
    "redaction": lambda r: table(r["redaction"]) if r["redaction"] else absent("no redaction columns in docs/"),
    "stages": _stages,
}


def section_bodies(r: dict, sections) -> dict[str, str]:
    """The HTML of the given sections, each from its own figure of the report (`r[section]`)."""
    return {sid: _BODIES[sid](r) for sid in sections}


def render(r: dict, bodies: dict[str, str] | None = None) -> str:
    """The page; `bodies`: sections already drawn (by `section_bodies`, from the same figures)."""
    bodies = {**section_bodies(r, [sid for sid, _ in SECTIONS if sid not in (bodies or {})]), **(bodies or {})}
    nav = "".join(f'<a href="#{sid}">{e(title.split(":")[0])}</a>' for sid, title in SECTIONS)
    sections = "".join(f'<section id="{sid}"><h2>{e(title)}</h2>{bodies[sid]}</section>' for sid, title in SECTIONS)
    title = f"curation report: {r['overview'].get('pipeline') or r['out']}"
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{e(title)}</title><style>{CSS}</style></head><body>"
            f"<h1>{e(title)}</h1><nav>{nav}</nav>{sections}"
            f'<p class="muted">Every number above is in report.json beside this file, and is one DuckDB query '
            f"over the output folder.</p></body></html>")
