"""Profiles at growing shop sizes through DuckDB and Spark local[2], with a JSON summary.

    python benchmarks/scale.py --users 2000 20000            # DuckDB and Spark at each size
    python benchmarks/scale.py --users 200000 --no-spark
    python benchmarks/scale.py --events 1000000 10000000 100000000 --spark-max 10000000 \
        --memory-limit 8GB --threads 2                       # issue 13: the 1M-100M runs
    python benchmarks/scale.py --events 100000000 --no-spark --keep /work/runs/100m --als-max 0
    python benchmarks/scale.py --events 100000000 --no-spark --reuse /work/runs/100m --steps als

--events: the shop is written by DuckDB SQL straight to Parquet (benchmarks/scale_shop.py; the
Python generator is far too slow for 100M), in a temporary folder (--tmp, default /tmp) that is
deleted afterwards. Each size goes through DuckDB: ingest of the Parquet files, profiles,
K-Means (k = 6) and ALS, under SHOPPER_LENS_MEMORY_LIMIT / SHOPPER_LENS_THREADS (spilling to
the workspace's .tmp folder, whose peak size is printed), and through Spark local[2] (profiles)
up to --spark-max events. --keep DIR builds one size's shop and workspace in DIR and leaves them
there; --reuse DIR --steps als (or profiles, kmeans, ...) runs only those steps on a kept
workspace, so a change to one step is measured at 100M without the hours of ingest. One JSON
line per finished step, so a stopped run still leaves its figures; the growth of each step's
time from one size to the next is in the summary.

For each size a shop is generated (analytics.sample, about 58 events per online shopper) and
loaded; it times build_profiles on DuckDB and build_profiles_spark on Spark local[2] (the
session is started once, before the first size, and its start-up reported apart), checks that
both store the same number of profiles, and prints the growth of each engine's time from one
size to the next. Peak RSS is this process's (DuckDB runs in it; Spark's JVM is not counted).
The first Spark size also pays the JVM's warm-up (code generation); put a small size first.
The last line is a JSON summary.

Measured on the shared 2-core machine (load average ~20 from other jobs), --users 1000 5000:
60,271 / 297,150 events; DuckDB 1.03 s / 1.39 s; Spark local[2] 90 s (warm-up) / 37 s, same
profile counts; Spark session start 28 s. --events 1000000 10000000 (load 20-29): ingest
42 s / 494 s, profiles 33 s / 189 s, K-Means 22 s / 14 s, ALS 84 s / 296 s, peak RSS 0.8 / 5.5 GB;
Spark at 1M 1,002 s (five Spark JVMs on the 2 cores). --events 100000000 --no-spark (load
15-43): ingest 4,296 s, profiles 1,874 s, K-Means 52 s, peak RSS 8.4 GB; ALS killed by the
kernel at 24 GB (its pandas interaction pairs; docs/scale-out.md). Pass --als-max 10000000 to
skip ALS above 10M.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from analytics.bundle import load_bundle
from analytics.profiles import build_profiles, load_profiles
from analytics.sample import generate
from analytics.workspace import Workspace

sys.path.insert(0, str(Path(__file__).parent))
from scale_shop import write_shop  # noqa: E402


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


class _SpillWatch:
    """The peak size of a folder (DuckDB's spill files), sampled twice a second in a thread."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.peak, self._stop = folder, 0, threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self._stop.wait(0.5):
            size = 0
            for f in self.folder.rglob("*"):
                with contextlib.suppress(OSError):
                    size += f.stat().st_size
            self.peak = max(self.peak, size)

    def __enter__(self) -> _SpillWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _step(row: dict[str, Any], name: str, fn: Callable[[], Any]) -> Any:
    started = time.perf_counter()
    out = fn()
    row[f"{name}_s"] = round(time.perf_counter() - started, 2)
    row["peak_rss_mb"] = round(_rss_mb())
    print(json.dumps({"events": row["events"], "step": name, "s": row[f"{name}_s"],
                      "peak_rss_mb": row["peak_rss_mb"]}), flush=True)
    return out


_STEPS = ("generate", "ingest", "profiles", "kmeans", "als", "spark_profiles")


def run_events(sizes: list[int], spark_max: int, tmp: Path, als_max: int,
               keep: Path | None = None, reuse: Path | None = None,
               steps: set[str] | None = None) -> dict[str, Any]:
    """The issue-13 scale runs: DuckDB at every size, Spark up to ``spark_max`` events.

    ``keep`` builds the (single) size's shop and workspace in that folder and leaves them there;
    ``reuse`` opens a kept folder and runs only ``steps`` on it (a 100M build takes hours, so an
    ALS change can be measured without redoing ingest and profiles).
    """
    summary: dict[str, Any] = {"sizes": [], "memory_limit": os.environ.get(
        "SHOPPER_LENS_MEMORY_LIMIT", "4GB"), "threads": os.environ.get("SHOPPER_LENS_THREADS", "2")}
    spark = None
    wanted = set(_STEPS) if steps is None else steps
    if "spark_profiles" in wanted and any(n <= spark_max for n in sizes):
        from analytics.engines.spark import session

        started = time.perf_counter()
        spark = session("local[2]", conf={"spark.sql.shuffle.partitions": "8"})
        spark.sparkContext.setLogLevel("ERROR")
        summary["spark_start_s"] = round(time.perf_counter() - started, 2)
    for n in sizes:
        with contextlib.ExitStack() as stack:
            if reuse is not None or keep is not None:
                folder = reuse or keep
                assert folder is not None
                folder.mkdir(parents=True, exist_ok=True)
            else:
                folder = Path(stack.enter_context(tempfile.TemporaryDirectory(
                    dir=tmp, prefix="shopper-lens-scale-")))
            row = _one_size(n, folder, wanted, als_max, spark if n <= spark_max else None,
                            reused=reuse is not None)
        print(json.dumps(row), flush=True)
        summary["sizes"].append(row)
    if spark is not None:
        spark.stop()
    summary["growth"] = {step: _growth(summary["sizes"], f"{step}_s") for step in _STEPS[1:]}
    return summary


def _one_size(n: int, folder: Path, wanted: set[str], als_max: int, spark: Any,
              reused: bool) -> dict[str, Any]:
    """The wanted steps for one shop size in ``folder`` (kept or temporary)."""
    from analytics.recommend.engine import train
    from analytics.segments import SegmentSpec, run_segmentation

    row: dict[str, Any] = {"events": n}
    db = folder / "ws" / "bench.duckdb"
    if reused:
        if not db.exists():
            raise SystemExit(f"--reuse {folder}: no workspace at {db}; build it with --keep first")
        files: list[Path] = sorted((folder / "shop").glob("*.parquet"))
    else:
        files = _step(row, "generate", lambda: write_shop(folder / "shop", n))
        row["parquet_mb"] = round(sum(p.stat().st_size for p in files) / 1e6)
    ws = Workspace(db, allow=[folder / "shop"])
    with _SpillWatch(ws.tmp_dir) as spill:
        if "ingest" in wanted and not reused:
            _step(row, "ingest", lambda: [_ingest(ws, p, n) for p in files])
        if "profiles" in wanted:
            row["shoppers"] = _step(row, "profiles", lambda: build_profiles(ws).users)
        if "kmeans" in wanted:
            _step(row, "kmeans", lambda: run_segmentation(ws, SegmentSpec(method="kmeans", k=6)))
        if "als" in wanted and n <= als_max:
            _step(row, "als", lambda: train(ws, ["als"]))
        if spark is not None and "spark_profiles" in wanted:
            from analytics.engines.spark import build_profiles_spark

            _step(row, "spark_profiles", lambda: build_profiles_spark(ws, spark=spark))
    row["spill_peak_mb"] = round(spill.peak / 1e6)
    row["db_mb"] = round(ws.path.stat().st_size / 1e6)
    ws.close()
    return row


def _ingest(ws: Workspace, path: Path, events: int) -> None:
    """One file, with a progress line (a 100M run takes long; a stopped run keeps these)."""
    from analytics.ingest import ingest_file

    started = time.perf_counter()
    report = ingest_file(ws, path)
    print(json.dumps({"events": events, "file": path.name, "rows": report.rows_loaded,
                      "s": round(time.perf_counter() - started, 2),
                      "peak_rss_mb": round(_rss_mb())}), flush=True)


def _growth(rows: list[dict[str, Any]], key: str) -> list[dict[str, float]]:
    """Time ratio against event ratio for successive sizes that both measured ``key``."""
    have = [r for r in rows if key in r]
    return [{"events_x": round(b["events"] / a["events"], 1), "time_x": round(b[key] / a[key], 2)}
            for a, b in zip(have, have[1:], strict=False)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, nargs="+", default=[2000, 20000])
    parser.add_argument("--events", type=int, nargs="+", help="the SQL-written shop at these sizes")
    parser.add_argument("--spark-max", type=int, default=10_000_000, help="Spark up to N events")
    parser.add_argument("--als-max", type=int, default=100_000_000, help="ALS up to N events")
    parser.add_argument("--memory-limit", help="SHOPPER_LENS_MEMORY_LIMIT for the workspace")
    parser.add_argument("--threads", type=int, help="SHOPPER_LENS_THREADS for the workspace")
    parser.add_argument("--tmp", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--no-spark", action="store_true", help="DuckDB only")
    parser.add_argument("--keep", type=Path, help="build the shop and workspace here and keep them")
    parser.add_argument("--reuse", type=Path, help="run --steps on a workspace kept by --keep")
    parser.add_argument("--steps", nargs="+", choices=_STEPS[1:],
                        help="only these steps (default: all; with --reuse, ingest is never rerun)")
    args = parser.parse_args()
    if args.memory_limit:
        os.environ["SHOPPER_LENS_MEMORY_LIMIT"] = args.memory_limit
    if args.threads:
        os.environ["SHOPPER_LENS_THREADS"] = str(args.threads)
    if (args.keep or args.reuse) and (not args.events or len(args.events) != 1):
        parser.error("--keep and --reuse take exactly one --events size")
    if args.keep and args.reuse:
        parser.error("--keep builds a workspace, --reuse opens one: pass one of them")
    if args.events:
        spark_max = 0 if args.no_spark else args.spark_max
        steps = set(args.steps) if args.steps else None
        print(json.dumps(run_events(args.events, spark_max, args.tmp, args.als_max,
                                    keep=args.keep, reuse=args.reuse, steps=steps)))
    else:
        print(json.dumps(run(args.users, spark_too=not args.no_spark)))


if __name__ == "__main__":
    main()
