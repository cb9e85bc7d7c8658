"""Retention cohorts: shoppers grouped by the month (or week) they first bought, and how many of
each group are active again 0, 1, 2, … months later — overall and per segment.

Everything is one DuckDB query over the canonical events, whose ``user_id`` is already the master
id (ingest resolves aliases through ``identity_map``), so a shopper's store and web purchases fall
in one cohort. A purchase is what the profiles count: an event of type ``purchase``. With
``basis="seen"`` the cohort is the first event of any type and *active* means any event.

A cell whose period has not ended when the data ends (the last month of the log, say) is marked
``complete = False``: its share is a floor, not a rate, and the summary leaves it out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

import duckdb
import pandas as pd

from analytics.errors import ConfigError, NotFoundError
from analytics.segments.primary import resolve_run_id_of, run_name_of
from analytics.workspace import Workspace

BYS = ("month", "week")
BASES = ("purchase", "seen")
OVERALL = "All shoppers"
#: Shoppers active in the cohort window but absent from the segmentation (new since it ran, or
#: not picked by a rule): kept as their own row rather than dropped.
OUTSIDE = "Not in this segmentation"
COLUMNS = ("cohort", "period", "segment", "shoppers", "cohort_size", "share", "complete")

# The CTEs both the table and the cell listing read. $seen: any event counts, not only purchases.
_BASE = """
WITH activity AS (
    SELECT user_id, CAST(date_trunc($unit, event_time) AS DATE) AS bucket
    FROM events
    WHERE $seen OR event_type = 'purchase'
    GROUP BY ALL
),
firsts AS (SELECT user_id, min(bucket) AS cohort FROM activity GROUP BY user_id),
labelled AS (
    SELECT user_id, cohort, $overall AS segment FROM firsts
    UNION ALL
    SELECT f.user_id, f.cohort, coalesce(m.segment_name, $outside)
    FROM firsts f LEFT JOIN segment_members m ON m.user_id = f.user_id AND m.run_id = $run_id
    WHERE $run_id IS NOT NULL
),
cells AS (
    SELECT l.segment, l.cohort, date_diff($unit, l.cohort, a.bucket) AS period, count(*) AS shoppers
    FROM labelled l JOIN activity a USING (user_id)
    GROUP BY ALL
)"""

_TABLE_SQL = _BASE + """,
bounds AS (
    SELECT CAST(date_trunc($unit, max(event_time)) AS DATE) AS last_bucket,
           CAST(max(event_time) AS DATE) AS last_day
    FROM events
),
grid AS (
    SELECT c.segment, c.cohort, c.shoppers AS cohort_size,
           unnest(range(0, date_diff($unit, c.cohort, b.last_bucket) + 1)) AS period
    FROM cells c CROSS JOIN bounds b
    WHERE c.period = 0
)
SELECT g.cohort, CAST(g.period AS INTEGER) AS period, g.segment,
       coalesce(c.shoppers, 0) AS shoppers, g.cohort_size,
       coalesce(c.shoppers, 0) / g.cohort_size AS share,
       -- the period's last day is inside the data
       b.last_day >= CAST(CASE WHEN $unit = 'month' THEN g.cohort + to_months(CAST(g.period AS INTEGER) + 1)
                               ELSE g.cohort + to_weeks(CAST(g.period AS INTEGER) + 1) END AS DATE) - 1
           AS complete
FROM grid g CROSS JOIN bounds b
LEFT JOIN cells c ON c.segment = g.segment AND c.cohort = g.cohort AND c.period = g.period
ORDER BY g.segment <> $overall, g.segment, g.cohort, g.period"""  # noqa: S608 - constants only

_CELL_SQL = _BASE + """
SELECT DISTINCT l.user_id
FROM labelled l JOIN activity a USING (user_id)
WHERE l.segment = $segment AND l.cohort = $cohort AND date_diff($unit, l.cohort, a.bucket) = $period
ORDER BY l.user_id"""

_NOT_PROFILED_SQL = """
SELECT count(*) FROM unnest(CAST(? AS VARCHAR[])) AS t(user_id)
WHERE user_id NOT IN (SELECT user_id FROM profiles)"""


@dataclass(frozen=True)
class CohortTable:
    """Active shoppers per (segment, cohort, period) cell, in long form (one row per cell).

    ``cells`` has :data:`COLUMNS`; ``segment`` is :data:`OVERALL` for the whole population and a
    segment name of run ``segment_run`` otherwise (:data:`OUTSIDE` for shoppers it does not hold).
    """

    by: str
    basis: str
    segment_run: str | None
    segment_run_name: str | None
    cells: pd.DataFrame

    @property
    def segments(self) -> list[str]:
        return list(dict.fromkeys(self.cells["segment"]))

    def of(self, segment: str = OVERALL) -> pd.DataFrame:
        """The cells of one segment (default: everyone)."""
        return self.cells[self.cells["segment"] == segment].reset_index(drop=True)

    def grid(self, segment: str = OVERALL, value: str = "share") -> pd.DataFrame:
        """One segment's ``value`` (share, shoppers or complete) as cohort rows × period columns;
        cells a cohort cannot have reached yet are missing (NaN)."""
        return self.of(segment).pivot(index="cohort", columns="period", values=value)

    def retention(self, segment: str = OVERALL) -> pd.DataFrame:
        """Share of a cohort active ``period`` units later, pooled over cohorts whose period is over.

        Columns period, shoppers, cohort_size, share, cohorts (how many cohorts were pooled).
        """
        done = self.of(segment)
        done = done[done["complete"] | (done["period"] == 0)]
        pooled = done.groupby("period").agg(shoppers=("shoppers", "sum"),
                                            cohort_size=("cohort_size", "sum"),
                                            cohorts=("cohort", "nunique")).reset_index()
        return pooled.assign(share=pooled["shoppers"] / pooled["cohort_size"])

    def first_cohort(self) -> tuple[str, int, int] | None:
        """(label, size, everyone) of the cohort that starts with the data, if others follow."""
        sizes = self.of()
        sizes = sizes[sizes["period"] == 0].sort_values("cohort")
        if len(sizes) < 2:
            return None
        first = sizes.iloc[0]
        return str(first["cohort"]), int(first["cohort_size"]), int(sizes["cohort_size"].sum())

    def without_first(self, segment: str = OVERALL) -> pd.DataFrame:
        """:meth:`retention` pooled over every cohort but the first (see :meth:`notes`)."""
        first = self.first_cohort()
        if first is None:
            return self.retention(segment)
        later = self.cells[self.cells["cohort"].astype(str) != first[0]]
        return replace(self, cells=later).retention(segment)

    def notes(self) -> list[str]:
        """What the table cannot say: found on Complete Journey and a 3-hour log.

        The first cohort is everyone whose first purchase *in the data* falls in its first
        period, so shoppers who bought before the export starts land there too (Complete
        Journey: 1,500 of 2,377 households, and the pooled curve is mostly theirs). A log
        shorter than one period has nothing to retain.
        """
        overall = self.of()
        if overall.empty:
            return []
        if int(overall["period"].max()) == 0:
            return [f"The data covers less than one {self.by} after the first "
                    f"{'purchase' if self.basis == 'purchase' else 'event'}s: "
                    f"there is no later {self.by} to be retained in, so the 100% shown is a "
                    "definition, not a result."]
        first = self.first_cohort()
        if first is None:
            return []
        label, size, everyone = first
        later = self.without_first()
        one = later[later["period"] == 1]["share"]
        first_what, again = ("purchase", "buy again") if self.basis == "purchase" \
            else ("event", "are active again")
        tail = f" Without it, {float(one.iloc[0]):.1%} {again} one {self.by} later." \
            if len(one) else ""
        return [f"The first cohort ({label}: {size:,} of {everyone:,} shoppers, {size / everyone:.0%}) "
                f"is everyone whose first {first_what} in the data falls in its first {self.by}: "
                f"shoppers who were already active before the data starts are in it too, so its "
                f"row measures existing shoppers, not new ones.{tail}"]

    def as_json(self) -> dict[str, Any]:
        overall = self.of()
        first = self.first_cohort()
        return {
            "notes": self.notes(), "left_censored_cohort": first[0] if first else None,
            "retention_without_first": [
                {"period": int(r["period"]), "share": round(float(r["share"]), 6),
                 "cohort_size": int(r["cohort_size"])}
                for r in self.without_first().to_dict("records")] if first else None,
            "by": self.by, "basis": self.basis, "segment_run": self.segment_run,
            "segments": [s for s in self.segments if s != OVERALL],
            "cohorts": [{"cohort": str(r["cohort"]), "size": int(r["cohort_size"])}
                        for r in overall[overall["period"] == 0].to_dict("records")],
            "periods": int(overall["period"].max()) + 1 if len(overall) else 0,
            "retention": [{"period": int(r["period"]), "share": round(float(r["share"]), 6),
                           "shoppers": int(r["shoppers"]), "cohort_size": int(r["cohort_size"]),
                           "cohorts": int(r["cohorts"])} for r in self.retention().to_dict("records")],
        }


@dataclass(frozen=True)
class SavedCell:
    """What :func:`save_cell` stored: a new one-segment run of the cell's profiled shoppers."""

    run_id: str
    name: str
    saved: int
    not_profiled: int


def _check(by: str, basis: str) -> None:
    if by not in BYS:
        raise ConfigError(f"Cohorts by {by!r} are not available.", hint=f"Use one of {', '.join(BYS)}.",
                          title="Invalid argument")
    if basis not in BASES:
        raise ConfigError(f"Cohort basis {basis!r} is not available.",
                          hint="Use purchase (first purchase) or seen (first event of any type).",
                          title="Invalid argument")


def _params(by: str, basis: str, run_id: str | None) -> dict[str, Any]:
    return {"unit": by, "seen": basis == "seen", "overall": OVERALL, "outside": OUTSIDE,
            "run_id": run_id}


def cohort_table(ws: Workspace, by: str = "month", basis: str = "purchase",
                 segment_run: str | None = None, split: bool = True) -> CohortTable:
    """The cohort table, overall and (``split``) per segment of ``segment_run`` (default: primary).

    Examples
    --------
    >>> table = cohort_table(ws, by="month")                    # doctest: +SKIP
    >>> table.retention().share.iloc[1]                         # doctest: +SKIP
    0.31
    """
    _check(by, basis)
    with ws.cursor() as cur:
        run_id = resolve_run_id_of(cur, segment_run) if split else None
        cells = cur.execute(_TABLE_SQL, _params(by, basis, run_id)).df()
        name = run_name_of(cur, run_id) if run_id else None
    if cells.empty:
        what = "purchases" if basis == "purchase" else "events"
        raise NotFoundError(f"There are no {what} in this workspace to form cohorts from.",
                            hint="Load orders or purchase events on the Data page"
                            + (", or use first-seen cohorts (--basis seen)." if basis == "purchase" else "."))
    cells["cohort"] = pd.to_datetime(cells["cohort"]).dt.date
    return CohortTable(by, basis, run_id, name, cells[list(COLUMNS)])


def cell_shoppers(ws: Workspace, cohort: date | str, period: int, by: str = "month",
                  basis: str = "purchase", segment: str = OVERALL,
                  segment_run: str | None = None) -> list[str]:
    """The shoppers of one cell: in ``cohort`` (and ``segment``) and active ``period`` units later."""
    _check(by, basis)
    when = date.fromisoformat(cohort) if isinstance(cohort, str) else cohort
    with ws.cursor() as cur:
        run_id = resolve_run_id_of(cur, segment_run) if segment != OVERALL else None
        params = {**_params(by, basis, run_id), "segment": segment, "cohort": when,
                  "period": int(period)}
        try:
            rows = cur.execute(_CELL_SQL, params).fetchall()
        except duckdb.ConversionException as e:
            raise ConfigError(f"Cohort {cohort!r} is not a date.", hint="Give it as YYYY-MM-DD.",
                              title="Invalid argument") from e
    return [str(r[0]) for r in rows]


def save_cell(ws: Workspace, user_ids: Sequence[str], name: str,
              segment_run: str | None = None) -> SavedCell:
    """Save a cell's shoppers as a segment, through the same path as a map selection.

    Only profiled shoppers can be saved (a segment run holds profiles); the count of the others
    is returned so the page can say to rebuild the profiles rather than lose them quietly.
    """
    from analytics.segments import save_selection

    with ws.cursor() as cur:
        missing = int(cur.execute(_NOT_PROFILED_SQL, [sorted(set(user_ids))]).fetchall()[0][0])
    run = save_selection(ws, list(user_ids), name, segment_run)
    return SavedCell(run.run_id, run.name, run.segments[0].size, missing)
