"""Shopper profiles: one row per shopper with RFM, engagement, intent and affinity features.

Everything is computed in SQL (the units in ``analytics/sql/profiles``: the feature rows, then
``scores.sql`` for the population quintiles) over the events up to an ``as_of`` moment, on
DuckDB here or on Apache Spark (:mod:`analytics.engines.spark`), and stored as the table
``profiles``, which segmentation, the profile page and exports read. :func:`refresh_profiles`
recomputes only the shoppers whose profile can have changed. Each feature group is its own
CTE that aggregates per user before the groups are joined, so a shopper with millions of
events costs no more than a hash-table entry.

RFM segments come from the usual R-versus-F grid of quintile scores (5 = most recent / most
frequent); the one change from the common ten-segment grid is that the very bottom cell
(R=1, F=1) is called *Lost* rather than *Hibernating*:

=====  ==============  ==================  ==================  ===============  ===============
R\\F    1               2                   3                   4                5
=====  ==============  ==================  ==================  ===============  ===============
5      New             Potential loyalist  Potential loyalist  Champions        Champions
4      Promising       Potential loyalist  Potential loyalist  Loyal            Loyal
3      About to sleep  About to sleep      Need attention      Loyal            Loyal
2      Hibernating     Hibernating         At risk             At risk          Can't lose them
1      Lost            Hibernating         At risk             At risk          Can't lose them
=====  ==============  ==================  ==================  ===============  ===============

Shoppers without a purchase get ``Never purchased``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb
import pandas as pd

from analytics import staleness
from analytics.engines import profile_sql
from analytics.engines.duckdb import DuckDBEngine
from analytics.errors import ConfigError, NotFoundError, ShopperLensError
from analytics.workspace import Workspace


@dataclass(frozen=True)
class Feature:
    """One output column of ``profiles``.

    ``kind`` is ``numeric`` (counts, ratios, scores and 0/1 flags), ``categorical`` (a label),
    ``timestamp`` or ``json`` (JSON text), so consumers can pick model inputs.
    """

    name: str
    group: str
    help: str
    kind: str = "numeric"


@dataclass(frozen=True)
class RefreshSummary:
    """What :func:`refresh_profiles` changed."""

    users: int
    recomputed: int
    as_of: datetime
    previous_as_of: datetime


@dataclass(frozen=True)
class ProfileSummary:
    """What :func:`build_profiles` stored."""

    users: int
    features: list[str]
    as_of: datetime


FEATURES: tuple[Feature, ...] = (
    Feature("recency_days", "rfm", "Calendar days from the last purchase to as_of (empty: never)"),
    Feature("frequency", "rfm", "Distinct orders (order id; else purchase session or day)"),
    Feature("monetary", "rfm", "Purchase revenue minus refunds"),
    Feature("avg_order_value", "rfm", "monetary / frequency"),
    Feature("r_score", "rfm", "Recency quintile among purchasers, 5 = most recent"),
    Feature("f_score", "rfm", "Frequency quintile among purchasers, 5 = most orders"),
    Feature("m_score", "rfm", "Monetary quintile among purchasers, 5 = biggest spend"),
    Feature("rfm_segment", "rfm", "Named segment from r_score and f_score", "categorical"),
    Feature("last_purchase_at", "rfm", "Time of the last purchase (UTC; empty: never)", "timestamp"),
    Feature("events", "engagement", "Events of any type"),
    Feature("sessions", "engagement", "Distinct sessions (visits)"),
    Feature("active_days", "engagement", "Distinct days with an event"),
    Feature("events_per_session", "engagement", "events / sessions"),
    Feature("views_per_session", "engagement", "Product views / sessions"),
    Feature("avg_session_minutes", "engagement", "Mean minutes from first to last event of a session"),
    Feature("days_since_last_event", "engagement", "Calendar days from the last event to as_of"),
    Feature("cart_adds", "intent", "Add-to-cart events"),
    Feature("cart_abandonment_rate", "intent",
            "Share of sessions with a cart add that have no purchase (empty: never carted)"),
    Feature("wishlist_adds", "intent", "Add-to-wishlist events"),
    Feature("searches", "intent", "Search events"),
    Feature("cart_no_purchase_7d", "intent",
            "1 if the last cart add in the 7 days to as_of has no purchase at or after it"),
    Feature("high_value_category_visits", "intent",
            "Views in categories whose mean viewed price is in the top quantile of categories"),
    Feature("main_device", "context", "Most frequent device", "categorical"),
    Feature("mobile_share", "context", "Share of events with a known device that are 'mobile'"),
    Feature("preferred_hour_band", "context",
            "Band with most events: night 0-5, morning 6-11, afternoon 12-17, evening 18-23 (UTC)",
            "categorical"),
    Feature("preferred_weekday", "context", "Weekday (Mon..Sun) with most events", "categorical"),
    Feature("main_channel", "context", "Most frequent marketing channel", "categorical"),
    Feature("country", "context", "Most frequent country", "categorical"),
    Feature("top_category", "affinity", "Category with most events", "categorical"),
    Feature("top_category_share", "affinity", "Share of events with a category in top_category"),
    Feature("category_count", "affinity", "Distinct categories touched"),
    Feature("category_shares", "affinity",
            "Share of events with a category per category, as JSON {category: share}", "json"),
    Feature("brand_concentration", "affinity",
            "Herfindahl index of brand shares (1 = one brand only; empty: no brands)"),
    Feature("avg_price_viewed", "affinity", "Mean unit price of viewed products"),
    Feature("avg_price_bought", "affinity", "Mean unit price of purchased lines"),
    Feature("price_sensitivity", "affinity",
            "avg_price_viewed / avg_price_bought - 1 (above 0: browses dearer than buys)"),
    Feature("offline_purchases", "channel", "Purchase events from offline sources (stores, POS)"),
    Feature("offline_share", "channel", "Offline share of purchase revenue"),
    Feature("omnichannel", "channel", "1 if the shopper bought both offline and online"),
    Feature("events_7d", "dynamic", "Events in the 7 days to as_of"),
    Feature("events_30d", "dynamic", "Events in the 30 days to as_of"),
    Feature("purchases_30d", "dynamic", "Purchase events in the 30 days to as_of"),
    Feature("revenue_30d", "dynamic", "Revenue minus refunds in the 30 days to as_of"),
    Feature("views_7d", "dynamic", "Product views in the 7 days to as_of"),
    # explicit feedback (rate events); see FEEDBACK_SQL
    Feature("ratings_given", "feedback", "Rate events with a rating"),
    Feature("mean_rating", "feedback", "Mean rating given (empty: never rated)"),
    Feature("high_rating_share", "feedback",
            "Share of ratings that are high: >= 4 on a 1-5 scale; when the workspace's top rating "
            "is above 5, >= 80% of it (empty: never rated)"),
    Feature("crm_attributes", "crm", "CRM columns as JSON text (latest CRM file)", "json"),
)

# predicted values (analytics/predict), stored by the latest lifetime-value fit in the
# table ``predictions`` rather than computed by the SQL units; load_profiles and lookup add them
# once a fit exists, so rules, clustering, exports and Shopper 360 use them like any feature.
PREDICTED_FEATURES: tuple[Feature, ...] = (
    Feature("p_alive", "predicted",
            "Probability the shopper is still buying at the fit's as_of (BG/NBD; empty: never bought)"),
    Feature("expected_purchases", "predicted",
            "Expected orders in the fit's horizon (default 365 days) after its as_of (BG/NBD)"),
    Feature("expected_order_value", "predicted",
            "Expected value of a future order: own repeat-order mean shrunk to the shop's (Gamma-Gamma)"),
    Feature("clv", "predicted",
            "Customer lifetime value: expected spend over the fit's horizon (expected orders x value)"),
)
#: Every feature a consumer can pick: the built ones, then the predicted ones.
CATALOGUE: tuple[Feature, ...] = FEATURES + PREDICTED_FEATURES

#: The RFM grid of the module docstring: one row per r_score from 5 down to 1, one column per
#: f_score from 1 to 5. Bound into the SQL as a flat list, so this is the only copy.
RFM_GRID: tuple[tuple[str, ...], ...] = (
    ("New", "Potential loyalist", "Potential loyalist", "Champions", "Champions"),
    ("Promising", "Potential loyalist", "Potential loyalist", "Loyal", "Loyal"),
    ("About to sleep", "About to sleep", "Need attention", "Loyal", "Loyal"),
    ("Hibernating", "Hibernating", "At risk", "At risk", "Can't lose them"),
    ("Lost", "Hibernating", "At risk", "At risk", "Can't lose them"),
)
NEVER_PURCHASED = "Never purchased"
FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)

# The statements themselves are the SQL units of analytics/sql/profiles, composed by
# analytics.engines.profile_sql and run here on DuckDB (analytics.engines.spark runs the same).
# Everyone else only grows older by the days between the two as_of dates.
_AGE_SQL = """
UPDATE profiles SET recency_days = recency_days + $days,
       days_since_last_event = days_since_last_event + $days, as_of = $as_of
WHERE user_id NOT IN (SELECT user_id FROM profile_refresh_users)
"""

_LAST_EVENT_SQL = "SELECT max(event_time) FROM events"
_COUNT_SQL = "SELECT count(*) FROM profiles"
_EXISTS_SQL = "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'profiles'"
_GLOBALS_EXIST_SQL = "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'profile_globals'"
_LOAD_SQL = "SELECT * FROM profiles ORDER BY user_id"
_LOOKUP_SQL = "SELECT * FROM profiles WHERE user_id = ?"
# with a lifetime-value fit stored, its values follow the built columns.
_PREDICTED_EXIST_SQL = "SELECT count(*) > 0 FROM (SELECT 1 FROM predictions LIMIT 1)"
_PREDICTED_SQL = ("SELECT p.*, v.p_alive, v.expected_purchases, v.expected_order_value, v.clv, "
                  "v.as_of AS predicted_as_of FROM profiles p "
                  "LEFT JOIN predictions v ON v.user_id = p.user_id")

_NOT_BUILT_HINT = "Build them first: analytics.profiles.build_profiles(ws) or the Profiles page."


def build_profiles(ws: Workspace, as_of: datetime | None = None,
                   high_value_quantile: float = 0.75) -> ProfileSummary:
    """Compute one profile per shopper and store them as the table ``profiles``.

    The table is replaced atomically, so a failed build leaves the previous profiles intact.

    Parameters
    ----------
    ws : Workspace
        The workspace holding ``events`` (and optionally ``users`` for CRM attributes).
    as_of : datetime, optional
        The moment profiles describe; only events at or before it count and all windows end
        at it. Naive values are UTC. Default: the time of the last event.
    high_value_quantile : float
        A category is high-value when its mean viewed price is at or above this quantile of
        the categories' mean viewed prices (0-1).

    Returns
    -------
    ProfileSummary
        How many shoppers were profiled, the feature columns and the ``as_of`` used.

    Raises
    ------
    NotFoundError
        When no events are loaded.
    ConfigError
        When ``high_value_quantile`` is outside 0-1.

    Examples
    --------
    >>> summary = build_profiles(ws)                        # doctest: +SKIP
    >>> lookup(ws, "u1")["rfm_segment"]                     # doctest: +SKIP
    'Champions'
    """
    _check_quantile(high_value_quantile)
    with ws.transaction() as cur, _out_of_memory():
        cutoff = _resolve_as_of(cur, as_of)
        _build_table(cur, cutoff, high_value_quantile)
        users = int(cur.execute(_COUNT_SQL).fetchall()[0][0])
        staleness.record(cur, staleness.PROFILES)
    return ProfileSummary(users=users, features=list(FEATURE_NAMES), as_of=cutoff)


def _build_table(cur: duckdb.DuckDBPyConnection, cutoff: datetime, quantile: float) -> None:
    """(Re)create ``profiles`` for every shopper as of ``cutoff``, scores included."""
    _register_grid(cur)
    catalogue = catalogue_fills(cur)
    _run(cur, "CREATE OR REPLACE TEMP TABLE profile_rows AS " + profile_sql.rows_sql(
        catalogue=catalogue), _row_params(cutoff, quantile))
    _run(cur, "CREATE OR REPLACE TABLE profiles AS " + profile_sql.scored_sql(FEATURE_NAMES),
         {"as_of": cutoff, **_SCORE_PARAMS})
    cur.execute("DROP TABLE profile_rows")
    cur.unregister("rfm_grid")
    _run(cur, "CREATE OR REPLACE TABLE profile_globals AS " + profile_sql.globals_sql(catalogue),
         {"as_of": cutoff, "high_value_quantile": quantile})


def catalogue_fills(cur: duckdb.DuckDBPyConnection) -> bool:
    """Whether some events lack a category the catalogue gives their item: then every unit
    counts events under their item's catalogue category (the same answer either way, so the
    check only spares the join where it would change nothing)."""
    return bool(cur.execute(profile_sql.CATALOGUE_FILLS_SQL).fetchall()[0][0])


def _globals_unchanged(cur: duckdb.DuckDBPyConnection, cutoff: datetime, quantile: float) -> bool:
    """Whether the premium categories and the high-rating threshold are those the stored
    profiles were built with (no record, e.g. profiles stored by Spark: treated as changed)."""
    if not cur.execute(_GLOBALS_EXIST_SQL).fetchall()[0][0]:
        return False
    stored = cur.execute("SELECT * FROM profile_globals").fetchall()
    now = cur.execute(*_DUCKDB.prepare(profile_sql.globals_sql(catalogue_fills(cur)),
                                       {"as_of": cutoff, "high_value_quantile": quantile})).fetchall()
    return stored == now


def refresh_profiles(ws: Workspace, users: Iterable[str], as_of: datetime | None = None,
                     high_value_quantile: float = 0.75) -> RefreshSummary:
    """Bring stored profiles up to date after new events, recomputing as few shoppers as possible.

    ``users`` (those with new events) are recomputed in full. Shoppers with events leaving the
    7- or 30-day windows as ``as_of`` moves get only their window features recounted, from
    the last 30 days of events. Everyone's day counts grow by the days that passed, and RFM
    quintiles are re-ranked over the whole population. When the new events change what every
    row depends on (which categories are premium, the high-rating threshold), every profile is
    rebuilt instead. The result equals a full :func:`build_profiles` at the same ``as_of``
    (tested).
    """
    _check_quantile(high_value_quantile)
    with ws.transaction() as cur, _out_of_memory():
        _require_profiles(cur)
        old = cur.execute(_AS_OF_SQL).fetchall()[0][0]
        cutoff = _resolve_as_of(cur, as_of)
        if old is None:
            raise NotFoundError("The profiles table is empty.", hint=_NOT_BUILT_HINT)
        if not _globals_unchanged(cur, cutoff, high_value_quantile):
            _build_table(cur, cutoff, high_value_quantile)
            total = int(cur.execute(_COUNT_SQL).fetchall()[0][0])
            staleness.record(cur, staleness.PROFILES)
            return RefreshSummary(users=total, recomputed=total, as_of=cutoff, previous_as_of=old)
        cur.execute(_REFRESH_USERS_SQL)
        cur.register("new_event_users", pd.DataFrame({"user_id": sorted(set(users))}, dtype=object))
        cur.execute("INSERT INTO profile_refresh_users SELECT user_id FROM new_event_users")
        cur.unregister("new_event_users")
        cur.execute(_DISTINCT_REFRESH_USERS_SQL)
        recomputed = int(cur.execute("SELECT count(*) FROM profile_refresh_users").fetchall()[0][0])
        cur.execute("DELETE FROM profiles WHERE user_id IN (SELECT user_id FROM profile_refresh_users)")
        _run(cur, "CREATE OR REPLACE TEMP TABLE profile_rows AS "
             + profile_sql.rows_sql(all_users=False, catalogue=catalogue_fills(cur)),
             _row_params(cutoff, high_value_quantile))
        _run(cur, "INSERT INTO profiles " + profile_sql.assembly_sql(FEATURE_NAMES, scored=False),
             {"as_of": cutoff})
        cur.execute("DROP TABLE profile_rows")
        days = (cutoff.date() - old.date()).days
        cur.execute(_AGE_SQL, {"days": days, "as_of": cutoff})
        _run(cur, "CREATE OR REPLACE TEMP TABLE profile_windows AS " + profile_sql.moved_windows_sql(),
             {"old": old, "as_of": cutoff})
        cur.execute(profile_sql.update_sql("profiles", "profile_windows", profile_sql.WINDOW_COLUMNS))
        cur.execute("DROP TABLE profile_windows")
        _rescore(cur)
        total = int(cur.execute(_COUNT_SQL).fetchall()[0][0])
        staleness.record(cur, staleness.PROFILES)
    return RefreshSummary(users=total, recomputed=recomputed, as_of=cutoff, previous_as_of=old)


_REFRESH_USERS_SQL = "CREATE OR REPLACE TEMP TABLE profile_refresh_users (user_id VARCHAR)"
_DISTINCT_REFRESH_USERS_SQL = ("CREATE OR REPLACE TEMP TABLE profile_refresh_users AS "
                               "SELECT DISTINCT user_id FROM profile_refresh_users")
_AS_OF_SQL = "SELECT max(as_of) FROM profiles"
_SCORE_PARAMS: dict[str, Any] = {"never_purchased": NEVER_PURCHASED}
_DUCKDB = DuckDBEngine()


def rfm_grid() -> pd.DataFrame:
    """RFM_GRID as the relation scores.sql joins: r_score, f_score (1-5), segment."""
    return pd.DataFrame([(5 - r, f + 1, name) for r, row in enumerate(RFM_GRID)
                         for f, name in enumerate(row)], columns=["r_score", "f_score", "segment"])


def _register_grid(cur: duckdb.DuckDBPyConnection) -> None:
    cur.register("rfm_grid", rfm_grid())


def _run(cur: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any]) -> None:
    cur.execute(*_DUCKDB.prepare(sql, params))


def _rescore(cur: duckdb.DuckDBPyConnection) -> None:
    """Re-rank the RFM quintiles over the whole stored table (after an incremental change)."""
    _register_grid(cur)
    _run(cur, "CREATE OR REPLACE TEMP TABLE profile_scores AS " + profile_sql.scores_sql(),
         _SCORE_PARAMS)
    cur.execute(profile_sql.update_sql("profiles", "profile_scores", profile_sql.SCORE_COLUMNS))
    cur.execute("DROP TABLE profile_scores")
    cur.unregister("rfm_grid")


def _row_params(as_of: datetime, quantile: float) -> dict[str, Any]:
    return {"as_of": as_of, "high_value_quantile": quantile}


@contextmanager
def _out_of_memory() -> Iterator[None]:
    try:
        yield
    except duckdb.OutOfMemoryException as e:
        raise ShopperLensError(
            f"Building shopper profiles ran out of memory: {e}",
            hint="Raise SHOPPER_LENS_MEMORY_LIMIT or profile a shorter period (as_of).",
            title="Profiles not built") from e


def load_profiles(ws: Workspace) -> pd.DataFrame:
    """Return the stored ``profiles`` table, one row per shopper ordered by user id.

    Parameters
    ----------
    ws : Workspace
        The workspace.

    Returns
    -------
    pandas.DataFrame
        ``user_id``, every column of :data:`FEATURES` in order, then ``as_of``.

    Raises
    ------
    NotFoundError
        When profiles have not been built yet.
    """
    with ws.cursor() as cur:
        _require_profiles(cur)
        if _has_predictions(cur):
            return cur.execute(_PREDICTED_SQL + " ORDER BY p.user_id").df()
        return cur.execute(_LOAD_SQL).df()


def _has_predictions(cur: duckdb.DuckDBPyConnection) -> bool:
    return bool(cur.execute(_PREDICTED_EXIST_SQL).fetchall()[0][0])


def profiles_as_of(ws: Workspace, as_of: datetime,
                   high_value_quantile: float = 0.75) -> pd.DataFrame:
    """Every shopper's profile as it was at ``as_of``, leaving the stored table untouched.

    an experiment's lift by segment needs each shopper's segment *before* the
    treatment; the profiles are built exactly as :func:`build_profiles` builds them, inside a
    transaction that is rolled back, so nobody else sees them.
    """
    _check_quantile(high_value_quantile)
    with ws.transaction(commit=False) as cur, _out_of_memory():
        _build_table(cur, _resolve_as_of(cur, as_of), high_value_quantile)
        return cur.execute(_LOAD_SQL).df()


def lookup(ws: Workspace, user_id: str) -> dict[str, Any] | None:
    """Return one shopper's profile as a column -> value dict, or None if there is none.

    Parameters
    ----------
    ws : Workspace
        The workspace.
    user_id : str
        The master user id (bound as a parameter, never spliced into SQL).

    Returns
    -------
    dict or None
        The profile row, or None when the id has no profile.

    Raises
    ------
    NotFoundError
        When profiles have not been built yet.
    """
    with ws.cursor() as cur:
        _require_profiles(cur)
        sql = _PREDICTED_SQL + " WHERE p.user_id = ?" if _has_predictions(cur) else _LOOKUP_SQL
        result = cur.execute(sql, [user_id])
        rows = result.fetchall()
        names = [column[0] for column in result.description]
    return dict(zip(names, rows[0], strict=True)) if rows else None


def _check_quantile(quantile: float) -> None:
    if not 0 <= quantile <= 1:
        raise ConfigError(f"high_value_quantile={quantile!r} is not between 0 and 1.",
                          hint="Use 0.75 (top quarter of categories) or another share in 0-1.")


def _resolve_as_of(cur: duckdb.DuckDBPyConnection, as_of: datetime | None) -> datetime:
    if as_of is not None:
        return as_of.astimezone(UTC).replace(tzinfo=None) if as_of.tzinfo else as_of
    last = cur.execute(_LAST_EVENT_SQL).fetchall()[0][0]
    if last is None:
        raise NotFoundError("There are no events to build shopper profiles from.",
                            hint="Load an events file on the Data page or with "
                            "`shopper-lens ingest PATH`, then build profiles again.")
    return last  # type: ignore[no-any-return]


def _require_profiles(cur: duckdb.DuckDBPyConnection) -> None:
    if not cur.execute(_EXISTS_SQL).fetchall()[0][0]:
        raise NotFoundError("Shopper profiles have not been built in this workspace.",
                            hint=_NOT_BUILT_HINT)


def numeric_columns(profiles: pd.DataFrame) -> list[str]:
    """The numeric features present in ``profiles``, in CATALOGUE order (predicted ones last)."""
    return [f.name for f in CATALOGUE if f.kind == "numeric" and f.name in profiles.columns]


def feature_summary(profiles: pd.DataFrame) -> pd.DataFrame:
    """Per numeric feature: group, how many shoppers have a value, quartiles, mean and maximum."""
    rows = []
    groups = {f.name: f.group for f in CATALOGUE}
    for name in numeric_columns(profiles):
        values = pd.to_numeric(profiles[name], errors="coerce").astype("float64")
        known = values.dropna()
        rows.append({"feature": name, "group": groups[name], "filled": len(known) / max(len(values), 1),
                     "mean": known.mean(), "p25": known.quantile(0.25), "median": known.median(),
                     "p75": known.quantile(0.75), "max": known.max()})
    return pd.DataFrame(rows)


def correlations(profiles: pd.DataFrame, columns: list[str] | None = None) -> pd.DataFrame:
    """Spearman rank correlations between numeric features (robust to long tails)."""
    chosen = columns or numeric_columns(profiles)
    frame = profiles[chosen].apply(pd.to_numeric, errors="coerce").astype("float64")
    corr: pd.DataFrame = frame.loc[:, frame.nunique() > 1].corr(method="spearman")
    return corr
