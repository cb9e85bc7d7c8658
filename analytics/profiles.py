"""Shopper profiles: one row per shopper with RFM, engagement, intent and affinity features.

Everything is computed in DuckDB (:data:`PROFILE_ROWS_SQL`, then :data:`SCORES_SQL` for the
population quintiles) over the events up to an ``as_of`` moment and stored as the table
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
    # h11a: explicit feedback (rate events); see FEEDBACK_SQL
    Feature("ratings_given", "feedback", "Rate events with a rating"),
    Feature("mean_rating", "feedback", "Mean rating given (empty: never rated)"),
    Feature("high_rating_share", "feedback",
            "Share of ratings that are high: >= 4 on a 1-5 scale; when the workspace's top rating "
            "is above 5, >= 80% of it (empty: never rated)"),
    Feature("crm_attributes", "crm", "CRM columns as JSON text (latest CRM file)", "json"),
)

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

# One row per shopper. Parameters: $as_of (TIMESTAMP, UTC), $high_value_quantile (0-1),
# $all_users (false: only the shoppers in the temp table profile_refresh_users). The population
# scores (RFM quintiles) are left empty here and filled by SCORES_SQL over the whole table.
PROFILE_ROWS_SQL = """
WITH
-- The events that count, with the keys and flags every group below uses.
scoped AS (
    SELECT user_id, event_time, event_type, category, brand, price, revenue, device, channel,
           country, rating,
           coalesce(session_id, 'day:' || strftime(event_time, '%Y-%m-%d')) AS session_key,
           coalesce('order:' || order_id, 'session:' || session_id,
                    'day:' || strftime(event_time, '%Y-%m-%d')) AS order_key,
           CASE WHEN event_type = 'purchase'
                THEN CASE WHEN source = 'offline' THEN 'offline' ELSE 'online' END
           END AS purchase_channel,
           CASE WHEN hour(event_time) < 6 THEN 'night' WHEN hour(event_time) < 12 THEN 'morning'
                WHEN hour(event_time) < 18 THEN 'afternoon' ELSE 'evening' END AS hour_band,
           strftime(event_time, '%a') AS weekday,
           event_time > $as_of - INTERVAL 7 DAY AS in_7d,
           event_time > $as_of - INTERVAL 30 DAY AS in_30d
    FROM events
    WHERE event_time <= $as_of
      AND ($all_users OR user_id IN (SELECT user_id FROM profile_refresh_users))
),
-- One row per visit: its length and whether it carted and bought.
visits AS (
    SELECT user_id, session_key,
           (epoch(max(event_time)) - epoch(min(event_time))) / 60 AS minutes,
           bool_or(event_type = 'cart') AS carted,
           bool_or(event_type = 'purchase') AS bought
    FROM scoped
    GROUP BY user_id, session_key
),
visit_stats AS (
    SELECT user_id, count(*) AS sessions, avg(minutes) AS avg_session_minutes,
           count(*) FILTER (carted AND NOT bought)
               / nullif(count(*) FILTER (carted), 0) AS cart_abandonment_rate
    FROM visits
    GROUP BY user_id
),
-- How often each shopper shows each value of the labelled columns (unknown values skipped).
tallies AS (
    SELECT user_id, 'device' AS attribute, device AS value, count(*) AS n
    FROM scoped WHERE device IS NOT NULL GROUP BY user_id, device
    UNION ALL SELECT user_id, 'channel', channel, count(*)
    FROM scoped WHERE channel IS NOT NULL GROUP BY user_id, channel
    UNION ALL SELECT user_id, 'country', country, count(*)
    FROM scoped WHERE country IS NOT NULL GROUP BY user_id, country
    UNION ALL SELECT user_id, 'hour_band', hour_band, count(*)
    FROM scoped GROUP BY user_id, hour_band
    UNION ALL SELECT user_id, 'weekday', weekday, count(*)
    FROM scoped GROUP BY user_id, weekday
    UNION ALL SELECT user_id, 'category', category, count(*)
    FROM scoped WHERE category IS NOT NULL GROUP BY user_id, category
    UNION ALL SELECT user_id, 'brand', brand, count(*)
    FROM scoped WHERE brand IS NOT NULL GROUP BY user_id, brand
),
-- Per shopper and column: the most frequent value (ties: alphabetically first), its share,
-- the Herfindahl index of the value shares and the share of 'mobile' (read for device only).
modes AS (
    SELECT user_id, attribute,
           first(value ORDER BY n DESC, value) AS top,
           max(n) / sum(n) AS top_share,
           sum(n * n) / (sum(n) * sum(n)) AS concentration,
           count(*) AS distinct_values,
           coalesce(sum(n) FILTER (lower(value) = 'mobile'), 0) / sum(n) AS mobile_share
    FROM tallies
    GROUP BY user_id, attribute
),
-- Each shopper's mix of categories as {category: share of their events with a category}.
category_mix AS (
    SELECT user_id,
           CAST(to_json(map_from_entries(list((value, round(n / total, 4)) ORDER BY n DESC, value)))
                AS VARCHAR) AS category_shares
    FROM (SELECT user_id, value, n, sum(n) OVER (PARTITION BY user_id) AS total
          FROM tallies WHERE attribute = 'category')
    GROUP BY user_id
),
-- Categories whose mean viewed price reaches the chosen quantile of category means.
category_prices AS (
    SELECT category, avg(price) AS avg_price
    FROM events
    WHERE event_time <= $as_of AND event_type = 'view' AND category IS NOT NULL AND price IS NOT NULL
    GROUP BY category
),
premium_categories AS (
    SELECT category
    FROM category_prices
    WHERE avg_price >= (SELECT quantile_cont(avg_price, $high_value_quantile) FROM category_prices)
),
-- RFM --------------------------------------------------------------------------------------
orders AS (
    SELECT user_id,
           count(DISTINCT order_key) FILTER (event_type = 'purchase') AS frequency,
           -- h11a: purchases without any price or amount give an unknown (NULL) monetary, not 0
           CASE WHEN count(revenue) FILTER (event_type IN ('purchase', 'refund')) = 0
                     AND count(*) FILTER (event_type = 'purchase') > 0 THEN NULL
                ELSE coalesce(sum(revenue) FILTER (event_type IN ('purchase', 'refund')), 0)
           END AS monetary,
           max(event_time) FILTER (event_type = 'purchase') AS last_purchase_at
    FROM scoped
    GROUP BY user_id
),
rfm AS (
    SELECT o.user_id,
           date_diff('day', CAST(o.last_purchase_at AS DATE), CAST($as_of AS DATE)) AS recency_days,
           o.frequency, o.monetary,
           o.monetary / nullif(o.frequency, 0) AS avg_order_value,
           CAST(NULL AS BIGINT) AS r_score, CAST(NULL AS BIGINT) AS f_score,
           CAST(NULL AS BIGINT) AS m_score, CAST(NULL AS VARCHAR) AS rfm_segment,
           o.last_purchase_at
    FROM orders o
),
-- Engagement -------------------------------------------------------------------------------
engagement AS (
    SELECT e.user_id, e.events, v.sessions, e.active_days,
           e.events / v.sessions AS events_per_session,
           e.views / v.sessions AS views_per_session,
           v.avg_session_minutes, e.days_since_last_event
    FROM (SELECT user_id, count(*) AS events,
                 count(*) FILTER (event_type = 'view') AS views,
                 count(DISTINCT CAST(event_time AS DATE)) AS active_days,
                 date_diff('day', CAST(max(event_time) AS DATE), CAST($as_of AS DATE))
                     AS days_since_last_event
          FROM scoped GROUP BY user_id) e
    JOIN visit_stats v USING (user_id)
),
-- Intent -----------------------------------------------------------------------------------
intent AS (
    SELECT i.user_id, i.cart_adds, v.cart_abandonment_rate, i.wishlist_adds, i.searches,
           CASE WHEN i.last_cart_7d IS NULL THEN 0
                WHEN i.last_purchase_at >= i.last_cart_7d THEN 0
                ELSE 1 END AS cart_no_purchase_7d,
           i.high_value_category_visits
    FROM (SELECT user_id,
                 count(*) FILTER (event_type = 'cart') AS cart_adds,
                 count(*) FILTER (event_type = 'wishlist') AS wishlist_adds,
                 count(*) FILTER (event_type = 'search') AS searches,
                 max(event_time) FILTER (event_type = 'cart' AND in_7d) AS last_cart_7d,
                 max(event_time) FILTER (event_type = 'purchase') AS last_purchase_at,
                 count(*) FILTER (event_type = 'view'
                                  AND category IN (SELECT category FROM premium_categories))
                     AS high_value_category_visits
          FROM scoped GROUP BY user_id) i
    JOIN visit_stats v USING (user_id)
),
-- Context ----------------------------------------------------------------------------------
context AS (
    SELECT user_id,
           any_value(top) FILTER (attribute = 'device') AS main_device,
           any_value(mobile_share) FILTER (attribute = 'device') AS mobile_share,
           any_value(top) FILTER (attribute = 'hour_band') AS preferred_hour_band,
           any_value(top) FILTER (attribute = 'weekday') AS preferred_weekday,
           any_value(top) FILTER (attribute = 'channel') AS main_channel,
           any_value(top) FILTER (attribute = 'country') AS country
    FROM modes
    GROUP BY user_id
),
-- Affinity ---------------------------------------------------------------------------------
affinity AS (
    SELECT p.user_id, m.top_category, m.top_category_share,
           coalesce(m.category_count, 0) AS category_count, c.category_shares,
           m.brand_concentration,
           p.avg_price_viewed, p.avg_price_bought,
           p.avg_price_viewed / nullif(p.avg_price_bought, 0) - 1 AS price_sensitivity
    FROM (SELECT user_id,
                 avg(price) FILTER (event_type = 'view') AS avg_price_viewed,
                 avg(price) FILTER (event_type = 'purchase') AS avg_price_bought
          FROM scoped GROUP BY user_id) p
    LEFT JOIN (SELECT user_id,
                      any_value(top) FILTER (attribute = 'category') AS top_category,
                      any_value(top_share) FILTER (attribute = 'category') AS top_category_share,
                      any_value(distinct_values) FILTER (attribute = 'category') AS category_count,
                      any_value(concentration) FILTER (attribute = 'brand') AS brand_concentration
               FROM modes WHERE attribute IN ('category', 'brand') GROUP BY user_id) m
        USING (user_id)
    LEFT JOIN category_mix c USING (user_id)
),
-- Channel ----------------------------------------------------------------------------------
channel AS (
    SELECT user_id,
           count(*) FILTER (purchase_channel = 'offline') AS offline_purchases,
           coalesce(sum(revenue) FILTER (purchase_channel = 'offline'), 0)
               / nullif(sum(revenue) FILTER (purchase_channel IS NOT NULL), 0) AS offline_share,
           CASE WHEN count(DISTINCT purchase_channel) = 2 THEN 1 ELSE 0 END AS omnichannel
    FROM scoped
    GROUP BY user_id
),
-- Dynamic ----------------------------------------------------------------------------------
dynamic AS (
    SELECT user_id,
           count(*) FILTER (in_7d) AS events_7d,
           count(*) FILTER (in_30d) AS events_30d,
           count(*) FILTER (in_30d AND event_type = 'purchase') AS purchases_30d,
           coalesce(sum(revenue) FILTER (in_30d AND event_type IN ('purchase', 'refund')), 0)
               AS revenue_30d,
           count(*) FILTER (in_7d AND event_type = 'view') AS views_7d
    FROM scoped
    GROUP BY user_id
),
-- h11a: explicit feedback: ratings given, their mean, the share of high ones ----------------
feedback AS (
    SELECT user_id, count(rating) FILTER (event_type = 'rate') AS ratings_given,
           avg(rating) FILTER (event_type = 'rate') AS mean_rating,
           avg(CASE WHEN rating >= (SELECT CASE WHEN max(rating) > 5 THEN 0.8 * max(rating) ELSE 4 END
                                    FROM events WHERE event_type = 'rate')
                    THEN 1.0 ELSE 0.0 END) FILTER (event_type = 'rate' AND rating IS NOT NULL)
               AS high_rating_share
    FROM scoped
    GROUP BY user_id
),
-- CRM: the latest CRM file's attributes, CRM ids resolved through the identity map ----------
crm AS (
    SELECT coalesce(m.user_id, u.user_id) AS user_id,
           CAST(arg_max(u.attributes, d.loaded_at) AS VARCHAR) AS crm_attributes
    FROM users u
    JOIN datasets d USING (dataset_id)
    LEFT JOIN identity_map m ON m.alias = u.user_id
    GROUP BY 1
)
SELECT rfm.user_id,
       rfm.* EXCLUDE (user_id), engagement.* EXCLUDE (user_id), intent.* EXCLUDE (user_id),
       context.* EXCLUDE (user_id), affinity.* EXCLUDE (user_id), channel.* EXCLUDE (user_id),
       dynamic.* EXCLUDE (user_id), feedback.* EXCLUDE (user_id), crm.crm_attributes,
       CAST($as_of AS TIMESTAMP) AS as_of
FROM rfm
JOIN engagement USING (user_id)
JOIN intent USING (user_id)
LEFT JOIN context USING (user_id)
JOIN affinity USING (user_id)
JOIN channel USING (user_id)
JOIN dynamic USING (user_id)
JOIN feedback USING (user_id)
LEFT JOIN crm USING (user_id)
ORDER BY rfm.user_id
"""

# Quintiles among purchasers over the whole table; ties go by the finer measure, then user
# id, so rebuilds agree. Parameters: $rfm_grid (25 names, r_score 1..5 major, f_score 1..5
# minor), $never_purchased.
SCORES_SQL = """
UPDATE profiles SET r_score = s.r_score, f_score = s.f_score, m_score = s.m_score,
       rfm_segment = coalesce($rfm_grid[(s.r_score - 1) * 5 + s.f_score], $never_purchased)
FROM (SELECT p.user_id, q.r_score, q.f_score, q.m_score
      FROM profiles p
      LEFT JOIN (SELECT user_id,
                        ntile(5) OVER (ORDER BY last_purchase_at, user_id) AS r_score,
                        ntile(5) OVER (ORDER BY frequency, monetary, user_id) AS f_score,
                        -- h11a: no M score from unknown spend (purchases with no amounts)
                        CASE WHEN monetary IS NOT NULL THEN ntile(5) OVER (
                            PARTITION BY monetary IS NULL ORDER BY monetary, user_id) END AS m_score
                 FROM profiles WHERE frequency > 0) q USING (user_id)) s
WHERE profiles.user_id = s.user_id
"""

# Shoppers without new events whose window features change as as_of moves from $old to
# $as_of (events leave the 7- or 30-day windows): recount those features from the last 30 days.
_WINDOWS_SQL = """
WITH moved AS (
    SELECT DISTINCT user_id FROM events
    WHERE ((event_time > $old - INTERVAL 30 DAY AND event_time <= $as_of - INTERVAL 30 DAY)
        OR (event_time > $old - INTERVAL 7 DAY AND event_time <= $as_of - INTERVAL 7 DAY))
      AND user_id NOT IN (SELECT user_id FROM profile_refresh_users)
),
recent AS (
    SELECT user_id,
           count(*) FILTER (event_time > $as_of - INTERVAL 7 DAY) AS events_7d,
           count(*) AS events_30d,
           count(*) FILTER (event_type = 'purchase') AS purchases_30d,
           coalesce(sum(revenue) FILTER (event_type IN ('purchase', 'refund')), 0) AS revenue_30d,
           count(*) FILTER (event_time > $as_of - INTERVAL 7 DAY AND event_type = 'view') AS views_7d,
           max(event_time) FILTER (event_type = 'cart' AND event_time > $as_of - INTERVAL 7 DAY)
               AS last_cart_7d
    FROM events
    WHERE event_time > $as_of - INTERVAL 30 DAY AND event_time <= $as_of
      AND user_id IN (SELECT user_id FROM moved)
    GROUP BY user_id
)
UPDATE profiles SET events_7d = coalesce(r.events_7d, 0), events_30d = coalesce(r.events_30d, 0),
       purchases_30d = coalesce(r.purchases_30d, 0), revenue_30d = coalesce(r.revenue_30d, 0),
       views_7d = coalesce(r.views_7d, 0),
       cart_no_purchase_7d = CASE WHEN r.last_cart_7d IS NULL THEN 0
                                  WHEN profiles.last_purchase_at >= r.last_cart_7d THEN 0 ELSE 1 END
FROM (SELECT m.user_id, recent.* EXCLUDE (user_id) FROM moved m LEFT JOIN recent USING (user_id)) r
WHERE profiles.user_id = r.user_id
"""
# Everyone else only grows older by the days between the two as_of dates.
_AGE_SQL = """
UPDATE profiles SET recency_days = recency_days + $days,
       days_since_last_event = days_since_last_event + $days, as_of = $as_of
WHERE user_id NOT IN (SELECT user_id FROM profile_refresh_users)
"""

_LAST_EVENT_SQL = "SELECT max(event_time) FROM events"
_COUNT_SQL = "SELECT count(*) FROM profiles"
_EXISTS_SQL = "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'profiles'"
_LOAD_SQL = "SELECT * FROM profiles ORDER BY user_id"
_LOOKUP_SQL = "SELECT * FROM profiles WHERE user_id = ?"

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
        cur.execute(_REFRESH_USERS_SQL)
        cur.execute("CREATE OR REPLACE TABLE profiles AS " + PROFILE_ROWS_SQL,
                    _row_params(cutoff, high_value_quantile, all_users=True))
        cur.execute(SCORES_SQL, _SCORE_PARAMS)
        users = int(cur.execute(_COUNT_SQL).fetchall()[0][0])
        staleness.record(cur, staleness.PROFILES)
    return ProfileSummary(users=users, features=[f.name for f in FEATURES], as_of=cutoff)


def refresh_profiles(ws: Workspace, users: Iterable[str], as_of: datetime | None = None,
                     high_value_quantile: float = 0.75) -> RefreshSummary:
    """Bring stored profiles up to date after new events, recomputing as few shoppers as possible.

    ``users`` (those with new events) are recomputed in full. Shoppers with events leaving the
    7- or 30-day windows as ``as_of`` moves get only their window features recounted, from
    the last 30 days of events. Everyone's day counts grow by the days that passed, and RFM
    quintiles are re-ranked over the whole population. The result equals a full
    :func:`build_profiles` at the same ``as_of`` (tested).
    """
    _check_quantile(high_value_quantile)
    with ws.transaction() as cur, _out_of_memory():
        _require_profiles(cur)
        old = cur.execute(_AS_OF_SQL).fetchall()[0][0]
        cutoff = _resolve_as_of(cur, as_of)
        if old is None:
            raise NotFoundError("The profiles table is empty.", hint=_NOT_BUILT_HINT)
        cur.execute(_REFRESH_USERS_SQL)
        cur.register("new_event_users", pd.DataFrame({"user_id": sorted(set(users))}, dtype=object))
        cur.execute("INSERT INTO profile_refresh_users SELECT user_id FROM new_event_users")
        cur.unregister("new_event_users")
        cur.execute(_DISTINCT_REFRESH_USERS_SQL)
        recomputed = int(cur.execute("SELECT count(*) FROM profile_refresh_users").fetchall()[0][0])
        cur.execute("DELETE FROM profiles WHERE user_id IN (SELECT user_id FROM profile_refresh_users)")
        cur.execute("INSERT INTO profiles " + PROFILE_ROWS_SQL,
                    _row_params(cutoff, high_value_quantile, all_users=False))
        days = (cutoff.date() - old.date()).days
        cur.execute(_AGE_SQL, {"days": days, "as_of": cutoff})
        cur.execute(_WINDOWS_SQL, {"old": old, "as_of": cutoff})
        cur.execute(SCORES_SQL, _SCORE_PARAMS)
        total = int(cur.execute(_COUNT_SQL).fetchall()[0][0])
        staleness.record(cur, staleness.PROFILES)
    return RefreshSummary(users=total, recomputed=recomputed, as_of=cutoff, previous_as_of=old)


_REFRESH_USERS_SQL = "CREATE OR REPLACE TEMP TABLE profile_refresh_users (user_id VARCHAR)"
_DISTINCT_REFRESH_USERS_SQL = ("CREATE OR REPLACE TEMP TABLE profile_refresh_users AS "
                               "SELECT DISTINCT user_id FROM profile_refresh_users")
_AS_OF_SQL = "SELECT max(as_of) FROM profiles"
# RFM_GRID flattened the way SCORES_SQL indexes it: r_score 1..5 major, f_score 1..5 minor.
_SCORE_PARAMS: dict[str, Any] = {"rfm_grid": [name for row in reversed(RFM_GRID) for name in row],
                                 "never_purchased": NEVER_PURCHASED}


def _row_params(as_of: datetime, quantile: float, all_users: bool) -> dict[str, Any]:
    return {"as_of": as_of, "high_value_quantile": quantile, "all_users": all_users}


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
        return cur.execute(_LOAD_SQL).df()


def profiles_as_of(ws: Workspace, as_of: datetime,
                   high_value_quantile: float = 0.75) -> pd.DataFrame:
    """Every shopper's profile as it was at ``as_of``, leaving the stored table untouched.

    h12exp: an experiment's lift by segment needs each shopper's segment *before* the
    treatment; the profiles are built exactly as :func:`build_profiles` builds them, inside a
    transaction that is rolled back, so nobody else sees them.
    """
    _check_quantile(high_value_quantile)
    with ws.transaction(commit=False) as cur, _out_of_memory():
        cutoff = _resolve_as_of(cur, as_of)
        cur.execute(_REFRESH_USERS_SQL)
        cur.execute("CREATE OR REPLACE TABLE profiles AS " + PROFILE_ROWS_SQL,
                    _row_params(cutoff, high_value_quantile, all_users=True))
        cur.execute(SCORES_SQL, _SCORE_PARAMS)
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
        result = cur.execute(_LOOKUP_SQL, [user_id])
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
    """The numeric features present in ``profiles``, in FEATURES order."""
    return [f.name for f in FEATURES if f.kind == "numeric" and f.name in profiles.columns]


def feature_summary(profiles: pd.DataFrame) -> pd.DataFrame:
    """Per numeric feature: group, how many shoppers have a value, quartiles, mean and maximum."""
    rows = []
    groups = {f.name: f.group for f in FEATURES}
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
