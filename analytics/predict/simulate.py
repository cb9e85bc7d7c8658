"""Shoppers drawn from a BG/NBD purchase process and Gamma-Gamma spend with known parameters,
so tests (and ``sample --kind clv``) can check that the fit recovers them.

Each shopper makes a first order at time 0, then orders at Poisson rate lambda ~ Gamma(r, alpha)
and, after each repeat order, drops out for good with probability p ~ Beta(a, b). Every order's
value is Gamma(p_s, nu) with nu ~ Gamma(q, v): exactly the models' assumptions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from analytics.predict.clv import BGNBDParams, GammaGammaParams


@dataclass(frozen=True)
class Simulated:
    """Per-shopper calibration summary plus what happened in the holdout that followed."""

    summary: pd.DataFrame  # frequency, recency, age, mean_value (repeat orders), holdout_orders
    orders: pd.DataFrame  # shopper, day (from first order), value — every order, holdout included


def simulate(bgnbd: BGNBDParams, spend: GammaGammaParams, shoppers: int, max_age: float = 365.0,
             min_age: float = 30.0, holdout_days: float = 0.0, seed: int = 0) -> Simulated:
    """Draw ``shoppers`` histories; ages (first order to calibration end) are uniform."""
    rng = np.random.default_rng(seed)
    rate = rng.gamma(bgnbd.r, 1 / bgnbd.alpha, shoppers)
    dropout = rng.beta(bgnbd.a, bgnbd.b, shoppers)
    nu = rng.gamma(spend.q, 1 / spend.v, shoppers)
    age = rng.uniform(min_age, max_age, shoppers)
    days = _order_days(rng, rate, dropout, age + holdout_days)
    shopper = np.concatenate([np.full(len(d), i) for i, d in enumerate(days)])
    day = np.concatenate(days)
    value = rng.gamma(spend.p, 1 / nu[shopper])
    orders = pd.DataFrame({"shopper": shopper, "day": day, "value": value})
    return Simulated(_summary(orders, age), orders)


def _order_days(rng: np.random.Generator, rate: np.ndarray, dropout: np.ndarray,
                end: np.ndarray) -> list[np.ndarray]:
    """Each shopper's order days: 0, then repeats until dropout or the end of observation."""
    n = len(rate)
    out: list[list[float]] = [[0.0] for _ in range(n)]
    now = np.zeros(n)
    active = np.ones(n, dtype=bool)
    while active.any():
        idx = np.flatnonzero(active)
        now[idx] += rng.exponential(1 / rate[idx])
        bought = now[idx] <= end[idx]
        for i in idx[bought]:
            out[i].append(float(now[i]))
        gone = rng.random(len(idx)) < dropout[idx]
        active[idx[~bought | gone]] = False
    return [np.asarray(d) for d in out]


def _summary(orders: pd.DataFrame, age: np.ndarray) -> pd.DataFrame:
    """Calibration (day <= age) frequency, recency and mean repeat value; holdout order count."""
    calibration = orders[orders["day"] <= age[orders["shopper"]]]
    holdout = orders[orders["day"] > age[orders["shopper"]]]
    grouped = calibration.groupby("shopper")
    repeats = calibration[calibration["day"] > 0].groupby("shopper")["value"].mean()
    n = len(age)
    return pd.DataFrame({
        "frequency": grouped.size().reindex(range(n), fill_value=1).to_numpy() - 1,
        "recency": grouped["day"].max().reindex(range(n), fill_value=0).to_numpy(),
        "age": age,
        "mean_value": repeats.reindex(range(n)).to_numpy(),
        "holdout_orders": holdout.groupby("shopper").size().reindex(range(n), fill_value=0).to_numpy(),
    })


def to_events(sim: Simulated, calibration_end: pd.Timestamp, holdout_days: float) -> pd.DataFrame:
    """The simulated orders as canonical purchase events (one line per order, ``order_id`` set),
    placed so each shopper's age ends at ``calibration_end``; one closing ``view`` marks the end
    of the holdout, so the history spans exactly ``holdout_days`` past ``calibration_end``."""
    age = sim.summary["age"].to_numpy()
    o = sim.orders
    offset = pd.to_timedelta((o["day"].to_numpy() - age[o["shopper"]]) * 86400, unit="s")
    frame = pd.DataFrame({
        "user_id": [f"s{i:06d}" for i in o["shopper"]],
        "event_time": (calibration_end + offset).round("s"),
        "event_type": "purchase", "order_id": [f"o{n:08d}" for n in range(len(o))],
        "price": o["value"].to_numpy(), "quantity": 1.0, "revenue": o["value"].to_numpy(),
        "source": "online"})
    closing = {"user_id": "s000000", "event_time": calibration_end + pd.Timedelta(days=holdout_days),
               "event_type": "view", "order_id": None, "price": None, "quantity": None,
               "revenue": None, "source": "online"}
    return pd.concat([frame, pd.DataFrame([closing])], ignore_index=True)


#: ``sample --kind clv``: the planted parameters (those of the recovery test) and the split.
SAMPLE_BGNBD = BGNBDParams(r=0.6, alpha=12.0, a=0.8, b=2.5)
SAMPLE_SPEND = GammaGammaParams(p=6.0, q=4.0, v=15.0)
SAMPLE_CALIBRATION_END = pd.Timestamp("2025-06-30")
SAMPLE_HOLDOUT_DAYS = 90.0


def write_sample(out_dir: Path, shoppers: int, seed: int = 7) -> tuple[int, Path]:
    """Write ``events.csv`` (canonical purchases) and ``truth.json`` (the planted parameters and
    the calibration end to pass to ``predict --calibration-end``); returns (events, folder)."""
    sim = simulate(SAMPLE_BGNBD, SAMPLE_SPEND, shoppers, holdout_days=SAMPLE_HOLDOUT_DAYS, seed=seed)
    events = to_events(sim, SAMPLE_CALIBRATION_END, SAMPLE_HOLDOUT_DAYS)
    out_dir.mkdir(parents=True, exist_ok=True)
    events.to_csv(out_dir / "events.csv", index=False, date_format="%Y-%m-%d %H:%M:%S")
    truth = {"bgnbd": SAMPLE_BGNBD.as_json(), "gamma_gamma": SAMPLE_SPEND.as_json(),
             "calibration_end": SAMPLE_CALIBRATION_END.date().isoformat(),
             "holdout_days": SAMPLE_HOLDOUT_DAYS, "shoppers": shoppers, "seed": seed,
             "holdout_orders": int(sim.summary["holdout_orders"].sum())}
    (out_dir / "truth.json").write_text(json.dumps(truth, indent=2), encoding="utf-8")
    return len(events), out_dir
