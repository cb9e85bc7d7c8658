"""Peak memory of `shopper-lens ingest` on a large event file, against the file's size.

Generates a CSV of about --gb gigabytes (synthetic events, ~75 bytes a row) in a temporary
folder, loads it by path through the CLI under SHOPPER_LENS_MEMORY_LIMIT, and prints the peak
resident memory of the CLI process, its ratio to the file size and to a 1/10-size baseline
measured in the same run (bounded memory: the ratio stays near 1 however big the file is).
With --json the last line is a JSON summary ({"limit", "baseline": {...}, "big": {...},
"rss_growth_for_10x_file"}).

    .venv/bin/python benchmarks/ingest_memory.py --gb 2 --limit 1GB
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
from _report import add_json_flag, emit

ROOT = Path(__file__).resolve().parent.parent
BYTES_PER_ROW = 75  # of the generated rows, measured

GENERATE_SQL = """
COPY (SELECT 'user' || lpad(CAST(i % 400000 AS VARCHAR), 7, '0') AS user_id,
             strftime(TIMESTAMP '2024-01-01' + to_seconds(i // 20), '%Y-%m-%d %H:%M:%S') AS event_time,
             ['view', 'view', 'view', 'cart', 'purchase', 'search'][1 + i % 6] AS event_type,
             'sku-' || (i * 7919 % 20000) AS item_id, 'category-' || (i % 37) AS category,
             round(5 + (i % 1000) / 10.0, 2) AS price, 1 + i % 3 AS quantity,
             ['mobile', 'desktop', 'tablet'][1 + i % 3] AS device
      FROM range(?) t(i)) TO '{path}' (HEADER, DELIMITER ',')
"""

# Runs one CLI ingest as its only child and reports that child's peak RSS (KB on Linux).
_MEASURE = """
import resource, subprocess, sys, time
start = time.perf_counter()
code = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL)
print(code, time.perf_counter() - start, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def generate(path: Path, gigabytes: float) -> int:
    rows = int(gigabytes * 1e9 / BYTES_PER_ROW)
    with duckdb.connect() as con:
        con.execute(GENERATE_SQL.format(path=str(path).replace("'", "''")), [rows])
    return rows


def ingest(path: Path, db: Path, limit: str) -> tuple[int, float, int]:
    """(exit code, seconds, peak RSS in bytes) of one CLI ingest."""
    env = {**os.environ, "SHOPPER_LENS_MEMORY_LIMIT": limit}
    command = [sys.executable, "-c", _MEASURE, sys.executable, "-m", "analytics", "ingest", str(path),
               "--db", str(db)]
    out = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    code, seconds, rss_kb = out.stdout.split()
    return int(code), float(seconds), int(rss_kb) * 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gb", type=float, default=2.0, help="size of the big file")
    parser.add_argument("--limit", default="1GB", help="SHOPPER_LENS_MEMORY_LIMIT for the runs")
    parser.add_argument("--dir", help="scratch folder (default: a temporary one, removed after)")
    add_json_flag(parser)
    args = parser.parse_args()
    scratch = Path(args.dir or tempfile.mkdtemp(prefix="ingest-memory-"))
    scratch.mkdir(parents=True, exist_ok=True)
    results = {}
    try:
        for label, gigabytes in (("baseline", args.gb / 10), ("big", args.gb)):
            csv = scratch / f"{label}.csv"
            start = time.perf_counter()
            rows = generate(csv, gigabytes)
            made = time.perf_counter() - start
            code, seconds, rss = ingest(csv, scratch / f"{label}.duckdb", args.limit)
            size = csv.stat().st_size
            results[label] = {"rows": rows, "file_mb": size / 2**20, "generate_s": made, "exit": code,
                              "ingest_s": seconds, "rows_per_s": rows / seconds,
                              "peak_rss_mb": rss / 2**20, "rss_over_file": rss / size}
            print(f"{label:>8}: {size / 2**20:8,.0f} MB file, {rows:>11,} rows, exit {code}, "
                  f"{seconds:6.1f} s ({rows / seconds:,.0f} rows/s), peak RSS {rss / 2**20:6,.0f} MB "
                  f"= {rss / size:.2f} x the file", flush=True)
            csv.unlink()
    finally:
        if not args.dir:
            shutil.rmtree(scratch, ignore_errors=True)
    growth = results["big"]["peak_rss_mb"] / results["baseline"]["peak_rss_mb"]
    print(f"peak RSS ratio big/baseline: {growth:.2f} for a 10x larger file (limit {args.limit})")
    emit({"limit": args.limit, **results, "rss_growth_for_10x_file": growth}, args)


if __name__ == "__main__":
    main()
