"""Per-buyer purchase summaries (frequency, recency, age, mean repeat-order value) from the
events, in DuckDB SQL, for the BG/NBD and Gamma-Gamma fits.

An order is what the profiles count (the ``scoped`` unit's order key), so "3 orders" means the
same on the Profiles page and here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import duckdb
import pandas as pd

from analytics.engines.base import compose, unit
from analytics.engines.duckdb import DuckDBEngine
from analytics.engines.profile_sql import scope_parts
from analytics.errors import ConfigError, NotFoundError

# From the first purchase to the last event of any kind (the profiles' as_of).
_SPAN_SQL = "SELECT min(event_time) FILTER (WHERE event_type = 'purchase'), max(event_time) FROM events"
_DUCKDB = DuckDBEngine()
#: The default holdout: the last quarter of the purchase history.
HOLDOUT_SHARE = 0.25


@dataclass(frozen=True)
class Span:
    """The purchase history's first and last order time, and where calibration ends."""

    first: datetime
    last: datetime
    calibration_end: datetime

    @property
    def holdout_days(self) -> float:
        return (self.last - self.calibration_end).total_seconds() / 86400


def purchase_span(cur: duckdb.DuckDBPyConnection, calibration_end: datetime | None = None) -> Span:
    """The history's span and the calibration end (default: 75% of the way through)."""
    if calibration_end is not None and calibration_end.tzinfo is not None:
        calibration_end = calibration_end.astimezone(UTC).replace(tzinfo=None)
    first, last = cur.execute(_SPAN_SQL).fetchall()[0]
    if first is None:
        raise NotFoundError("There are no purchases to predict lifetime value from.",
                            hint="Load order or purchase events on the Data page, then fit again.")
    if calibration_end is None:
        calibration_end = first + (last - first) * (1 - HOLDOUT_SHARE)
    elif not first < calibration_end < last:
        raise ConfigError(
            f"The calibration end {calibration_end:%Y-%m-%d} is not inside the purchase history "
            f"({first:%Y-%m-%d} to {last:%Y-%m-%d}).",
            hint="Pick a date between the first and last purchase, leaving a holdout after it.")
    return Span(first, last, calibration_end)


def summary(cur: duckdb.DuckDBPyConnection, calibration_end: datetime,
            as_of: datetime | None = None) -> pd.DataFrame:
    """One row per buyer first seen by ``calibration_end``: user_id, frequency, recency, age
    (days), mean_value (of repeat orders) and holdout_orders (orders after it, up to ``as_of``)."""
    orders = compose([*scope_parts(), ("orders", unit("predict", "orders")),
                      ("ranked", unit("predict", "ranked"))],
                     unit("predict", "summary"))
    cutoff = as_of if as_of is not None else calibration_end + timedelta(days=36500)
    sql, params = _DUCKDB.prepare(orders, {"as_of": cutoff, "calibration_end": calibration_end})
    return cur.execute(sql, params).df()
