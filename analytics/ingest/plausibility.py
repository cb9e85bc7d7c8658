"""The plausibility gate: loaded values that parse but are probably wrong, each with a fix.

Runs inside the load transaction over the staged (``_raw``) rows and the loadable ones
(``_norm``'s, or the rows a direct load just wrote),
so the preview and the report say the same. Each finding is a :class:`LoadWarning`
``{code, message, hint}``; ``--strict`` turns any of them into a refusal, and more than
:data:`MAX_UNKNOWN_SHARE` of rows with an unknown event type refuses the file unless confirmed.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb

from analytics.ingest.mapping import ColumnMapping
from analytics.ingest.readers import quote_ident
from analytics.schema import EVENT_TYPES

SAMPLE = 5000
EARLIEST = datetime(2000, 1, 1)
MAX_UNKNOWN_SHARE = 0.05
MICRO_MEDIAN = 1e5
FEW_USERS = 3  # at most this many distinct ids ...
FEW_USERS_ROWS = 100  # ... among at least this many rows
_AMOUNT_NAMES = re.compile(r"amount|value|revenue|sales|total|price|spend|paid|dollar|sum|cost",
                           re.I)
# counts, quantities and ids are numbers but never money (GA4's ecommerce.total_item_quantity)
_COUNT_NAMES = re.compile(r"quantit|qty|count|units|items|number|(^|_|\.)id$", re.I)
_TIME_NAMES = re.compile(r"time|date|_at$|stamp|day", re.I)
# The loadable rows the checks read: ``_norm``'s, or (direct load) the rows just written.
VALID = "(SELECT * FROM _norm WHERE _reason IS NULL)"


@dataclass(frozen=True)
class LoadWarning:
    """Something that loads but is probably wrong: what, and what to do."""

    code: str
    message: str
    hint: str

    def as_json(self) -> dict[str, str]:
        return asdict(self)


def _one(cur: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> Any:
    return cur.execute(sql, params or []).fetchall()[0]


def check_events(cur: duckdb.DuckDBPyConnection, mapping: ColumnMapping,
                 source_columns: list[str], valid: str = VALID) -> list[LoadWarning]:
    """Every warning for an events load (other kinds have nothing of this sort to check).

    ``valid`` is the SQL relation of the loadable rows (``user_id`` as the file gave it)."""
    if mapping.kind != "events":
        return []
    rows = int(_one(cur, f"SELECT count(*) FROM {valid}")[0])
    if rows == 0:
        return []
    found = [
        _timestamps(cur, mapping, source_columns, rows, valid),
        *_micro_units(cur, mapping, valid),
        _scaled_prices(cur, mapping, valid),
        _no_monetary(cur, mapping, source_columns, valid),
        _some_unpriced(cur, valid),
        _few_users(cur, mapping, rows, valid),
        unknown_types(cur, rows, valid),
    ]
    return [w for w in found if w is not None]


def _timestamps(cur: duckdb.DuckDBPyConnection, mapping: ColumnMapping,
                source_columns: list[str], rows: int, valid: str) -> LoadWarning | None:
    now = datetime.now(UTC).replace(tzinfo=None)
    bad, lo, hi = _one(cur, f"SELECT count(*) FILTER (event_time < ? OR event_time > ?), "
                       f"min(event_time), max(event_time) FROM {valid}", [EARLIEST, now])
    if not bad:
        return None
    column = mapping.columns.get("event_time")
    cause = _likely_cause(cur, column) if column else ""
    others = _plausible_date_columns(cur, [c for c in source_columns if c != column])
    hint = ("Map event_time to " + " or ".join(f"`{c}` ({span})" for c, span in others)
            + f" (--map event_time={others[0][0]})." if others else
            "Map event_time to a column with calendar dates, or fix the export.")
    if {"visitstarttime", "fullvisitorid"} <= {c.lower() for c in source_columns}:
        hint += " For a GA360 hit export, --preset ga360_hits adds the hit time to visitStartTime."
    where = f"`{column}`" if column else "event_time"
    return LoadWarning(
        "timestamp_implausible",
        f"{bad:,} of {rows:,} rows have {where} before 2000 or after today "
        f"({lo:%Y-%m-%d} to {hi:%Y-%m-%d}){cause}.", hint)


def _likely_cause(cur: duckdb.DuckDBPyConnection, column: str) -> str:
    """Small numbers read as an epoch are offsets (ms since the visit began), not dates."""
    median = _one(cur, f"SELECT median(TRY_CAST({quote_ident(column)} AS DOUBLE)) "
                  f"FROM (SELECT * FROM _raw LIMIT {SAMPLE})")[0]
    if median is not None and 0 <= float(median) < 1e9:
        return (f"; `{column}` holds small numbers (median {float(median):,.0f}), which looks like "
                "seconds or milliseconds since a start (e.g. since the visit began), not a date")
    return ""


def _plausible_date_columns(cur: duckdb.DuckDBPyConnection, columns: list[str]
                            ) -> list[tuple[str, str]]:
    """Columns whose sampled values read as dates from 2000 to today: (name, year span)."""
    now = datetime.now(UTC).replace(tzinfo=None)
    out = []
    # Columns named like times first (visitStartTime before visitId).
    for column in sorted(columns[:60], key=lambda c: not _TIME_NAMES.search(c)):
        text = f"trim(CAST({quote_ident(column)} AS VARCHAR))"
        number = f"TRY_CAST({text} AS DOUBLE)"
        epoch = "CASE WHEN {n} BETWEEN {lo} AND {hi} THEN make_timestamp(CAST({n} * {f} AS BIGINT)) END"
        candidates = (
            f"CASE WHEN regexp_full_match({text}, '\\d{{8}}') THEN try_strptime({text}, '%Y%m%d') END",
            epoch.format(n=number, lo=9.4e8, hi=4e9, f=1e6),
            epoch.format(n=number, lo=9.4e11, hi=4e12, f=1e3),
            f"CASE WHEN {number} IS NULL THEN TRY_CAST({text} AS TIMESTAMP) END",
        )
        for expr in candidates:
            sql = (f"SELECT count(*), count(t) FILTER (t BETWEEN ? AND ?), min(t), max(t) FROM "
                   f"(SELECT {expr} AS t FROM (SELECT * FROM _raw LIMIT {SAMPLE}) "
                   f"WHERE {quote_ident(column)} IS NOT NULL)")
            try:
                total, good, lo, hi = _one(cur, sql, [EARLIEST, now])
            except duckdb.Error:
                continue
            if total and good >= 0.95 * total:
                out.append((column, f"{lo:%Y}" if lo.year == hi.year else f"{lo:%Y}–{hi:%Y}"))
                break
    return out[:3]


def _micro_units(cur: duckdb.DuckDBPyConnection, mapping: ColumnMapping, valid: str
                 ) -> list[LoadWarning]:
    found = []
    for name in ("price", "revenue"):
        if name not in mapping.mapped():
            continue
        median, whole = _one(cur, f"SELECT median({name}), bool_and({name} = round({name})) "
                             f"FROM {valid} WHERE {name} IS NOT NULL AND {name} <> 0")
        if median is not None and whole and float(median) > MICRO_MEDIAN:
            found.append(LoadWarning(
                "micro_unit_prices",
                f"{name} values are whole numbers with a median of {float(median):,.0f}: they look "
                "like micro-units (20990000 for 20.99), not currency amounts.",
                "Load with --set price_scale=0.000001 (on the Data page: Price scale)."))
            break
    return found


# prices that are all tiny fractions are scaled (H&M divides by an unknown factor).
SCALED_MAX = 1.0  # every positive price below this ...
SCALED_MEDIAN = 0.2  # ... with a median below this ...
SCALED_ROWS = 20  # ... over at least this many priced purchases


def _scaled_prices(cur: duckdb.DuckDBPyConnection, mapping: ColumnMapping, valid: str
                   ) -> LoadWarning | None:
    """Unit prices that are all fractions of one currency unit: scaled, not money."""
    if "price" not in mapping.mapped() or "price_scale" in mapping.constants:
        return None
    n, median, top = _one(cur, f"SELECT count(*), median(price), max(price) FROM {valid} "
                          "WHERE event_type = 'purchase' AND price > 0")
    if n < SCALED_ROWS or float(top) >= SCALED_MAX or float(median) >= SCALED_MEDIAN:
        return None
    return LoadWarning(
        "scaled_prices",
        f"all {n:,} purchase prices are below {SCALED_MAX:g} (median {float(median):.4g}, "
        f"max {float(top):.4g}): they look scaled or normalised (as in the H&M data set), not "
        "currency, so revenue and monetary are in that unknown unit.",
        "If you know the factor, load with --set price_scale=FACTOR (Data page: Price scale); "
        "otherwise compare spend only between shoppers (rankings and M scores hold, amounts "
        "do not).")


def _no_monetary(cur: duckdb.DuckDBPyConnection, mapping: ColumnMapping,
                 source_columns: list[str], valid: str) -> LoadWarning | None:
    purchases, priced = _one(cur, f"SELECT count(*), count(coalesce(price, revenue)) FROM {valid} "
                             "WHERE event_type IN ('purchase', 'refund')")
    if not purchases or priced:
        return None
    used = set(mapping.columns.values())
    candidate = _amount_column(cur, [c for c in source_columns if c not in used])
    ask = f" Map `{candidate}`?" if candidate else ""
    fix = f"--map revenue={candidate}" if candidate else "--map revenue=COLUMN (or price=COLUMN)"
    return LoadWarning(
        "no_monetary",
        f"{purchases:,} purchases have no price or amount: monetary will be 0 for every shopper, "
        f"so M scores and spend-based RFM names stay empty.{ask}",
        f"Map the line total or unit price ({fix}).")


UNPRICED_SHARE = 0.1  # a share of unpriced purchases that visibly understates spend


def _some_unpriced(cur: duckdb.DuckDBPyConnection, valid: str) -> LoadWarning | None:
    """Some purchases priced, many not (Yoochoose buys with price 0): spend is a lower bound."""
    purchases, priced = _one(cur, f"SELECT count(*), count(coalesce(price, revenue)) FROM {valid} "
                             "WHERE event_type = 'purchase'")
    unpriced = int(purchases) - int(priced)
    if not priced or unpriced < UNPRICED_SHARE * int(purchases):
        return None
    return LoadWarning(
        "unpriced_purchases",
        f"{unpriced:,} of {purchases:,} purchases ({unpriced / purchases:.0%}) have no price or "
        "amount: monetary, order values and M scores count only the priced ones, so spend is "
        "understated.",
        "Map the price or line-total column if the file has one (--map price=COLUMN); "
        "otherwise read spend as a lower bound.")


def _amount_column(cur: duckdb.DuckDBPyConnection, columns: list[str]) -> str | None:
    """An unmapped column that is numeric with decimals or has an amount-like name."""
    best: tuple[int, str] | None = None
    for column in columns[:60]:
        quoted = quote_ident(column)
        total, numeric, fractional = _one(
            cur, f"SELECT count({quoted}), count(TRY_CAST({quoted} AS DOUBLE)), "
            f"count(*) FILTER (TRY_CAST({quoted} AS DOUBLE) <> round(TRY_CAST({quoted} AS DOUBLE))) "
            f"FROM (SELECT * FROM _raw LIMIT {SAMPLE})")
        if not total or numeric < 0.95 * total or _COUNT_NAMES.search(column):
            continue
        score = 2 * bool(_AMOUNT_NAMES.search(column)) + bool(fractional)
        if score and (best is None or score > best[0]):
            best = (score, column)
    return best[1] if best else None


def _few_users(cur: duckdb.DuckDBPyConnection, mapping: ColumnMapping, rows: int,
               valid: str) -> LoadWarning | None:
    if rows < FEW_USERS_ROWS or "user_id" in mapping.constants:
        return None
    distinct = int(_one(cur, f"SELECT count(DISTINCT user_id) FROM {valid}")[0])
    if distinct > FEW_USERS:
        return None
    column = mapping.columns.get("user_id", "user_id")
    return LoadWarning(
        "few_user_ids",
        f"`{column}` has only {distinct} distinct value(s) in {rows:,} rows: it is probably not a "
        "shopper id (a store, channel or status?).",
        "Map user_id to the customer or visitor id column (--map user_id=COLUMN).")


def unknown_types(cur: duckdb.DuckDBPyConnection, rows: int, valid: str = VALID
                  ) -> LoadWarning | None:
    """Rows whose event type is none of the canonical ones (after the value map)."""
    found = cur.execute(
        f"SELECT event_type, count(*) FROM {valid} WHERE event_type NOT IN "
        f"({', '.join('?' for _ in EVENT_TYPES)}) GROUP BY 1 ORDER BY 2 DESC, 1",
        list(EVENT_TYPES)).fetchall()
    if not found:
        return None
    n = sum(int(c) for _, c in found)
    listed = ", ".join(f"{v!r} ({int(c):,})" for v, c in found[:8])
    share = n / rows
    refuse = share > MAX_UNKNOWN_SHARE
    return LoadWarning(
        "unknown_event_types",
        f"{n:,} of {rows:,} rows ({share:.1%}) have event types that are not canonical: {listed}."
        + (f" Over {MAX_UNKNOWN_SHARE:.0%}: the file is refused unless you confirm." if refuse else ""),
        "Map them with --event-map VALUE=TYPE (types: " + ", ".join(EVENT_TYPES)
        + ", skip), or confirm with --allow-unknown-types (Data page: the confirm box).")


def unknown_share(cur: duckdb.DuckDBPyConnection, valid: str = VALID) -> float:
    """The share of loadable rows whose event type is not canonical (refused above 5%)."""
    n, rows = _one(cur, f"SELECT count(*) FILTER (event_type NOT IN "
                   f"({', '.join('?' for _ in EVENT_TYPES)})), count(*) FROM {valid}",
                   list(EVENT_TYPES))
    return int(n) / int(rows) if rows else 0.0
