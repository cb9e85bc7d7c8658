"""Targeting simulator: what treating the top X% by predicted uplift is worth, and the list.

The estimate for the top X% is the *observed* treated-minus-control gain among the held-out
users the best model ranks in its top X% (the uplift curve), scaled to every scored user;
treating everyone gains the overall ATE per user and a random X% gains X times that.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from analytics.errors import ConfigError
from analytics.experiments.ab import clean_dict
from analytics.experiments.uplift import UpliftResult


@dataclass(frozen=True)
class TargetingPlan:
    """Expected incremental outcomes (and revenue) of three ways to spend the treatment."""

    fraction: float
    users: int
    targeted: int
    outcome_name: str
    top: float
    everyone: float
    random: float
    revenue_top: float | None
    revenue_everyone: float | None
    revenue_random: float | None

    def as_json(self) -> dict[str, Any]:
        return clean_dict(asdict(self))


def simulate(result: UpliftResult, fraction: float) -> TargetingPlan:
    """Incremental outcomes of treating the top ``fraction`` vs everyone vs a random share."""
    if not 0 < fraction <= 1:
        raise ConfigError(f"The share to target is {fraction}; it must be in (0, 1].",
                          hint="For example 0.3 for the top 30%.")
    curve = result.targeting_curve
    n = result.users
    top = float(np.interp(fraction, curve["fraction"], curve["outcome_gain"])) * n
    revenue_top = None
    if "revenue_gain" in curve.columns:
        revenue_top = float(np.interp(fraction, curve["fraction"], curve["revenue_gain"])) * n
    revenue = result.revenue_ate
    return TargetingPlan(
        fraction=fraction, users=n, targeted=math.ceil(fraction * n),
        outcome_name=result.outcome_name, top=top, everyone=result.ate * n,
        random=fraction * result.ate * n, revenue_top=revenue_top,
        revenue_everyone=None if revenue is None else revenue * n,
        revenue_random=None if revenue is None else fraction * revenue * n)


def targeting_list(result: UpliftResult, fraction: float) -> pd.DataFrame:
    """The top ``fraction`` of scored users: rank, user_id, predicted uplift, percentile."""
    if not 0 < fraction <= 1:
        raise ConfigError(f"The share to target is {fraction}; it must be in (0, 1].",
                          hint="For example 0.3 for the top 30%.")
    top = result.scores.head(math.ceil(fraction * len(result.scores)))
    return pd.DataFrame({"rank": np.arange(1, len(top) + 1), "user_id": top["user_id"],
                         "predicted_uplift": top["uplift"].round(6),
                         "percentile": top["percentile"].round(4)})
