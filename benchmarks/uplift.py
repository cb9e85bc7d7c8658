"""Experiment data and uplift model speed, against baselines measured in the same run.

    python benchmarks/uplift.py --users 20000

Generates a sample shop, loads it, then times:
  outcomes  workspace_data (outcomes + 16 pre-period features in one DuckDB statement)
            vs pandas: pull the experiment users' events and compute the outcome and 3 features
  models    fit + predict of every uplift model vs the logistic T-learner (the cheapest)
and prints the ratios; with --json the last line is a JSON summary ({"users", "experiment_users",
"outcomes_s", "outcomes_pandas_s", "pandas_over_ours", "baseline_model_s", "models": {name:
{"s", "x"}}}, x: the model's time over the logistic T-learner's).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
from _report import add_json_flag, emit

from analytics.bundle import load_bundle
from analytics.experiments import workspace_data
from analytics.experiments.uplift import MODELS, encode_features, make_model
from analytics.sample import EXPERIMENT_NAME, generate
from analytics.workspace import Workspace

PANDAS_SQL = """
SELECT e.user_id, e.event_time, e.event_type, e.revenue, x.variant, x.assigned_at
FROM events e JOIN experiments x USING (user_id) WHERE x.experiment = ?
"""


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def pandas_outcomes(ws: Workspace) -> pd.DataFrame:
    with ws.cursor() as cur:
        ev = cur.execute(PANDAS_SQL, [EXPERIMENT_NAME]).df()
    before = ev[ev["event_time"] < ev["assigned_at"]]
    window = ev[(ev["event_time"] >= ev["assigned_at"])
                & (ev["event_time"] < ev["assigned_at"] + pd.Timedelta(days=14))]
    buys = window[window["event_type"] == "purchase"].groupby("user_id")["revenue"].agg(["size", "sum"])
    pre = before.groupby("user_id").agg(pre_events=("event_type", "size"),
                                        pre_revenue=("revenue", "sum"),
                                        last=("event_time", "max"))
    return pre.join(buys, how="outer")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20_000)
    add_json_flag(parser)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "shop"
        generate(folder, users=args.users, seed=1)
        with Workspace(Path(tmp) / "ws" / "ws.duckdb", allow=[folder]) as ws:
            load_bundle(ws, folder)
            ours, data = timed(lambda: workspace_data(ws, EXPERIMENT_NAME))
            theirs, _ = timed(lambda: pandas_outcomes(ws))
    print(f"{data.users:,} experiment users")
    print(f"outcomes  ours {ours:.2f}s  pandas {theirs:.2f}s  pandas/ours {theirs / ours:.1f}x "
          "(ours computes 16 features, pandas 3)")
    X, _ = encode_features(data.frame, data.features)
    t, y = data.frame["treatment"].to_numpy(), data.frame["outcome"].to_numpy()
    base, _ = timed(lambda: make_model("T-learner (logistic regression)").fit(X, t, y).predict(X))
    summary: dict[str, Any] = {"users": args.users, "experiment_users": data.users,
                               "outcomes_s": round(ours, 3), "outcomes_pandas_s": round(theirs, 3),
                               "pandas_over_ours": round(theirs / ours, 2),
                               "baseline_model_s": round(base, 3), "models": {}}
    for name in MODELS:
        seconds, _ = timed(lambda name=name: make_model(name).fit(X, t, y).predict(X))  # type: ignore[misc]
        print(f"model  {name:<42} {seconds:6.2f}s  {seconds / base:6.1f}x the logistic T-learner")
        summary["models"][name] = {"s": round(seconds, 3), "x": round(seconds / base, 2)}
    emit(summary, args)


if __name__ == "__main__":
    main()
