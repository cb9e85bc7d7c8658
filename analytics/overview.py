"""What is loaded: headline numbers, activity over time and the datasets list."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from analytics.workspace import Workspace

_KPIS = """
SELECT count(*) AS events, count(DISTINCT user_id) AS users,
       count(DISTINCT item_id) AS items_seen, min(event_time) AS first, max(event_time) AS last,
       coalesce(sum(revenue), 0) AS revenue,
       count(DISTINCT order_id) FILTER (WHERE event_type = 'purchase') AS orders,
       count(*) FILTER (WHERE source = 'offline') AS offline_events
FROM events"""

_DAILY = """
SELECT date_trunc('day', event_time) AS day, event_type, count(*) AS events
FROM events GROUP BY ALL ORDER BY day"""

_DATASETS = """
SELECT dataset_id, name, kind, source, preset, format, rows_read, rows_loaded, rows_rejected,
       duplicates_skipped, loaded_at
FROM datasets ORDER BY loaded_at DESC"""


@dataclass(frozen=True)
class Overview:
    events: int
    users: int
    items_seen: int
    catalogue_items: int
    crm_users: int
    first: datetime | None
    last: datetime | None
    revenue: float
    orders: int
    offline_events: int
    datasets: int

    @property
    def empty(self) -> bool:
        return self.datasets == 0


def overview(ws: Workspace) -> Overview:
    with ws.cursor() as cur:
        kpi = cur.execute(_KPIS).fetchall()[0]
        catalogue, crm, datasets_n = cur.execute(
            "SELECT (SELECT count(DISTINCT item_id) FROM items), "
            "(SELECT count(DISTINCT user_id) FROM users), (SELECT count(*) FROM datasets)"
        ).fetchall()[0]
    events, users, items_seen, first, last, revenue, orders, offline = kpi
    return Overview(int(events), int(users), int(items_seen), int(catalogue), int(crm), first, last,
                    float(revenue), int(orders), int(offline), int(datasets_n))


def daily_events(ws: Workspace) -> pd.DataFrame:
    """Events per day and event type (for the activity chart)."""
    with ws.cursor() as cur:
        return cur.execute(_DAILY).df()


def datasets(ws: Workspace) -> pd.DataFrame:
    with ws.cursor() as cur:
        return cur.execute(_DATASETS).df()
