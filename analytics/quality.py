"""Data-quality report for one loaded dataset: what looks wrong even though it loaded."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from analytics.errors import NotFoundError
from analytics.schema import EVENT_TYPES, TABLE_COLUMNS
from analytics.workspace import Workspace

# Checks on events; each is (label, SQL condition). Counted per dataset.
EVENT_CHECKS: tuple[tuple[str, str], ...] = (
    ("zero price", "price = 0"),
    ("negative price", "price < 0"),
    ("purchase without order id", "event_type = 'purchase' AND order_id IS NULL"),
    ("date in the future", "event_time > now()::TIMESTAMP + INTERVAL 1 DAY"),
    ("date before 2000", "event_time < TIMESTAMP '2000-01-01'"),
    # h11a: the canonical types from the schema (rate included), so the two cannot drift apart
    ("unknown event type", "event_type NOT IN (" + ", ".join(f"'{t}'" for t in EVENT_TYPES) + ")"),
)


@dataclass(frozen=True)
class QualityReport:
    dataset_id: str
    kind: str
    rows: int
    nulls: pd.DataFrame  # column, nulls, share
    checks: pd.DataFrame  # check, rows, share
    event_types: pd.DataFrame  # event_type, events
    rejects: pd.DataFrame  # record, reason, raw


def quality_report(ws: Workspace, dataset_id: str, reject_limit: int = 10_000) -> QualityReport:
    with ws.cursor() as cur:
        found = cur.execute("SELECT kind FROM datasets WHERE dataset_id = ?", [dataset_id]).fetchall()
        if not found:
            raise NotFoundError(f"There is no dataset {dataset_id!r}.",
                                hint="It may have been deleted; pick another on the Data page.")
        kind = str(found[0][0])
        table = kind  # a canonical table name from our own whitelist, never user text
        columns = TABLE_COLUMNS[table]
        counts = ", ".join(f"count(*) - count({c})" for c in columns)
        row = cur.execute(f"SELECT count(*), {counts} FROM {table} WHERE dataset_id = ?",  # noqa: S608
                          [dataset_id]).fetchall()[0]
        rows = int(row[0])
        nulls = pd.DataFrame({"column": columns, "nulls": [int(v) for v in row[1:]]})
        nulls["share"] = nulls["nulls"] / max(rows, 1)
        checks = _event_checks(cur, dataset_id, rows) if kind == "events" else pd.DataFrame(
            columns=["check", "rows", "share"])
        types = cur.execute("SELECT event_type, count(*) AS events FROM events WHERE dataset_id = ? "
                            "GROUP BY ALL ORDER BY events DESC", [dataset_id]).df()
        rejects = cur.execute("SELECT record, reason, raw FROM rejects WHERE dataset_id = ? "
                              "ORDER BY record LIMIT ?", [dataset_id, reject_limit]).df()
    return QualityReport(dataset_id, kind, rows, nulls, checks, types, rejects)


def _event_checks(cur: object, dataset_id: str, rows: int) -> pd.DataFrame:
    counts = ", ".join(f"count(*) FILTER (WHERE {cond})" for _, cond in EVENT_CHECKS)
    values = cur.execute(  # type: ignore[attr-defined]
        f"SELECT {counts} FROM events WHERE dataset_id = ?", [dataset_id]).fetchall()[0]  # noqa: S608
    frame = pd.DataFrame({"check": [label for label, _ in EVENT_CHECKS],
                          "rows": [int(v) for v in values]})
    frame["share"] = frame["rows"] / max(rows, 1)
    return frame


def all_rejects(ws: Workspace, dataset_id: str) -> pd.DataFrame:
    """Every rejected row of a dataset (for the download)."""
    with ws.cursor() as cur:
        return cur.execute("SELECT record, reason, raw FROM rejects WHERE dataset_id = ? "
                           "ORDER BY record", [dataset_id]).df()
