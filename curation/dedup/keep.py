"""Which copy of a duplicate survives: the one keep rule of exact, near and repository dedup.

    permissive license > no license > any other license (BigCode, The Stack v2),
    then more stars, then the newer date (revision / commit time), then the smaller id.

An unknown star count or date ranks after every known one, so a copy is never preferred for
lacking information; the id makes the order total, so the choice never depends on task count,
input order or executor. The rule exists twice, as a SQL ORDER BY (DuckDB plans over Parquet)
and as a Python sort key (clusters held in memory); both are derived from the constants here and
a test checks that they agree on the same rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

# License classes in order of preference (curation.ingest.licenses.license_class names them);
# a class not listed ranks after all of them. A missing class (NULL) means no license: "none".
LICENSE_PREFERENCE = ("permissive", "none")
LICENSE_RANK = {name: rank for rank, name in enumerate(LICENSE_PREFERENCE)}
OTHER_LICENSE_RANK = len(LICENSE_PREFERENCE)

# The columns the rule reads, as docs/ names them (curation.io.DOC_SCHEMA).
KEEP_COLUMNS = ("id", "license_class", "stars", "date")


def keep_order_sql(alias: str = "") -> str:
    """The rule as a DuckDB ORDER BY list, best copy first; `alias` qualifies the columns."""
    p = f"{alias}." if alias else ""
    ranks = " ".join(f"WHEN '{name}' THEN {rank}" for name, rank in LICENSE_RANK.items())
    return (f"CASE coalesce({p}license_class, 'none') {ranks} ELSE {OTHER_LICENSE_RANK} END, "
            f"{p}stars DESC NULLS LAST, {p}date DESC NULLS LAST, {p}id")


KEEP_ORDER_SQL = keep_order_sql()


@dataclass(frozen=True)
class KeepCandidate:
    """What the keep rule looks at for one document. `stars` and `date` may be unknown."""

    id: str
    license_class: str | None = "none"  # "permissive", "none", or anything else ("copyleft", ...)
    stars: int | None = None
    date: datetime | float | None = None  # revision (commit) time: datetime or POSIX seconds


def _timestamp(value: datetime | float | None) -> float | None:
    if isinstance(value, datetime):
        # A naive datetime is UTC, as Parquet timestamps without a zone are (The Stack's are).
        return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).timestamp()
    return value


def keep_order_key(doc: KeepCandidate) -> tuple:
    """Sort key, best first; the same order as KEEP_ORDER_SQL."""
    stamp = _timestamp(doc.date)
    return (
        LICENSE_RANK.get(doc.license_class or "none", OTHER_LICENSE_RANK),
        doc.stars is None,
        -(doc.stars or 0),
        stamp is None,
        -(stamp or 0.0),
        doc.id,
    )


def choose_kept(members: Sequence[KeepCandidate]) -> KeepCandidate:
    """The member of a duplicate cluster that survives."""
    if not members:
        raise ValueError("choose_kept needs at least one cluster member")
    return min(members, key=keep_order_key)
