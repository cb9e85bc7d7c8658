"""Incremental refresh against a full profile rebuild, measured in the same run.

    python benchmarks/refresh.py --users 200000 --new-share 0.01     # about 11M events

Generates a shop, builds profiles and a K-Means segmentation, then writes a file of new
events, ``new-share`` of the event count: by default the most recent slice of activity replayed
right after itself (``--new latest``: the next day's events, from the shoppers active now), or
copies of random events (``--new random``: new activity spread over a third of all shoppers,
the worst case). It times
  full      build_profiles over every event
  profiles  refresh_profiles for the shoppers with new events (target <= 15% of full)
  refresh   the whole refresh: ingest the file, refresh profiles, re-score, history
Also in CPU seconds of this process (``*_cpu_s``): on the shared 2-core machine the wall clock
of a step moves with everyone else's load, its CPU time much less.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd
from _report import add_json_flag, emit

import analytics.refresh as refresh_module
from analytics.bundle import load_bundle
from analytics.profiles import build_profiles, refresh_profiles
from analytics.refresh import refresh
from analytics.sample import generate
from analytics.segments import SegmentSpec, run_segmentation
from analytics.workspace import Workspace

# "random": copies of random events (new activity spread over many shoppers, the worst case);
# "latest": the most recent slice of activity replayed right after it (the usual next day).
NEW_EVENTS_SQL = {
    "random": """
SELECT user_id, (SELECT max(event_time) FROM events) + INTERVAL 1 HOUR
           + to_seconds(row_number() OVER (ORDER BY user_id, event_time) % 3600) AS event_time,
       event_type, item_id, category, brand, price, quantity,
       'new-' || coalesce(session_id, '') AS session_id, order_id, device, channel, country
FROM events USING SAMPLE reservoir($n ROWS) REPEATABLE (7)""",
    "latest": """
WITH slice AS (SELECT * FROM events ORDER BY event_time DESC LIMIT $n)
SELECT user_id, event_time + (SELECT max(event_time) - min(event_time) FROM slice) + INTERVAL 1 MINUTE
           AS event_time,
       event_type, item_id, category, brand, price, quantity,
       'new-' || coalesce(session_id, '') AS session_id, 'new-' || order_id AS order_id, device,
       channel, country
FROM slice""",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=200_000)
    parser.add_argument("--new-share", type=float, default=0.01)
    parser.add_argument("--new", choices=sorted(NEW_EVENTS_SQL), default="latest",
                        help="which new events: the latest activity replayed, or random copies")
    add_json_flag(parser)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        generate(folder / "shop", users=args.users, seed=5)
        ws = Workspace(folder / "ws" / "bench.duckdb", allow=[folder / "shop", folder])
        load_bundle(ws, folder / "shop")
        start, cpu = time.perf_counter(), time.process_time()
        build_profiles(ws)
        full, full_cpu = time.perf_counter() - start, time.process_time() - cpu
        run = run_segmentation(ws, SegmentSpec(k=6))
        with ws.cursor() as cur:
            total = cur.execute("SELECT count(*) FROM events").fetchall()[0][0]
            sql = NEW_EVENTS_SQL[args.new].replace("$n", str(int(total * args.new_share)))
            new = cur.execute(sql).df()
        new.to_csv(folder / "new.csv", index=False)
        users = set(new["user_id"])
        # The profile step alone, on a copy of the state a refresh starts from.
        start = time.perf_counter()
        refresh_profiles(ws, [])  # as_of unchanged: only window users; warms the same code path
        baseline = time.perf_counter() - start
        step_cpu: list[float] = []

        def timed_refresh_profiles(*a: Any, **k: Any) -> Any:
            cpu = time.process_time()
            result = refresh_profiles(*a, **k)
            step_cpu.append(time.process_time() - cpu)
            return result

        refresh_module.refresh_profiles = timed_refresh_profiles  # type: ignore[assignment]
        start = time.perf_counter()
        report = refresh(ws, [folder / "new.csv"], run.run_id)
        whole = time.perf_counter() - start
        print(f"{total:,} events, {len(new):,} new ({args.new_share:.0%}) for {len(users):,} shoppers")
        print(f"full rebuild        {full:7.2f} s")
        print(f"refresh (no new)    {baseline:7.2f} s  -> {baseline / full:5.1%} of full")
        step = report.seconds["profiles"]
        print(f"profile step        {step:7.2f} s  -> {step / full:5.1%} of full (target <= 15%); "
              f"recomputed {report.recomputed:,} profiles")
        print(f"CPU: full rebuild {full_cpu:.2f} s, profile step {step_cpu[0]:.2f} s -> "
              f"{step_cpu[0] / full_cpu:5.1%} of full")
        print(f"refresh (all steps) {whole:7.2f} s  -> {whole / full:5.1%} of full (ingest "
              f"{report.seconds['ingest']:.2f} s, re-score {report.seconds['rescore']:.2f} s); "
              f"{sum(report.moved.values()):,} shoppers moved")
        print(pd.Series(report.moved).sort_values(ascending=False).head(5).to_string())
        ws.close()
    emit({"full_s": round(full, 3), "profiles_s": step,
          "profile_share": round(step / full, 4), "refresh_s": round(whole, 3),
          "ingest_s": report.seconds["ingest"], "rescore_s": report.seconds["rescore"],
          "recomputed": report.recomputed, "users": args.users,
          "full_cpu_s": round(full_cpu, 3), "profiles_cpu_s": round(step_cpu[0], 3),
          "profile_cpu_share": round(step_cpu[0] / full_cpu, 4),
          "events": int(total), "new_events": len(new)}, args)


if __name__ == "__main__":
    main()
