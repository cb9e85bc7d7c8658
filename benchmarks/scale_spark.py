"""Profiles, K-Means and ALS through Spark local[2] at growing shop sizes, with the machine's load.

    python benchmarks/scale_spark.py --events 1000000 10000000 --driver-memory 6g --json

Issue 13's Spark half of the scale runs (``benchmarks/scale.py`` has the DuckDB half and shares
its helpers with this script). Per size: the shop is written by DuckDB SQL straight to Parquet
(``benchmarks/scale_shop.py``, N/50 shoppers) in a temporary folder (--tmp), ingested into a
DuckDB workspace (the Spark engine's handover: the workspace's events and CRM tables go to Spark
as Parquet), then timed on one Spark ``local[2]`` session started before the first size (its
start-up reported apart; the first size also pays the JVM's warm-up):

- ``spark_profiles``: :func:`analytics.engines.spark.build_profiles_spark` (every feature on Spark,
  the table collected into the workspace);
- ``spark_kmeans``: :func:`analytics.engines.spark_segments.run_segmentation_spark`, k = 6, on
  every shopper (no sample, unlike the local path);
- ``spark_als``: ``train(ws, ["als_spark"])`` — the interactions built by DuckDB/pandas as for
  every model, the factorisation on MLlib (``als_fit_s`` is the fit alone).

The 2 cores are shared, so every step records the 1-minute load average (sampled every 5 s:
min / mean / max) and how many other JVMs were running when it started. One JSON line per
finished step (a stopped run keeps its figures); with --json the last line is a summary with
the growth of each step's time from one size to the next. Spark's driver memory is set
explicitly (--driver-memory, default 6g) and printed with the JVM's max heap; the driver JVM's
peak RSS (``jvm_peak_rss_mb``, from /proc VmHWM) is printed next to this process's.

Measured on the shared 2-core machine, 1 December 2026 (--events 1000000 10000000, 6g; log
the run's log): Spark start 35 s; 1M / 10M events: profiles 489 s (load 22-33,
9 other JVMs) / 986 s (load 6-28), K-Means 115 s / 131 s, ALS 299 s / 686 s (load 26-34 /
6-13), driver JVM peak RSS 4.8 / 7.1 GB. The 10M steps ran at about half the load of the 1M
ones; figures and DuckDB's growth next to them in docs/scale-out.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from analytics.workspace import Workspace

sys.path.insert(0, str(Path(__file__).parent))
from scale import _growth, _ingest, _rss_mb  # noqa: E402
from scale_shop import write_shop  # noqa: E402

STEPS = ("generate", "ingest", "spark_profiles", "spark_kmeans", "spark_als")


class _LoadWatch:
    """The 1-minute load average sampled every ``every`` seconds while a step runs (a thread)."""

    def __init__(self, every: float = 5.0) -> None:
        self.samples = [os.getloadavg()[0]]
        self._every, self._stop = every, threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self._stop.wait(self._every):
            self.samples.append(os.getloadavg()[0])

    def __enter__(self) -> _LoadWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append(os.getloadavg()[0])

    def summary(self) -> dict[str, float]:
        s = self.samples
        return {"load_min": round(min(s), 1), "load_mean": round(sum(s) / len(s), 1),
                "load_max": round(max(s), 1)}


def _java_processes(exclude: int | None) -> int:
    """How many ``java`` processes run besides ours (other engineers' Spark JVMs share the cores)."""
    count = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == exclude:
            continue
        try:
            if (proc / "comm").read_text().strip() == "java":
                count += 1
        except OSError:
            continue
    return count


def _vm_hwm_mb(pid: int | None) -> int | None:
    """Peak resident memory of process ``pid`` (VmHWM), or None when it cannot be read."""
    if pid is None:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024)
    except OSError:
        return None
    return None


def _jvm_pid(spark: Any) -> int | None:
    """The driver JVM's pid: PySpark launched it as a child process (py4j gateway)."""
    proc = getattr(spark.sparkContext._gateway, "proc", None)  # noqa: SLF001 (no public accessor)
    return getattr(proc, "pid", None)


def _step(row: dict[str, Any], name: str, fn: Callable[[], Any], jvm: int | None) -> Any:
    """Run one step, print its JSON line (time, load during it, other JVMs, peak RSS)."""
    others = _java_processes(jvm)
    started = time.perf_counter()
    with _LoadWatch() as load:
        out = fn()
    row[f"{name}_s"] = round(time.perf_counter() - started, 2)
    row[f"{name}_load"] = load.summary()
    line = {"events": row["events"], "step": name, "s": row[f"{name}_s"], **load.summary(),
            "other_jvms": others, "peak_rss_mb": round(_rss_mb()),
            "jvm_peak_rss_mb": _vm_hwm_mb(jvm)}
    print(json.dumps(line), flush=True)
    return out


def _start_spark(driver_memory: str, shuffle_partitions: int) -> tuple[Any, dict[str, Any]]:
    """One local[2] session for every size, with the driver memory set before the JVM starts."""
    from analytics.engines.spark import session

    started = time.perf_counter()
    spark = session("local[2]", conf={"spark.driver.memory": driver_memory,
                                      "spark.sql.shuffle.partitions": str(shuffle_partitions)})
    spark.sparkContext.setLogLevel("ERROR")
    info = {"spark_start_s": round(time.perf_counter() - started, 2),
            "spark_version": spark.version,
            "driver_memory": spark.sparkContext.getConf().get("spark.driver.memory"),
            "jvm_max_heap_mb": round(
                spark.sparkContext._jvm.java.lang.Runtime.getRuntime().maxMemory() / 2**20),  # noqa: SLF001
            "shuffle_partitions": shuffle_partitions, "master": spark.sparkContext.master}
    print(json.dumps(info), flush=True)
    return spark, info


def _one_size(spark: Any, n: int, tmp: Path, k: int, jvm: int | None) -> dict[str, Any]:
    """Generate, ingest and time the three Spark steps on one shop of ``n`` events."""
    from analytics.engines.spark import build_profiles_spark
    from analytics.engines.spark_segments import run_segmentation_spark
    from analytics.recommend.engine import train
    from analytics.segments import SegmentSpec

    row: dict[str, Any] = {"events": n}
    with tempfile.TemporaryDirectory(dir=tmp, prefix="shopper-lens-scale-spark-") as name:
        folder = Path(name)
        files = _step(row, "generate", lambda: write_shop(folder / "shop", n), jvm)
        row["parquet_mb"] = round(sum(p.stat().st_size for p in files) / 1e6)
        ws = Workspace(folder / "ws" / "bench.duckdb", allow=[folder / "shop"])
        try:
            _step(row, "ingest", lambda: [_ingest(ws, p, n) for p in files], jvm)
            row["shoppers"] = _step(row, "spark_profiles",
                                    lambda: build_profiles_spark(ws, spark=spark).users, jvm)
            seg = _step(row, "spark_kmeans", lambda: run_segmentation_spark(
                ws, SegmentSpec(method="kmeans", k=k), spark=spark), jvm)
            row["kmeans_sizes"] = sorted(seg.sizes.values(), reverse=True)
            row["kmeans_silhouette"] = seg.quality.get("silhouette")
            trained = _step(row, "spark_als", lambda: train(ws, ["als_spark"]), jvm)
            row["als_fit_s"] = round(trained.fit_seconds["als_spark"], 2)
            row["als_interactions"] = int(trained.interactions.matrix.nnz)
        finally:
            ws.close()
    row["peak_rss_mb"], row["jvm_peak_rss_mb"] = round(_rss_mb()), _vm_hwm_mb(jvm)
    print(json.dumps(row), flush=True)
    return row


def run(sizes: list[int], tmp: Path, driver_memory: str, shuffle_partitions: int,
        k: int = 6) -> dict[str, Any]:
    """Every size on one Spark session; the summary with each step's growth between sizes."""
    spark, info = _start_spark(driver_memory, shuffle_partitions)
    summary: dict[str, Any] = {**info, "sizes": [], "memory_limit": os.environ.get(
        "SHOPPER_LENS_MEMORY_LIMIT", "4GB"), "threads": os.environ.get("SHOPPER_LENS_THREADS", "2")}
    jvm = _jvm_pid(spark)
    try:
        for n in sizes:
            summary["sizes"].append(_one_size(spark, n, tmp, k, jvm))
    finally:
        spark.stop()
    summary["growth"] = {step: _growth(summary["sizes"], f"{step}_s") for step in STEPS}
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--driver-memory", default="6g", help="spark.driver.memory (local mode: "
                        "the whole Spark heap)")
    parser.add_argument("--shuffle-partitions", type=int, default=8)
    parser.add_argument("--memory-limit", default="4GB",
                        help="SHOPPER_LENS_MEMORY_LIMIT for the workspace (DuckDB ingest, handover)")
    parser.add_argument("--threads", type=int, default=2, help="SHOPPER_LENS_THREADS")
    parser.add_argument("--tmp", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--json", action="store_true", help="end with the JSON summary line")
    args = parser.parse_args()
    os.environ["SHOPPER_LENS_MEMORY_LIMIT"] = args.memory_limit
    os.environ["SHOPPER_LENS_THREADS"] = str(args.threads)
    summary = run(args.events, args.tmp, args.driver_memory, args.shuffle_partitions)
    if args.json:
        print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
