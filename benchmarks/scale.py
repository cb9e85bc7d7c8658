"""Profiles at growing shop sizes through DuckDB and Spark local[2], with a JSON summary.

    python benchmarks/scale.py --users 2000 20000            # DuckDB and Spark at each size
    python benchmarks/scale.py --users 200000 --no-spark

For each size a shop is generated (analytics.sample, about 58 events per online shopper) and
loaded; it times build_profiles on DuckDB and build_profiles_spark on Spark local[2] (the
session is started once, before the first size, and its start-up reported apart), checks that
both store the same number of profiles, and prints the growth of each engine's time from one
size to the next. Peak RSS is this process's (DuckDB runs in it; Spark's JVM is not counted).
The first Spark size also pays the JVM's warm-up (code generation); put a small size first.
The last line is a JSON summary.

Measured on the shared 2-core machine (load average ~20 from other jobs), --users 1000 5000:
60,271 / 297,150 events; DuckDB 1.03 s / 1.39 s; Spark local[2] 90 s (warm-up) / 37 s, same
profile counts; Spark session start 28 s. The 1M/10M/100M sizes of issue 13 are not measured.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

from analytics.bundle import load_bundle
from analytics.profiles import build_profiles, load_profiles
from analytics.sample import generate
from analytics.workspace import Workspace


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(users: list[int], spark_too: bool) -> dict[str, Any]:
    spark = None
    summary: dict[str, Any] = {"sizes": []}
    if spark_too:
        from analytics.engines.spark import build_profiles_spark, session

        started = time.perf_counter()
        spark = session("local[2]", conf={"spark.sql.shuffle.partitions": "2"})
        spark.sparkContext.setLogLevel("ERROR")
        summary["spark_start_s"] = round(time.perf_counter() - started, 2)
    for n in users:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            generate(folder / "shop", users=n, seed=3)
            ws = Workspace(folder / "ws" / "bench.duckdb", allow=[folder / "shop"])
            load_bundle(ws, folder / "shop")
            with ws.cursor() as cur:
                events = int(cur.execute("SELECT count(*) FROM events").fetchall()[0][0])
            started = time.perf_counter()
            shoppers = build_profiles(ws).users
            row: dict[str, Any] = {"users": n, "events": events, "shoppers": shoppers,
                                   "duckdb_s": round(time.perf_counter() - started, 2)}
            if spark is not None:
                started = time.perf_counter()
                same = build_profiles_spark(ws, spark=spark).users == shoppers == len(load_profiles(ws))
                row |= {"spark_s": round(time.perf_counter() - started, 2), "same_count": same}
            row |= {"peak_rss_mb": round(_rss_mb())}
            ws.close()
        print(json.dumps(row))
        summary["sizes"].append(row)
    if spark is not None:
        spark.stop()
    for engine in ("duckdb_s", "spark_s"):
        times = [r[engine] for r in summary["sizes"] if engine in r]
        events = [r["events"] for r in summary["sizes"] if engine in r]
        summary[f"{engine[:-2]}_growth"] = [
            {"events_x": round(e2 / e1, 1), "time_x": round(t2 / t1, 2)}
            for (e1, t1), (e2, t2) in zip(zip(events, times, strict=True),
                                          zip(events[1:], times[1:], strict=True), strict=False)]
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, nargs="+", default=[2000, 20000])
    parser.add_argument("--no-spark", action="store_true", help="DuckDB only")
    args = parser.parse_args()
    print(json.dumps(run(args.users, spark_too=not args.no_spark)))


if __name__ == "__main__":
    main()
