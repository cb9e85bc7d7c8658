"""Calibration/holdout check of the purchase model against the naive baseline, in numbers a
marketer can read: totals, per-shopper correlation, the AUC of "buys again", and the standard
plot of predicted vs actual holdout orders by number of calibration repeat orders.

The baseline is each shopper's calibration order rate (repeat orders / days observed) carried
over the holdout: what one would guess without a model.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from analytics.predict.clv import BGNBDParams, expected_purchases, p_alive

#: The plot's groups: 0, 1, ..., 6 repeat orders in calibration, then "7+".
TOP_GROUP = 7
#: Correlation / AUC differences smaller than this are "about the same" (not "better").
MARGIN = 0.01
#: A total of predicted holdout orders further than this from the actual one is flagged.
TOTAL_TOLERANCE = 0.15
#: Reliability bins of P(buys in the holdout); a mean gap (weighted) above this is flagged.
RELIABILITY_BINS = 10
CALIBRATION_TOLERANCE = 0.05


@dataclass(frozen=True)
class Holdout:
    """How the calibration fit predicted the holdout (None: not measurable, e.g. one class)."""

    days: float
    shoppers: int
    predicted_purchases: float
    actual_purchases: int
    baseline_purchases: float
    pearson: float | None
    auc: float | None
    baseline_pearson: float | None
    baseline_auc: float | None
    by_frequency: tuple[dict[str, float | int | str], ...]
    # is "the chance this shopper buys again" right, not only well ranked?
    reliability: tuple[dict[str, float | int], ...] = ()
    calibration_error: float | None = None  # shopper-weighted mean |predicted - actual| share
    brier: float | None = None
    baseline_brier: float | None = None  # the baseline's order rate as a Poisson chance

    def _pairs(self) -> list[tuple[float, float]]:
        pairs = [(self.pearson, self.baseline_pearson), (self.auc, self.baseline_auc)]
        return [(m, b) for m, b in pairs if m is not None and b is not None]

    @property
    def better_than_baseline(self) -> bool:
        """Both the correlation and the AUC beat the baseline's by at least MARGIN."""
        known = self._pairs()
        return bool(known) and all(m >= b + MARGIN for m, b in known)

    @property
    def verdict(self) -> str:
        """One plain sentence on whether to trust the model over the naive guess."""
        error = (self.predicted_purchases - self.actual_purchases) / max(self.actual_purchases, 1)
        total = f"it predicted {self.predicted_purchases:,.0f} holdout orders against " \
                f"{self.actual_purchases:,} actual ({error:+.0%})"
        if abs(error) > TOTAL_TOLERANCE:
            total += (f", off by more than {TOTAL_TOLERANCE:.0%}, so read its totals and lifetime "
                      "values as rough")
        total += self._calibration_words()
        if self.better_than_baseline:
            return (f"The model beats the naive baseline at telling who buys again and how often; "
                    f"{total}.")
        if self._pairs() and all(m >= b - MARGIN for m, b in self._pairs()):
            return (f"The model ranks shoppers about as well as the naive baseline (each shopper's "
                    f"past order rate), no better; {total}. What it adds is the chance each "
                    "shopper is still buying and a value for those with few orders.")
        return (f"The model is no better than the naive baseline (each shopper's past order rate) "
                f"on this data; {total}. Treat its per-shopper numbers as rough.")

    def _calibration_words(self) -> str:
        """The reliability check in words: are its buy-again chances the shares that buy?"""
        if self.calibration_error is None:
            return ""
        if self.calibration_error > CALIBRATION_TOLERANCE:
            return (f"; its chances of buying in the holdout are off by "
                    f"{100 * self.calibration_error:.0f} points on average (reliability table), "
                    "so use them to rank shoppers, not as probabilities")
        return (f"; its chances of buying in the holdout match the shares that bought within "
                f"{100 * self.calibration_error:.1f} points on average")

    def as_json(self) -> dict[str, object]:
        out = asdict(self)
        out["by_frequency"] = list(self.by_frequency)
        return {**out, "better_than_baseline": self.better_than_baseline, "verdict": self.verdict}


def check_holdout(params: BGNBDParams, summary: pd.DataFrame, days: float) -> Holdout:
    """Compare predicted with actual holdout orders per shopper, next to the baseline."""
    x, tx, t = (summary[c].to_numpy("float64") for c in ("frequency", "recency", "age"))
    actual = summary["holdout_orders"].to_numpy("float64")
    predicted = expected_purchases(params, days, x, tx, t)
    baseline = x / np.maximum(t, 1e-9) * days
    bought = actual > 0
    chance = buy_probability(params, days, x, tx, t)
    bins = reliability(chance, bought)
    naive = 1 - np.exp(-baseline)  # the baseline's rate as a Poisson chance of any order
    return Holdout(
        days=days, shoppers=len(summary), predicted_purchases=float(predicted.sum()),
        actual_purchases=int(actual.sum()), baseline_purchases=float(baseline.sum()),
        pearson=_pearson(predicted, actual), auc=_auc(bought, predicted),
        baseline_pearson=_pearson(baseline, actual), baseline_auc=_auc(bought, baseline),
        by_frequency=_by_frequency(x, predicted, actual, baseline), reliability=bins,
        calibration_error=_weighted_gap(bins), brier=_brier(chance, bought),
        baseline_brier=_brier(naive, bought))


def buy_probability(params: BGNBDParams, days: float, frequency: np.ndarray, recency: np.ndarray,
                    age: np.ndarray) -> np.ndarray:
    """P(at least one order in the ``days`` after T) under BG/NBD.

    Dropout happens only right after an order, so a shopper alive at T makes a first holdout
    order at their Poisson rate: P(alive) x (1 - ((alpha + T) / (alpha + T + days)) ** (r + x)).
    """
    alive = p_alive(params, frequency, recency, age)
    quiet = np.exp((params.r + frequency) * (np.log(params.alpha + age)
                                             - np.log(params.alpha + age + days)))
    return alive * (1 - quiet)  # type: ignore[no-any-return]


def reliability(chance: np.ndarray, bought: np.ndarray,
                bins: int = RELIABILITY_BINS) -> tuple[dict[str, float | int], ...]:
    """Equal-width bins of predicted chance: shoppers, mean predicted, share that bought."""
    which = np.minimum((chance * bins).astype(int), bins - 1)
    rows: list[dict[str, float | int]] = []
    for b in range(bins):
        mask = which == b
        if mask.any():
            rows.append({"low": b / bins, "high": (b + 1) / bins, "shoppers": int(mask.sum()),
                         "predicted": float(chance[mask].mean()), "actual": float(bought[mask].mean())})
    return tuple(rows)


def _weighted_gap(bins: tuple[dict[str, float | int], ...]) -> float | None:
    total = sum(int(b["shoppers"]) for b in bins)
    if not total:
        return None
    return sum(int(b["shoppers"]) * abs(float(b["predicted"]) - float(b["actual"])) for b in bins) / total


def _brier(chance: np.ndarray, bought: np.ndarray) -> float | None:
    return float(np.mean((chance - bought) ** 2)) if len(chance) else None


def _pearson(a: np.ndarray, b: np.ndarray) -> float | None:
    if len(a) < 2 or np.std(a) == 0 or np.std(b) == 0:
        return None
    value = float(np.corrcoef(a, b)[0, 1])
    return value if math.isfinite(value) else None


def _auc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    if labels.all() or not labels.any():
        return None
    return float(roc_auc_score(labels, scores))


def _by_frequency(x: np.ndarray, predicted: np.ndarray, actual: np.ndarray,
                  baseline: np.ndarray) -> tuple[dict[str, float | int | str], ...]:
    """Mean predicted / actual / baseline holdout orders per calibration repeat-order group."""
    group = np.minimum(x, TOP_GROUP).astype(int)
    rows: list[dict[str, float | int | str]] = []
    for g in range(TOP_GROUP + 1):
        mask = group == g
        if mask.any():
            rows.append({"repeat_orders": f"{g}+" if g == TOP_GROUP else str(g),
                         "shoppers": int(mask.sum()), "predicted": float(predicted[mask].mean()),
                         "actual": float(actual[mask].mean()), "baseline": float(baseline[mask].mean())})
    return tuple(rows)
