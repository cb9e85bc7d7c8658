"""The ``prediction_fits`` and ``predictions`` tables: write a fit and its per-shopper values,
read them back (the latest fit as a typed object), and the plain sentence for each number.

Only the latest fit's values are kept per shopper (``predictions`` is replaced), so rules and
exports never mix two fits; every fit's parameters and validation stay in ``prediction_fits``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import duckdb
import pandas as pd

from analytics.labels import money
from analytics.workspace import Workspace

if TYPE_CHECKING:
    from analytics.predict.lifetime import PredictionReport

#: The per-shopper columns, as load_profiles adds them (catalogue: profiles.PREDICTED_FEATURES).
COLUMNS = ("p_alive", "expected_purchases", "expected_order_value", "clv")
_FIT_SQL = "INSERT INTO prediction_fits VALUES (?, current_timestamp, ?, ?, ?, ?, ?, ?, ?, ?)"
_LATEST_SQL = ("SELECT fit_id, created_at, as_of, calibration_end, horizon_days, monthly_discount, "
               "users, bgnbd, gamma_gamma, holdout FROM prediction_fits "
               "ORDER BY created_at DESC, fit_id LIMIT 1")
_LOAD_SQL = "SELECT * FROM predictions ORDER BY user_id"


@dataclass(frozen=True)
class StoredFit:
    """The latest fit as stored: enough for the page to show parameters and validation."""

    fit_id: str
    created_at: datetime
    as_of: datetime
    calibration_end: datetime
    horizon_days: float
    monthly_discount: float
    users: int
    bgnbd: dict[str, Any]
    gamma_gamma: dict[str, Any]
    holdout: dict[str, Any]


def save(cur: duckdb.DuckDBPyConnection, report: PredictionReport, values: pd.DataFrame) -> None:
    """Record the fit and replace every shopper's predicted values (inside the caller's transaction)."""
    holdout = report.holdout.as_json()
    cur.execute(_FIT_SQL, [report.fit_id, report.as_of, report.calibration_end, report.horizon_days,
                           report.monthly_discount, report.users, json.dumps(report.bgnbd.as_json()),
                           json.dumps(report.gamma_gamma.as_json()),
                           json.dumps({**holdout, "calibration_bgnbd": report.calibration_bgnbd.as_json(),
                                       "spend_shoppers": report.spend_shoppers})])
    cur.execute("DELETE FROM predictions")
    frame = values.assign(as_of=report.as_of, fit_id=report.fit_id)
    cur.register("new_predictions", frame)
    cur.execute("INSERT INTO predictions SELECT user_id, p_alive, expected_purchases, "
                "expected_order_value, clv, as_of, fit_id FROM new_predictions")
    cur.unregister("new_predictions")


def latest_fit(ws: Workspace) -> StoredFit | None:
    """The most recent fit, or None when lifetime value has never been fitted."""
    with ws.cursor() as cur:
        rows = cur.execute(_LATEST_SQL).fetchall()
    if not rows:
        return None
    row = rows[0]
    return StoredFit(str(row[0]), row[1], row[2], row[3], float(row[4]), float(row[5]), int(row[6]),
                     json.loads(row[7]), json.loads(row[8]), json.loads(row[9]))


def load_predictions(ws: Workspace) -> pd.DataFrame:
    """Every shopper's stored values of the latest fit (empty frame when never fitted)."""
    with ws.cursor() as cur:
        return cur.execute(_LOAD_SQL).df()


def sentences(values: dict[str, Any], horizon_days: float) -> list[str]:
    """One plain sentence per predicted number of a shopper (Shopper 360); none when missing."""
    out = []
    alive, purchases = values.get("p_alive"), values.get("expected_purchases")
    order_value, clv = values.get("expected_order_value"), values.get("clv")
    horizon = f"{horizon_days:,.0f} days"
    if _known(alive):
        out.append(f"About a {alive:.0%} chance this shopper is still buying.")
    if _known(purchases):
        out.append(f"Expected to place about {purchases:,.1f} orders in the next {horizon}.")
    if _known(order_value):
        out.append(f"Their orders are expected to be worth about {money(order_value)} each.")
    if _known(clv):
        out.append(f"Expected to spend about {money(clv)} in the next {horizon} "
                   "(customer lifetime value).")
    return out


def _known(value: Any) -> bool:
    return isinstance(value, int | float) and value == value  # noqa: PLR0124 (NaN check)
