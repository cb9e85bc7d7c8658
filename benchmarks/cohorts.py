"""Retention cohorts speed against one group-by of the events per shopper and month, same run.

    python benchmarks/cohorts.py --events 1000000

Fills a workspace with N synthetic events (a fifth of them purchases, 25 events per shopper
over a year) and a six-segment run, then times:
  floor    SELECT user_id, month, count(*) … GROUP BY ALL: the least any cohort table must read
  month    analytics.cohorts.cohort_table by month, overall only
  week     the same by week (about 4x the cells)
  split    by month, overall and per segment of the run
  cell     analytics.cohorts.cell_shoppers of the largest cohort one month later
and prints each as a multiple of the floor; with --json the last line is a JSON summary
({"events", "floor_s", "<name>_s", "<name>_x"}). Target: within 5x the floor. On the 2-core
development machine at 1M events (40,000 shoppers): month 2.1x, week 4.0x, split 3.2x, cell
2.2x of a 0.18 s floor (0.37 s for the monthly table).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from _report import add_json_flag, emit

from analytics.cohorts import cell_shoppers, cohort_table
from analytics.workspace import Workspace

TYPES = np.array(["view", "view", "view", "cart", "purchase"])
FLOOR_SQL = """
SELECT count(*) FROM (
    SELECT user_id, date_trunc('month', event_time) AS month, count(*) FROM events
    WHERE event_type = 'purchase' GROUP BY ALL)"""
RUN = "bench_run"


def make_events(n: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    users = rng.integers(0, max(n // 25, 1), n)
    seconds = rng.integers(0, 365 * 86400, n)
    return pd.DataFrame({
        "user_id": np.char.add("u", users.astype(str)),
        "event_time": np.datetime64("2024-01-01T00:00:00") + seconds.astype("timedelta64[s]"),
        "event_type": TYPES[rng.integers(0, len(TYPES), n)],
        "source": "online", "dataset_id": "bench",
    })


def fill(ws: Workspace, frame: pd.DataFrame) -> None:
    users = pd.Series(frame["user_id"].unique())
    members = pd.DataFrame({"run_id": RUN, "user_id": users, "segment_id": users.index % 6})
    members["segment_name"] = "segment " + members["segment_id"].astype(str)
    with ws.cursor() as cur:
        cur.register("frame", frame)
        cur.execute("INSERT INTO events BY NAME SELECT * FROM frame")
        cur.register("members", members)
        cur.execute("INSERT INTO segment_runs (run_id, name, method, created_at) "
                    "VALUES (?, 'bench', 'kmeans', now())", [RUN])
        cur.execute("INSERT INTO segment_members BY NAME SELECT * FROM members")


def timed(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    add_json_flag(parser)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, Workspace(Path(tmp) / "bench.duckdb") as ws:
        fill(ws, make_events(args.events))

        def floor() -> None:
            with ws.cursor() as cur:
                cur.execute(FLOOR_SQL).fetchall()

        base = timed(floor, args.repeat)
        biggest = cohort_table(ws, split=False).of().sort_values("cohort_size").iloc[-1]["cohort"]
        runs = {
            "month": lambda: cohort_table(ws, split=False),
            "week": lambda: cohort_table(ws, by="week", split=False),
            "split": lambda: cohort_table(ws, segment_run=RUN),
            "cell": lambda: cell_shoppers(ws, biggest, 1),
        }
        print(f"{args.events:,} events; floor (one group-by per shopper and month) {base:.3f} s")
        result: dict[str, float] = {"events": args.events, "floor_s": round(base, 4)}
        for name, fn in runs.items():
            seconds = timed(fn, args.repeat)
            print(f"  {name:<6} {seconds:7.3f} s  {seconds / base:5.1f}x floor")
            result[f"{name}_s"], result[f"{name}_x"] = round(seconds, 4), round(seconds / base, 2)
        emit(result, args)


if __name__ == "__main__":
    main()
