"""A large shop written straight to Parquet by DuckDB SQL, for the 1M-100M-event scale runs.

The Python sample generator makes ~60k events/s, so 100M events would take half an hour before
any measurement; here DuckDB writes the canonical event columns from ``range()`` with
hash-based pseudo-random values (deterministic: the same N gives the same files), chunked by
time so that each file is one ingest whose time range overlaps no earlier file's (no dedup
scan against stored rows, as with daily exports).

Shape: N/50 shoppers, 20,000 items with a skewed (squared-uniform) popularity, 20 categories,
200 brands, a fixed price per item; 60% views, 15% carts, 7% purchases, 8% searches,
10% wishlists; sessions are 30-minute buckets per shopper; one year of time.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

EVENTS_PER_USER = 50  # the SQL below: 20,000 items, 365 days from 2025-01-01

# $lo, $hi: the event numbers of this chunk; $n: all events; $users: shoppers.
_CHUNK_SQL = """
    SELECT 'u' || user_no AS user_id, event_time, event_type,
           'i' || item_no AS item_id, 'c' || (item_no % 20) AS category,
           'b' || (item_no % 200) AS brand,
           round(1 + (item_no * 7919 % 10000) / 100.0, 2) AS price,
           CASE WHEN event_type = 'purchase' THEN 1 + hash(n, 4) % 3 END AS quantity,
           's' || user_no || '_' || (epoch(event_time)::BIGINT // 1800) AS session_id,
           CASE WHEN event_type = 'purchase' THEN 'o' || n END AS order_id,
           (['mobile', 'desktop', 'tablet'])[CAST(1 + hash(user_no, 5) % 3 AS BIGINT)] AS device,
           (['email', 'search', 'social', 'direct'])[CAST(1 + hash(n, 6) % 4 AS BIGINT)] AS channel,
           (['FR', 'DE', 'GB', 'US', 'ES'])[CAST(1 + hash(user_no, 7) % 5 AS BIGINT)] AS country,
           CASE WHEN event_type = 'search' THEN 'q' || (item_no % 500) END AS search_query
    FROM (SELECT n, hash(n, 1) % $users AS user_no,
                 CAST(floor(pow((hash(n, 2) % 1000000) / 1e6, 2) * 20000) AS BIGINT) AS item_no,
                 TIMESTAMP '2025-01-01 00:00:00' + to_microseconds(
                     CAST(n * (365 * 86400e6 / $n) AS BIGINT)) AS event_time,
                 CASE WHEN hash(n, 3) % 100 < 60 THEN 'view' WHEN hash(n, 3) % 100 < 75 THEN 'cart'
                      WHEN hash(n, 3) % 100 < 82 THEN 'purchase'
                      WHEN hash(n, 3) % 100 < 90 THEN 'search' ELSE 'wishlist' END AS event_type
          FROM range($lo, $hi) t(n))"""


def write_shop(folder: Path, events: int, chunk: int = 10_000_000, threads: int = 2,
               memory_limit: str = "4GB") -> list[Path]:
    """Write ``events`` events as Parquet files of at most ``chunk`` events; their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    users = max(events // EVENTS_PER_USER, 1)
    paths = []
    with duckdb.connect(config={"threads": str(threads), "memory_limit": memory_limit}) as con:
        con.execute("SET enable_progress_bar = false")
        for i, lo in enumerate(range(0, events, chunk)):
            path = folder / f"events-{i:03d}.parquet"
            params = {"lo": lo, "hi": min(lo + chunk, events), "n": events, "users": users}
            # COPY cannot take parameters in its query; a temp view cannot either, so the
            # (integer, program-made) values are written into the SQL.
            sql = _CHUNK_SQL
            for name, value in params.items():
                sql = sql.replace(f"${name}", str(int(value)))
            target = str(path).replace("'", "''")
            con.execute(f"COPY ({sql}) TO '{target}' (FORMAT parquet, ROW_GROUP_SIZE 1000000)")
            paths.append(path)
    return paths
