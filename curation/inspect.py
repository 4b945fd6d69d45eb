"""DuckDB over an output folder: the views users query, and the run summary built from them.

The summary is computed from the files themselves, not from counters kept on the side, so what it
says is what a user's own query over `docs/`, `removed/` and `shards/` would say.
"""

from __future__ import annotations

import json
from pathlib import Path

VIEWS = {
    "docs": "docs/*.parquet",
    "removed": "removed/*/*.parquet",
    "tokens": "tokens/*/*.parquet",
    "shards": "shards/*.parquet",
}


def connect(out: str | Path, views=None):
    """An in-memory DuckDB with one view per output that exists (of `views`: all by default)."""
    import duckdb

    out = Path(out)
    if not out.is_dir():
        raise FileNotFoundError(f"{out}: not an output folder")
    con = duckdb.connect()
    for view, pattern in VIEWS.items():
        if (views is None or view in views) and any(out.glob(pattern)):
            glob = str(out / pattern).replace("'", "''")
            con.execute(f"CREATE VIEW {view} AS SELECT * FROM read_parquet('{glob}', union_by_name=true)")
    return con


def has_view(con, name: str) -> bool:
    return bool(con.execute("SELECT count(*) FROM duckdb_views() WHERE view_name = ?", [name]).fetchall()[0][0])


def format_table(headers: list[str], rows: list[tuple]) -> str:
    cells = [[_fmt(v) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    numeric = [all(isinstance(row[i], (int, float)) or row[i] is None for row in rows) for i in range(len(headers))]

    def line(values):
        return "  ".join(v.rjust(w) if n else v.ljust(w) for v, w, n in zip(values, widths, numeric)).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in cells])


def _fmt(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.4f}" if abs(v) < 100 else f"{v:,.0f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def query(out: str | Path, sql: str) -> str:
    con = connect(out)
    cur = con.execute(sql)
    headers = [d[0] for d in cur.description]
    return format_table(headers, cur.fetchall())


def summary_data(out: str | Path) -> dict:
    out = Path(out)
    con = connect(out)
    data: dict = {"steps": [], "drops": [], "sources": [], "shards": None}
    removed_by_step = {}
    if has_view(con, "removed"):
        removed_by_step = dict(con.execute("SELECT step, count(*) FROM removed GROUP BY step").fetchall())
        data["drops"] = con.execute(
            "SELECT step, reason, count(*) AS files, coalesce(sum(size_bytes), 0) AS bytes "
            "FROM removed GROUP BY step, reason ORDER BY step, files DESC, reason"
        ).fetchall()
    kept = 0
    if has_view(con, "docs"):
        # files, whatever the unit: a repository-level document holds len(files) of them
        files = "len(files)" if "files" in {c[0] for c in con.execute("DESCRIBE docs").fetchall()} else "1"
        kept = con.execute(f"SELECT coalesce(sum(CASE WHEN unit = 'repo' THEN {files} ELSE 1 END), 0) FROM docs"
                           ).fetchall()[0][0]
    # Walk the steps backwards from what was kept: in = out + dropped.
    order = run_record(out).get("removed_steps") or sorted(removed_by_step)  # the recipe's order
    flowing = kept
    rows = []
    for step in reversed(order):
        if step not in removed_by_step and step != "ingest":
            continue
        dropped = removed_by_step.get(step, 0)
        rows.append((step, flowing + dropped, flowing, dropped))
        flowing += dropped
    data["steps"] = list(reversed(rows))
    index_path = out / "shards" / "index.json"
    index = json.loads(index_path.read_text()) if index_path.exists() else None
    if has_view(con, "docs"):
        per_source = {s: (n, b) for s, n, b in con.execute(
            "SELECT source, count(*), sum(size_bytes) FROM docs GROUP BY source ORDER BY source").fetchall()}
        realized = (index or {}).get("realized", {})
        mixture = (index or {}).get("mixture") or {}
        total = sum(realized.values()) or 1
        # a mixture may split a source by language: `code:python` and so on are rows of their own
        keys = sorted(set(per_source) | set(realized))
        data["sources"] = [(k, *per_source.get(k, (None, None)), realized.get(k, 0), realized.get(k, 0) / total,
                            mixture.get(k)) for k in keys]
    if index:
        t = index["totals"]
        data["shards"] = {"files": len(index["shards"]), "rows": t["rows"], "tokens": t["tokens_out"],
                          "padding": t["padding"], "seq_len": index["seq_len"],
                          "fill": t["tokens_out"] / max(1, t["rows"] * index["seq_len"]),
                          "tokenizer": index["tokenizer"].get("name")}
    return data


def summary(out: str | Path) -> str:
    d = summary_data(out)
    parts = ["Files per step", format_table(["step", "in", "out", "dropped"], d["steps"])]
    if d["drops"]:
        parts += ["", "Drops by reason", format_table(["step", "reason", "files", "bytes"], d["drops"])]
    if d["sources"]:
        parts += ["", "Tokens per source",
                  format_table(["source", "documents", "bytes", "tokens in shards", "share", "planned share"],
                               d["sources"])]
    if d["shards"]:
        s = d["shards"]
        parts += ["", f"Shards: {s['files']} file(s), {s['rows']:,} sequences of {s['seq_len']:,} tokens, "
                      f"{s['tokens']:,} tokens + {s['padding']:,} padding (fill {s['fill']:.2%}), "
                      f"tokenizer {s['tokenizer']}"]
    return "\n".join(parts)


DUCKDB_EXAMPLE = """\
Look inside with DuckDB (or: curate inspect {out} --sql "...")
  SELECT lang, count(*) AS files, sum(size_bytes) AS bytes FROM '{out}/docs/*.parquet' GROUP BY lang ORDER BY files DESC;
  SELECT step, reason, count(*) FROM '{out}/removed/*/*.parquet' GROUP BY ALL ORDER BY 3 DESC;
  SELECT len(input_ids), len(cu_seqlens) - 1 AS segments FROM '{out}/shards/*.parquet' LIMIT 5;"""


def run_record(out: str | Path) -> dict:
    """OUT/run.json: the config, its fingerprint, and the stages and removed/ steps of its recipe."""
    try:
        return json.loads((Path(out) / "run.json").read_text())
    except (OSError, ValueError):
        return {}

