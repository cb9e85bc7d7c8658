"""Profiles, k sweep, map and re-clustering speed, with baselines measured in the same run.

    python benchmarks/segments.py --users 200000      # about 11M events

On a generated shop (analytics.sample) it times:
  profiles   build_profiles (45 features in SQL) against
             pandas     the core RFM/engagement/intent features with a pandas groupby, and
             one query  the same core features as one hand-written DuckDB GROUP BY
             (both baselines compute fewer features, so the ratios are conservative)
  sweep      the K-Means k sweep 2..12 with sampled silhouette (target <= 15 s)
  map        UMAP fitted on 10,000 shoppers + transform of the rest (at most 50,000 mapped):
             cold in a fresh process, numba compiling (target <= 60 s), after the dashboard's
             background warm-up (target <= 15 s), an n_neighbors change (target <= 10 s),
             and warm: reading the cached result back (target <= 1 s)
  recluster  a K-Means run with a fixed k, no embedding (target <= 2 s)
Targets: profiles >= 10x faster than pandas and <= 1.5x the single query. Measured at 20,000
shoppers (1.2M events) on the shared 2-core machine, neither is met: the 45-feature SQL takes
about 9x the 9-feature single query and longer than pandas on those 9 features (see README).
"""

from __future__ import annotations

import argparse
import pickle
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from _report import add_json_flag, emit

from analytics.bundle import load_bundle
from analytics.embedding import embed, warm_up
from analytics.profiles import build_profiles, load_profiles
from analytics.sample import generate
from analytics.segments import SegmentSpec, preprocessor, run_segmentation, sweep_k
from analytics.workspace import Workspace

CORE_SQL = """
SELECT user_id, count(*) AS events, count(DISTINCT session_id) AS sessions,
       count(*) FILTER (event_type = 'view') AS views, count(*) FILTER (event_type = 'cart') AS carts,
       count(*) FILTER (event_type = 'search') AS searches,
       count(DISTINCT order_id) FILTER (event_type = 'purchase') AS frequency,
       coalesce(sum(revenue) FILTER (event_type IN ('purchase', 'refund')), 0) AS monetary,
       max(event_time) AS last_event, max(event_time) FILTER (event_type = 'purchase') AS last_purchase
FROM events GROUP BY user_id
"""


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def pandas_core(events: pd.DataFrame) -> pd.DataFrame:
    flags = events.assign(
        view=events["event_type"].eq("view"), cart=events["event_type"].eq("cart"),
        search=events["event_type"].eq("search"),
        paid=events["revenue"].where(events["event_type"].isin(["purchase", "refund"]), 0.0),
        order=events["order_id"].where(events["event_type"].eq("purchase")),
        bought=events["event_time"].where(events["event_type"].eq("purchase")))
    return flags.groupby("user_id").agg(
        events=("event_type", "size"), sessions=("session_id", "nunique"), views=("view", "sum"),
        carts=("cart", "sum"), searches=("search", "sum"), frequency=("order", "nunique"),
        monetary=("paid", "sum"), last_event=("event_time", "max"), last_purchase=("bought", "max"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=200_000)
    add_json_flag(parser)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        generate(folder / "shop", users=args.users, seed=3)
        ws = Workspace(folder / "ws" / "bench.duckdb", allow=[folder / "shop"])
        load_bundle(ws, folder / "shop")
        with ws.cursor() as cur:
            n_events = cur.execute("SELECT count(*) FROM events").fetchall()[0][0]
            load, events = timed(lambda: cur.execute(
                "SELECT user_id, event_time, event_type, session_id, order_id, revenue FROM events").df())
            cpu = time.process_time()
            one_query, _ = timed(lambda: cur.execute(CORE_SQL).fetchall())
            one_query_cpu = time.process_time() - cpu
        print(f"{n_events:,} events, {args.users:,} online shoppers")
        cpu = time.process_time()
        ours, _ = timed(lambda: build_profiles(ws))
        ours_cpu = time.process_time() - cpu
        # CPU seconds too: on the shared machine the wall clock moves with others' load.
        print(f"profiles   CPU ours {ours_cpu:6.2f} s | one query {one_query_cpu:6.2f} s -> "
              f"{ours_cpu / one_query_cpu:4.2f}x (issue 14 target <= 3)")
        in_pandas, _ = timed(lambda: pandas_core(events))
        in_pandas += load  # pandas has to get the events out of the database first
        print(f"profiles   ours {ours:6.2f} s | pandas {in_pandas:6.2f} s (load {load:.2f} s) -> pandas/ours "
              f"{in_pandas / ours:5.1f}x (target >= 10) | one query {one_query:6.2f} s -> "
              f"ours/query {ours / one_query:4.2f}x (target <= 1.5)")
        profiles = load_profiles(ws)
        X = preprocessor(SegmentSpec().features).fit_transform(profiles)
        sweep, result = timed(lambda: sweep_k(X, "kmeans"))
        print(f"sweep      k = 3..12 on {len(X):,} shoppers: {sweep:6.2f} s (target <= 15), "
              f"best k {result.best_k}")
        map_keys = map_times(X, folder)
        print(f"map        cold {map_keys['map_cold_s']:6.2f} s in a fresh process (target <= 60) | "
              f"after the dashboard's warm-up {map_keys['map_after_warmup_s']:6.2f} s (target <= 15) | "
              f"n_neighbors 15 -> 30 {map_keys['map_param_change_s']:6.2f} s (target <= 10) | "
              f"warm {map_keys['map_warm_s']:6.3f} s (target <= 1)")
        recluster, _ = timed(lambda: run_segmentation(ws, SegmentSpec(k=6)))
        print(f"recluster  fixed k = 6: {recluster:6.2f} s (target <= 2)")
        ws.close()
    emit({"profiles_s": round(ours, 3), "one_query_s": round(one_query, 3),
          "profiles_cpu_s": round(ours_cpu, 3), "one_query_cpu_s": round(one_query_cpu, 3),
          "profiles_over_query_cpu": round(ours_cpu / one_query_cpu, 2),
          "pandas_s": round(in_pandas, 3), "pandas_over_profiles": round(in_pandas / ours, 2),
          "sweep_s": round(sweep, 3),
          "recluster_s": round(recluster, 3), **map_keys, "users": args.users,
          "events": int(n_events)}, args)


def map_times(X: Any, folder: Path) -> dict[str, float]:
    """The first UMAP map in a fresh process (numba compiles), then here after :func:`warm_up`
    (what the dashboard does at start), a parameter change, and reading the cached map back."""
    np.save(folder / "X.npy", X)
    code = ("import sys, time, numpy as np; from analytics.embedding import embed; "
            "X = np.load(sys.argv[1]); t = time.perf_counter(); embed(X, 'umap'); "
            "print(time.perf_counter() - t)")
    fresh = subprocess.run([sys.executable, "-c", code, str(folder / "X.npy")], check=True,
                           capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
    warm_up()
    after, embedding = timed(lambda: embed(X, "umap"))
    change, _ = timed(lambda: embed(X, "umap", n_neighbors=30))
    blob = pickle.dumps(embedding)
    warm, _ = timed(lambda: pickle.loads(blob))
    return {"map_cold_s": round(float(fresh.stdout.split()[-1]), 2),
            "map_after_warmup_s": round(after, 2), "map_param_change_s": round(change, 2),
            "map_warm_s": round(warm, 4)}


if __name__ == "__main__":
    main()
