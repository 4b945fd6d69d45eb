"""The figures of a run that live in its Parquet files, each one DuckDB query over OUT.

Every figure is computed from the files a user can query themselves (docs/, removed/, tokens/,
shards/, dedup/), never from counters kept on the side, so a number in the report is the answer
to a query anyone can rerun. Histograms use fixed bins stated here, so two runs compare bin by bin.
"""

from __future__ import annotations

from pathlib import Path

from curation.inspect import connect, has_view, run_record

EXAMPLES_PER_REASON = 3
EXAMPLE_CHARS = 600  # enough to recognise a file; the report stays small however large the drops
SIMILARITY_BINS = 20  # bins of 0.05 over [0, 1]

# Outputs of the dedup stages (curation.dedup.exact / near), as views.
DEDUP_VIEWS = {
    "exact_plan": "dedup/exact/*.parquet",
    "near_removals": "dedup/near/removals/*.parquet",
    "near_repo_removals": "dedup/near/repo/removals/*.parquet",
}


def open_out(out: str | Path, views=None):
    """DuckDB over OUT: the views of `curate inspect` (of `views`: all by default) plus the dedup
    outputs."""
    out = Path(out)
    con = connect(out, views)
    for view, pattern in DEDUP_VIEWS.items():
        if any(out.glob(pattern)):
            glob = str(out / pattern).replace("'", "''")
            con.execute(f"CREATE VIEW {view} AS SELECT * FROM read_parquet('{glob}', union_by_name=true)")
    con.execute("SET threads = 1")  # a report runs beside the pipeline's own tasks
    return con


def _rows(con, sql: str, params=None) -> list[dict]:
    cur = con.execute(sql, params or [])
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]


def _columns(con, view: str) -> set[str]:
    return {r[0] for r in con.execute(f"DESCRIBE {view}").fetchall()}


def _doc_files_sql(con) -> str:
    """Files a docs/ row stands for: a repository-level document holds len(files) of them."""
    return "CASE WHEN unit = 'repo' THEN len(files) ELSE 1 END" if "files" in _columns(con, "docs") else "1"


def funnel(con, out: str | Path) -> list[dict]:
    """Documents and bytes into and out of every step, walking back from what was kept:
    in = out + dropped. The steps in the recipe's order (run.json `removed_steps`); a removed/
    folder the recipe does not name (an older run) comes last, in name order."""
    kept_docs, kept_bytes = 0, 0
    if has_view(con, "docs"):
        kept_docs, kept_bytes = con.execute(
            f"SELECT coalesce(sum({_doc_files_sql(con)}), 0), coalesce(sum(size_bytes), 0) FROM docs").fetchone()
    dropped = {}
    if has_view(con, "removed"):
        dropped = {r[0]: (r[1], r[2]) for r in con.execute(
            "SELECT step, count(*), coalesce(sum(size_bytes), 0) FROM removed GROUP BY step").fetchall()}
    recipe = run_record(out).get("removed_steps") or []
    steps = [s for s in recipe if s in dropped or s == "ingest"]
    steps += sorted(set(dropped) - set(steps))
    rows, docs, size = [], int(kept_docs), int(kept_bytes)
    for step in reversed(steps):
        n, b = dropped.get(step, (0, 0))
        rows.append({"step": step, "documents_in": docs + n, "documents_out": docs, "documents_dropped": n,
                     "bytes_in": size + b, "bytes_out": size, "bytes_dropped": b})
        docs, size = docs + n, size + b
    return list(reversed(rows))


def drops(con) -> list[dict]:
    if not has_view(con, "removed"):
        return []
    return _rows(con, "SELECT step, reason, count(*) AS documents, coalesce(sum(size_bytes), 0) AS bytes "
                      "FROM removed GROUP BY step, reason ORDER BY step, documents DESC, reason")


def examples(con) -> list[dict]:
    """The first few drops of every (step, reason) by id, text cut to EXAMPLE_CHARS."""
    if not has_view(con, "removed"):
        return []
    # Pick by id first, then read text for the picked rows only: the window never holds texts.
    return _rows(con, f"""
        WITH picked AS (
            SELECT step, reason, id FROM removed
            QUALIFY row_number() OVER (PARTITION BY step, reason ORDER BY id) <= {EXAMPLES_PER_REASON}
        )
        SELECT r.step, r.reason, r.id, r.repo, r.path, r.detail, r.kept_id, r.similarity,
               left(r.text, {EXAMPLE_CHARS}) AS text, length(r.text) AS text_chars
        FROM removed r SEMI JOIN picked p ON r.step = p.step AND r.reason = p.reason AND r.id = p.id
        QUALIFY row_number() OVER (PARTITION BY r.step, r.reason, r.id) = 1
        ORDER BY r.step, r.reason, r.id""")


def languages(con) -> list[dict]:
    """Documents and bytes per language before the first step (kept + every drop) and after the
    last (docs/), and tokens per language in tokens/."""
    parts = [f"SELECT lang, size_bytes, 0 AS kept FROM {v}" for v in ("removed",) if has_view(con, v)]
    if has_view(con, "docs"):
        parts.append("SELECT lang, size_bytes, 1 AS kept FROM docs")
    if not parts:
        return []
    tokens = ("SELECT coalesce(lang, 'unknown') AS lang, sum(n_tokens) AS tokens FROM tokens GROUP BY 1"
              if has_view(con, "tokens") else "SELECT NULL::VARCHAR AS lang, NULL::BIGINT AS tokens WHERE false")
    return _rows(con, f"""
        WITH every AS ({" UNION ALL ".join(parts)}),
        counts AS (
            SELECT coalesce(lang, 'unknown') AS lang,
                   count(*) AS documents_before, coalesce(sum(size_bytes), 0) AS bytes_before,
                   count(*) FILTER (WHERE kept = 1) AS documents_after,
                   coalesce(sum(size_bytes) FILTER (WHERE kept = 1), 0) AS bytes_after
            FROM every GROUP BY 1
        )
        SELECT c.*, coalesce(t.tokens, 0) AS tokens
        FROM counts c LEFT JOIN ({tokens}) t USING (lang)
        ORDER BY documents_before DESC, lang""")


def _log2_bins(con, values_sql: str) -> list[dict]:
    """Counts in bins [2^k, 2^(k+1)); zero in its own bin [0, 1)."""
    return _rows(con, f"""
        SELECT CASE WHEN v < 1 THEN 0 ELSE 2 ** floor(log2(v)) END::BIGINT AS lo,
               CASE WHEN v < 1 THEN 1 ELSE 2 ** (floor(log2(v)) + 1) END::BIGINT AS hi,
               count(*) AS count
        FROM ({values_sql}) GROUP BY ALL ORDER BY lo""")


def _real_segments_sql() -> str:
    """One row per document segment of every packed sequence (padding, doc id '', excluded)."""
    return """
        SELECT cu_seqlens[i + 1] - cu_seqlens[i] AS v
        FROM (SELECT cu_seqlens, doc_ids, unnest(range(1, len(doc_ids) + 1)) AS i FROM shards)
        WHERE doc_ids[i] <> ''"""


def lengths(con) -> dict:
    out = {"document_bytes": [], "document_tokens": [], "segment_tokens": []}
    if has_view(con, "docs"):
        out["document_bytes"] = _log2_bins(con, "SELECT size_bytes AS v FROM docs")
    if has_view(con, "tokens"):
        out["document_tokens"] = _log2_bins(con, "SELECT n_tokens AS v FROM tokens")
    if has_view(con, "shards"):
        out["segment_tokens"] = _log2_bins(con, _real_segments_sql())
    return out


def packing(con) -> dict | None:
    """Per packed sequence, the share of its tokens that are real (not padding), in tenths."""
    if not has_view(con, "shards"):
        return None
    # cu_seqlens ends at seq_len (padding is a segment), so input_ids is never read
    per_row = """
        SELECT cu_seqlens[-1] AS seq_len,
               CASE WHEN doc_ids[-1] = '' THEN cu_seqlens[-2] ELSE cu_seqlens[-1] END AS filled,
               len(doc_ids) - (doc_ids[-1] = '')::INT AS segments
        FROM shards"""
    totals = _rows(con, f"""
        SELECT count(*) AS rows, sum(filled) AS tokens, sum(seq_len - filled) AS padding,
               sum(filled) / sum(seq_len) AS fill, avg(segments) AS segments_per_row
        FROM ({per_row})""")[0]
    totals["row_fill"] = _rows(con, f"""
        SELECT least(floor(filled * 10 / seq_len), 9)::INT / 10 AS lo, count(*) AS count
        FROM ({per_row}) GROUP BY ALL ORDER BY lo""")
    return totals


def _cluster_sizes(con, view: str) -> dict | None:
    """How many clusters of each size (the kept copy plus the copies removed in its favour)."""
    if not has_view(con, view):
        return None
    sizes = _rows(con, f"""
        SELECT size, count(*) AS clusters FROM (SELECT kept_id, count(*) + 1 AS size FROM {view} GROUP BY kept_id)
        GROUP BY size ORDER BY size""")
    removed = con.execute(f"SELECT count(*) FROM {view}").fetchone()[0]
    figure = {"removed": removed, "clusters": sum(r["clusters"] for r in sizes), "sizes": sizes}
    if "similarity" in _columns(con, view):
        figure["similarity"] = _rows(con, f"""
            SELECT floor(similarity * {SIMILARITY_BINS}) / {SIMILARITY_BINS} AS lo, count(*) AS count
            FROM {view} WHERE similarity IS NOT NULL GROUP BY ALL ORDER BY lo""")
    return figure


def dedup(con) -> dict:
    return {"exact": _cluster_sizes(con, "exact_plan"), "near": _cluster_sizes(con, "near_removals"),
            "near_repo": _cluster_sizes(con, "near_repo_removals")}


def redaction(con) -> list[dict]:
    """Counts from docs/ columns named redact*/redaction*: an integer column is one count, a
    map<string, int> column one count per key (placeholder type)."""
    if not has_view(con, "docs"):
        return []
    rows = []
    for name, dtype in con.execute("SELECT column_name, column_type FROM (DESCRIBE docs)").fetchall():
        if not name.startswith(("redact", "redaction")):
            continue
        quoted, label = '"' + name.replace('"', '""') + '"', name.replace("'", "''")
        if dtype.startswith("MAP("):
            rows += _rows(con, f"""
                SELECT '{label}' AS "column", key, sum(value) AS count, count(DISTINCT id) AS documents
                FROM (SELECT id, unnest(map_keys({quoted})) AS key, unnest(map_values({quoted})) AS value FROM docs)
                WHERE value > 0 GROUP BY key ORDER BY key""")
        elif dtype in ("BIGINT", "INTEGER", "SMALLINT", "TINYINT", "UBIGINT", "UINTEGER", "HUGEINT"):
            rows += _rows(con, f"""SELECT '{label}' AS "column", NULL AS key, coalesce(sum({quoted}), 0) AS count,
                                   count(*) FILTER (WHERE {quoted} > 0) AS documents FROM docs""")
    return sorted(rows, key=lambda r: (r["column"], r["key"] or ""))
