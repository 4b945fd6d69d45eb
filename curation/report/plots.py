"""The report's plots: matplotlib figures embedded as base64 PNG data URIs (no network, no files).

Each function takes a figure of report.json and returns a data URI, or None when there is
nothing to draw. matplotlib is imported here only, on first use (the Agg backend: no display).
"""

from __future__ import annotations

import base64
import io

WIDTH, ROW_HEIGHT = 7.5, 0.32
TOP_LANGUAGES = 15
COLORS = ("#4C72B0", "#DD8452", "#55A868", "#C44E52")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _data_uri(fig) -> str:
    plt = _pyplot()
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=96)
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _barh(labels: list[str], series: dict[str, list[float]], xlabel: str, *, log: bool = False) -> str:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(WIDTH, 0.8 + ROW_HEIGHT * len(labels) * max(1, len(series)) ** 0.5))
    height = 0.8 / len(series)
    for k, (name, values) in enumerate(series.items()):
        ax.barh([i + k * height for i in range(len(labels))], values, height=height, label=name,
                color=COLORS[k % len(COLORS)])
    ax.set_yticks([i + height * (len(series) - 1) / 2 for i in range(len(labels))], labels)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    values = [v for vs in series.values() for v in vs if v > 0]
    if log and values and max(values) > 100 * min(values):  # counts over orders of magnitude
        ax.set_xscale("log")
    if len(series) > 1:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return _data_uri(fig)


def funnel(rows: list[dict]) -> str | None:
    if not rows:
        return None
    return _barh([r["step"] for r in rows], {"documents in": [r["documents_in"] for r in rows],
                                             "documents out": [r["documents_out"] for r in rows]}, "documents")


def drops(rows: list[dict]) -> str | None:
    if not rows:
        return None
    return _barh([f"{r['step']}: {r['reason']}" for r in rows], {"documents": [r["documents"] for r in rows]},
                 "documents dropped", log=True)


def languages(rows: list[dict]) -> str | None:
    if not rows:
        return None
    top = rows[:TOP_LANGUAGES]
    return _barh([r["lang"] for r in top], {"before": [r["bytes_before"] / 2**20 for r in top],
                                            "after": [r["bytes_after"] / 2**20 for r in top]},
                 f"MiB (top {len(top)} languages by documents before)")


def sources(rows: list[dict]) -> str | None:
    if not rows:
        return None
    return _barh([r["source"] for r in rows], {"planned": [r["planned_share"] or 0 for r in rows],
                                               "realized": [r["realized_share"] or 0 for r in rows]},
                 "share of tokens")


def histogram(bins: list[dict], xlabel: str, *, log2: bool = True) -> str | None:
    if not bins:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(WIDTH, 2.6))
    if log2:
        labels = [f"{b['lo']:,}" for b in bins]
    else:
        labels = [f"{b['lo']:.2f}" for b in bins]
    ax.bar(range(len(bins)), [b["count"] for b in bins], color=COLORS[0])
    ax.set_xticks(range(len(bins)), labels, rotation=45, ha="right", fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("count")
    return _data_uri(fig)


def cluster_sizes(dedup: dict) -> str | None:
    present = {k: v for k, v in dedup.items() if v and v["sizes"]}
    if not present:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(WIDTH, 2.6))
    sizes = sorted({s["size"] for v in present.values() for s in v["sizes"]})
    width = 0.8 / len(present)
    for k, (name, fig_data) in enumerate(present.items()):
        by_size = {s["size"]: s["clusters"] for s in fig_data["sizes"]}
        ax.bar([i + k * width for i in range(len(sizes))], [by_size.get(s, 0) for s in sizes], width=width,
               label=name, color=COLORS[k % len(COLORS)])
    ax.set_xticks([i + width * (len(present) - 1) / 2 for i in range(len(sizes))], [str(s) for s in sizes])
    ax.set_xlabel("cluster size (documents)")
    ax.set_ylabel("clusters")
    ax.legend()
    return _data_uri(fig)


def stages(rows: list[dict]) -> str | None:
    timed = [r for r in rows if r["wall_seconds"] is not None]
    if not timed:
        return None
    return _barh([r["stage"] for r in timed], {"wall seconds": [r["wall_seconds"] for r in timed]}, "seconds")
