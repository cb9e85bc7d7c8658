"""Fit, validate and store lifetime value: the one call behind ``shopper-lens predict`` and the
Predictions page.

The fit runs twice: on the calibration period, to score its predictions of the holdout against
what happened (and against the naive baseline), then on all the data, for the values stored per
shopper. Both use the same order definition as the profiles.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from analytics import staleness
from analytics.errors import ConfigError
from analytics.predict import data, store
from analytics.predict.clv import (
    BGNBDParams,
    GammaGammaParams,
    expected_order_value,
    expected_purchases,
    fit_bgnbd,
    fit_gamma_gamma,
    lifetime_value,
    p_alive,
)
from analytics.predict.validate import Holdout, check_holdout
from analytics.workspace import Workspace

DEFAULT_HORIZON_DAYS = 365
Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class PredictionReport:
    """One fit: parameters on all data, the calibration fit and how it did on the holdout."""

    fit_id: str
    users: int
    as_of: datetime
    calibration_end: datetime
    horizon_days: float
    monthly_discount: float
    bgnbd: BGNBDParams
    gamma_gamma: GammaGammaParams
    calibration_bgnbd: BGNBDParams
    holdout: Holdout
    seconds: float
    #: Repeat buyers with a positive mean repeat-order value: the Gamma-Gamma fit's shoppers
    #: (everyone else gets the shop's mean order value).
    spend_shoppers: int = 0

    def as_json(self) -> dict[str, object]:
        """The CLI's ``--json`` object (keys fixed by issue 16) plus the fit's context."""
        h = self.holdout
        return {
            "users": self.users, "fit_id": self.fit_id, "as_of": self.as_of.isoformat(),
            "calibration_end": self.calibration_end.isoformat(), "horizon_days": self.horizon_days,
            "monthly_discount": self.monthly_discount, "bgnbd": self.bgnbd.as_json(),
            "gamma_gamma": self.gamma_gamma.as_json(),
            "calibration_bgnbd": self.calibration_bgnbd.as_json(),
            "holdout": {"predicted_purchases": h.predicted_purchases,
                        "actual_purchases": h.actual_purchases, "pearson": h.pearson, "auc": h.auc,
                        "baseline_pearson": h.baseline_pearson, "baseline_auc": h.baseline_auc,
                        "baseline_purchases": h.baseline_purchases, "days": h.days,
                        "shoppers": h.shoppers, "by_frequency": list(h.by_frequency),
                        "better_than_baseline": h.better_than_baseline,
                        "reliability": list(h.reliability), "calibration_error": h.calibration_error,
                        "brier": h.brier, "baseline_brier": h.baseline_brier},
            "verdict": h.verdict, "seconds": self.seconds, "spend_shoppers": self.spend_shoppers,
        }


def predict(ws: Workspace, calibration_end: datetime | None = None,
            horizon_days: float = DEFAULT_HORIZON_DAYS, monthly_discount: float = 0.0,
            progress: Progress | None = None) -> PredictionReport:
    """Validate on a calibration/holdout split, refit on everything, store per-shopper values.

    Raises
    ------
    PredictionError
        Too few repeat buyers to fit (in the calibration period or overall).
    ConfigError
        A horizon or discount out of range, or a calibration end outside the history.
    """
    _check_options(horizon_days, monthly_discount)
    say = progress or (lambda fraction, text: None)
    started = time.perf_counter()
    with ws.cursor() as cur:
        span = data.purchase_span(cur, calibration_end)
        say(0.1, "Summarising orders per shopper")
        calibration = data.summary(cur, span.calibration_end, as_of=span.last)
        full = data.summary(cur, span.last)
    say(0.4, "Fitting the calibration period and checking the holdout")
    calibration_fit = fit_bgnbd(calibration["frequency"], calibration["recency"], calibration["age"])
    holdout = check_holdout(calibration_fit, calibration, span.holdout_days)
    say(0.7, "Fitting all the data")
    bgnbd = fit_bgnbd(full["frequency"], full["recency"], full["age"])
    spend = fit_gamma_gamma(full["frequency"], full["mean_value"])
    values = per_shopper(bgnbd, spend, full, horizon_days, monthly_discount)
    report = PredictionReport(uuid.uuid4().hex[:12], len(full), span.last, span.calibration_end,
                              float(horizon_days), float(monthly_discount), bgnbd, spend,
                              calibration_fit, holdout, time.perf_counter() - started,
                              int(((full["frequency"] > 0) & (full["mean_value"] > 0)).sum()))
    say(0.9, "Saving the predictions")
    with ws.transaction() as cur:
        store.save(cur, report, values)
        staleness.record(cur, staleness.PREDICTIONS)
    say(1.0, "Done")
    return report


def per_shopper(bgnbd: BGNBDParams, spend: GammaGammaParams, summary: pd.DataFrame,
                horizon_days: float, monthly_discount: float = 0.0) -> pd.DataFrame:
    """user_id, p_alive, expected_purchases (in the horizon), expected_order_value, clv."""
    x, tx, t, m = (summary[c].to_numpy("float64") for c in ("frequency", "recency", "age", "mean_value"))
    return pd.DataFrame({
        "user_id": summary["user_id"].astype(str),
        "p_alive": p_alive(bgnbd, x, tx, t),
        "expected_purchases": expected_purchases(bgnbd, horizon_days, x, tx, t),
        "expected_order_value": expected_order_value(spend, x, np.nan_to_num(m, nan=-1.0)),
        "clv": lifetime_value(bgnbd, spend, horizon_days, x, tx, t, np.nan_to_num(m, nan=-1.0),
                              monthly_discount),
    })


def _check_options(horizon_days: float, monthly_discount: float) -> None:
    if not 1 <= horizon_days <= 3650:
        raise ConfigError(f"A horizon of {horizon_days} days is outside 1-3650.",
                          hint="Use --horizon-days 365 (a year) or another whole number of days.")
    if not 0 <= monthly_discount < 1:
        raise ConfigError(f"A monthly discount rate of {monthly_discount} is outside 0-1.",
                          hint="Use 0 (no discounting) or e.g. 0.01 for 1% a month.")
