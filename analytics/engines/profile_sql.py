"""The profile statements, composed from the units in ``analytics/sql/profiles``.

Both engines run exactly these statements; only the macro spellings and the parameter style
differ (see :mod:`analytics.engines.base`). New features: add the aggregate to the unit that
owns its group (one pass over the events: ``user_stats``), select it in ``profile_rows`` and
declare it in :data:`analytics.profiles.FEATURES`; the assembly below follows FEATURES.
"""

from __future__ import annotations

from collections.abc import Sequence

from analytics.engines.base import compose, identifier, unit, units

GROUP = "profiles"
#: The units behind profile_rows, in dependency order (each may read the ones before it).
ROW_UNITS = ("scoped", "visits", "visit_stats", "tallies", "modes", "labels",
             "category_mix", "category_prices", "premium_categories", "rating_scale", "active_days",
             "order_counts", "user_stats")
#: Units DuckDB should not materialise (Spark inlines every CTE anyway): the groups reading
#: scoped, and writing its 16 columns for every event cost more than each group scanning
#: events for its own columns (measured at 20k shoppers: the build 12.4 -> 8.2 s wall).
INLINE_UNITS = ("catalogued_events", "scope_events", "scoped")
#: The window features (windows.sql), recounted alone by an incremental refresh.
WINDOW_COLUMNS = ("events_7d", "events_30d", "purchases_30d", "revenue_30d", "views_7d",
                  "cart_no_purchase_7d")
#: The population columns (scores.sql), re-ranked over everyone after any change.
SCORE_COLUMNS = ("r_score", "f_score", "m_score", "rfm_segment")
_SCORE_NULLS = {"r_score": "CAST(NULL AS BIGINT)", "f_score": "CAST(NULL AS BIGINT)",
                "m_score": "CAST(NULL AS BIGINT)", "rfm_segment": "CAST(NULL AS STRING)"}
# Whose events scoped.sql reads: everyone's, or those of the shoppers a refresh recomputes
# (two spellings rather than one `$all_users OR …` filter, which DuckDB kept as a join per scan).
_ALL_SCOPE = ("scope_events", "SELECT * FROM catalogued_events WHERE event_time <= $as_of")
_REFRESH_SCOPE = ("scope_events", "SELECT * FROM catalogued_events WHERE event_time <= $as_of "
                                  "AND user_id IN (SELECT user_id FROM profile_refresh_users)")
#: Does any event lack a category the catalogue gives its item (RetailRocket's events name only
#: the item)? Only then do the units read events through the catalogue: the join is a no-op
#: otherwise, and costs a pass over every event. One row, one boolean. Workspace (DuckDB) SQL.
_CATEGORISED_ITEMS = "SELECT item_id FROM items WHERE category IS NOT NULL"
CATALOGUE_FILLS_SQL = (f"SELECT EXISTS ({_CATEGORISED_ITEMS}) AND EXISTS (SELECT 1 FROM events "  # noqa: S608 (constants)
                       f"WHERE category IS NULL AND item_id IN ({_CATEGORISED_ITEMS}))")
#: Whether the catalogue has any category (events read from files: the fill may apply).
CATALOGUE_HAS_CATEGORIES_SQL = f"SELECT EXISTS ({_CATEGORISED_ITEMS})"  # noqa: S608 (constant)
# Whose CRM rows crm.sql ranks, ids resolved through the identity map: everyone's, or only
# those a refresh recomputes (the ranking window over every CRM row was ~20% of a refresh).
_CRM_ROWS = ("SELECT coalesce(m.user_id, u.user_id) AS user_id, u.attributes, d.loaded_at "
             "FROM users u JOIN datasets d ON d.dataset_id = u.dataset_id "
             "LEFT JOIN identity_map m ON m.alias = u.user_id")
_ALL_CRM = ("crm_rows", _CRM_ROWS)
_REFRESH_CRM = ("crm_rows", f"{_CRM_ROWS} WHERE coalesce(m.user_id, u.user_id) IN "  # noqa: S608 (constants)
                            "(SELECT user_id FROM profile_refresh_users)")
# What the full build feeds windows.sql: every scoped shopper and their scoped events.
_FULL_WINDOW_FEED = [
    ("window_events", "SELECT user_id, event_time, event_type, revenue FROM scoped"),
    ("window_users", "SELECT user_id, last_purchase_at FROM user_stats"),
]
# What an incremental refresh feeds it: only the shoppers whose windows moved.
_MOVED_WINDOW_FEED = [
    ("window_events", "SELECT user_id, event_time, event_type, revenue FROM events "
                      "WHERE user_id IN (SELECT user_id FROM moved)"),
    ("window_users", "SELECT user_id, last_purchase_at FROM profiles "
                     "WHERE user_id IN (SELECT user_id FROM moved)"),
]


def scope_parts() -> list[tuple[str, str]]:
    """Every shopper's events in scope (up to $as_of), keyed as the profiles key them: what
    other per-shopper SQL builds on (the lifetime-value summary), so an order means the same."""
    return [*_catalogued(False), _ALL_SCOPE, *units(GROUP, ("scoped",))]


def _catalogued(catalogue: bool) -> list[tuple[str, str]]:
    """catalogued_events: the events with their categories, filled from the catalogue when
    ``catalogue`` (CATALOGUE_FILLS_SQL said some need it), else the events as they are."""
    if not catalogue:
        return [("catalogued_events", "SELECT * FROM events")]
    return units(GROUP, ("item_categories", "catalogued_events"))


def row_parts(all_users: bool = True, catalogue: bool = False) -> list[tuple[str, str]]:
    """The named steps of profile_rows in dependency order (an engine may run them as CTEs of
    one statement, or as views it can cache); ``all_users`` False: only the shoppers in
    profile_refresh_users; ``catalogue``: events take their item's catalogue category."""
    return [*_catalogued(catalogue), _ALL_SCOPE if all_users else _REFRESH_SCOPE,
            *units(GROUP, ROW_UNITS),
            *_FULL_WINDOW_FEED, *units(GROUP, ("windows",)),
            _ALL_CRM if all_users else _REFRESH_CRM, *units(GROUP, ("crm",))]


def rows_sql(all_users: bool = True, catalogue: bool = False) -> str:
    """Every feature but the scores, one row per shopper in scope, as one DuckDB statement.
    Params: $as_of, $high_value_quantile. For a refresh (``all_users`` False) the scoped
    events are few and read once: that beats a filtered scan of every event per group
    (re-measured inside a refresh at 20k shoppers: 0.60-0.63 CPU s materialised vs
    0.83-0.86 with each group probing the shopper semi-join over all events)."""
    return compose(row_parts(all_users, catalogue), unit(GROUP, "profile_rows"),
                   inline=INLINE_UNITS if all_users else ("catalogued_events",))


def assembly_sql(features: Sequence[str], scored: bool = True) -> str:
    """``profiles`` in column order from profile_rows (+ profile_scores, or NULL scores)."""
    columns = []
    for name in map(identifier, features):
        if name in SCORE_COLUMNS:
            columns.append(f"s.{name}" if scored else f"{_SCORE_NULLS[name]} AS {name}")
        else:
            columns.append(f"r.{name}")
    join = "JOIN profile_scores s ON s.user_id = r.user_id " if scored else ""
    # Column names pass identifier() (plain names from FEATURES); values are parameters.
    return (f"SELECT r.user_id, {', '.join(columns)}, CAST($as_of AS TIMESTAMP) AS as_of "  # noqa: S608
            f"FROM profile_rows r {join}ORDER BY r.user_id")


def profiles_sql(features: Sequence[str]) -> str:
    """The whole profiles table as ONE statement (profile_rows inlined), e.g. to read its
    column types without running it. Params: those of rows_sql and scores_sql."""
    parts = [("profile_rows", rows_sql()), ("profile_scores", unit(GROUP, "scores"))]
    return compose(parts, assembly_sql(features))


def scored_sql(features: Sequence[str]) -> str:
    """profiles from a materialised profile_rows relation. Params: $as_of, $never_purchased."""
    return compose([("profile_scores", unit(GROUP, "scores"))], assembly_sql(features))


def scores_sql(source: str = "profiles") -> str:
    """user_id and SCORE_COLUMNS over every row of ``source`` (a table name)."""
    parts = [("profile_rows", f"SELECT * FROM {identifier(source)}"),  # noqa: S608
             ("profile_scores", unit(GROUP, "scores"))]
    return compose(parts, "SELECT * FROM profile_scores")


def globals_sql(catalogue: bool = False) -> str:
    """The population-wide inputs of every shopper's row, one row: the premium categories
    (sorted) and the high-rating threshold. A refresh that recomputes only some shoppers is
    exact only while these stay as they were. Params: $as_of, $high_value_quantile."""
    parts = [*_catalogued(catalogue),
             *units(GROUP, ("category_prices", "premium_categories", "rating_scale"))]
    return compose(parts, "SELECT (SELECT list(category ORDER BY category) FROM premium_categories)"
                          " AS premium_categories, (SELECT high_rating FROM rating_scale) AS high_rating",
                   inline=("catalogued_events",))


def moved_windows_sql() -> str:
    """The window features of the shoppers whose windows moved from $old to $as_of."""
    parts = [("moved", unit(GROUP, "window_moves")), *_MOVED_WINDOW_FEED,
             ("windows", unit(GROUP, "windows"))]
    return compose(parts, "SELECT * FROM windows")


def update_sql(table: str, source: str, columns: Sequence[str]) -> str:
    """``UPDATE table SET c = source.c, … FROM source`` matched on user_id (DuckDB only)."""
    sets = ", ".join(f"{c} = u.{c}" for c in map(identifier, columns))
    return (f"UPDATE {identifier(table)} SET {sets} FROM {identifier(source)} u "  # noqa: S608
            f"WHERE {identifier(table)}.user_id = u.user_id")
