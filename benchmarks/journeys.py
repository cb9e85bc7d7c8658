"""Journeys speed against one window pass over the events, measured in the same run.

    python benchmarks/journeys.py --events 1000000

Fills a workspace with N synthetic events, then times:
  floor    one ordered window pass per visit (lag(event_type) over user, session, time): the
           least any sequence analysis over sessions must do
  funnel   analytics.journeys.funnel, 4 steps, per session and per user with a device breakdown
  paths    analytics.journeys.paths at category detail
  sankey   analytics.journeys.sankey, 5 steps
and prints each as a multiple of the floor; with --json the last line is a JSON summary
({"events", "floor_s", "<step>_s", "<step>_x"}). Target: about two floors per funnel step (one
window sort per step plus the aggregation; 4 steps: <= 8x), paths and Sankey within 6x. On the
2-core development machine at 1M events: funnel 5.8x (per session) and 7.1x (per user by
device), paths 5.7x, Sankey 2.7x of a 0.73 s floor.
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

from analytics.journeys import funnel, paths, sankey
from analytics.workspace import Workspace

TYPES = np.array(["view", "view", "view", "view", "search", "cart", "checkout", "purchase"])
CATEGORIES = np.array(["fashion", "home", "electronics", "beauty", "books", "sports"])
FLOOR_SQL = """
SELECT count(previous) FROM (
    SELECT lag(event_type) OVER (PARTITION BY user_id, session_id ORDER BY event_time) AS previous
    FROM events)
"""


def make_events(n: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    seconds = np.sort(rng.integers(0, 180 * 86400, n))
    users = rng.integers(0, max(n // 40, 1), n)
    return pd.DataFrame({
        "user_id": np.char.add("u", users.astype(str)),
        "event_time": np.datetime64("2024-01-01T00:00:00") + seconds.astype("timedelta64[s]"),
        "event_type": TYPES[rng.integers(0, len(TYPES), n)],
        "category": CATEGORIES[rng.integers(0, len(CATEGORIES), n)],
        "session_id": np.char.add("s", (users * 1000 + seconds // 1800).astype(str)),
        "device": np.array(["mobile", "desktop", "tablet"])[rng.integers(0, 3, n)],
        "source": "online", "dataset_id": "bench",
    })


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
        frame = make_events(args.events)
        with ws.cursor() as cur:
            cur.register("frame", frame)
            cur.execute("INSERT INTO events BY NAME SELECT * FROM frame")

        def floor() -> None:
            with ws.cursor() as cur:
                cur.execute(FLOOR_SQL).fetchall()

        base = timed(floor, args.repeat)
        print(f"{args.events:,} events; floor (one window pass) {base:.2f} s")
        runs: dict[tuple[str, str], Callable[[], object]] = {
            ("funnel per session", "funnel_session"): lambda: funnel(ws),
            ("funnel per user by device", "funnel_user_device"):
                lambda: funnel(ws, per="user", by="device"),
            ("paths (category)", "paths"): lambda: paths(ws),
            ("sankey (5 steps)", "sankey"): lambda: sankey(ws),
        }
        summary: dict[str, float] = {"events": args.events, "floor_s": round(base, 4)}
        for (name, key), run in runs.items():
            seconds = timed(run, args.repeat)
            print(f"{name:<28} {seconds:6.2f} s  {seconds / base:5.1f}x floor")
            summary[f"{key}_s"], summary[f"{key}_x"] = round(seconds, 4), round(seconds / base, 2)
    emit(summary, args)


if __name__ == "__main__":
    main()
