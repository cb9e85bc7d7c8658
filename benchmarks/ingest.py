"""Ingest speed against the floor and the common alternative, measured in the same run.

    python benchmarks/ingest.py --events 1000000 [--json]

Writes N canonical events as CSV and Parquet, then times, on each format:
  ours    shopper-lens ingest (mapping, normalisation, dedup, rejects, sessions, accounting)
  floor   DuckDB's own CREATE TABLE t AS SELECT * FROM read_csv/read_parquet(file)
  pandas  pandas.read_csv/read_parquet, then an insert into DuckDB
and prints ours/floor and pandas/ours. Targets: ours within 1.5x of the floor (issue 14), pandas
>= 3x ours. With --json the last line is {"csv_ratio", "parquet_ratio", ...} (ours / floor, wall
time) and {"csv_cpu_ratio", "parquet_cpu_ratio"} (the same in CPU seconds, steadier when the
machine is busy).
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
from _report import add_json_flag, emit

from analytics.ingest import ingest_file
from analytics.workspace import Workspace

TYPES = np.array(["view", "view", "view", "view", "cart", "purchase", "search", "wishlist"])


def make_events(n: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    start = np.datetime64("2024-01-01T00:00:00")
    seconds = np.sort(rng.integers(0, 180 * 86400, n))
    users = rng.integers(0, max(n // 40, 1), n)
    return pd.DataFrame({
        "user_id": np.char.add("u", users.astype(str)),
        "event_time": (start + seconds.astype("timedelta64[s]")).astype(str),
        "event_type": TYPES[rng.integers(0, len(TYPES), n)],
        "item_id": np.char.add("i", rng.integers(0, 5000, n).astype(str)),
        "price": np.round(rng.lognormal(3, 0.7, n), 2),
        "quantity": rng.integers(1, 4, n),
        "session_id": np.char.add("s", (users * 1000 + seconds // 1800).astype(str)),
        "device": np.array(["mobile", "desktop", "tablet"])[rng.integers(0, 3, n)],
    })


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)  # every thread of this process
    return usage.ru_utime + usage.ru_stime


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Best wall seconds and best CPU seconds of ``repeat`` runs.

    CPU time is what a busy machine disturbs least: other processes stretch the wall time
    of both paths, but not the work each does."""
    best, best_cpu = float("inf"), float("inf")
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), _cpu()
        fn()
        best, best_cpu = min(best, time.perf_counter() - t0), min(best_cpu, _cpu() - c0)
    return best, best_cpu


def fresh_db(folder: Path, name: str) -> Path:
    target = folder / name
    shutil.rmtree(target, ignore_errors=True)
    return target / "bench.duckdb"


def ours(folder: Path, data: Path) -> None:
    with Workspace(fresh_db(folder, "ours"), allow=[data.parent]) as ws:
        ingest_file(ws, data)


def floor(folder: Path, data: Path) -> None:
    reader = "read_parquet" if data.suffix == ".parquet" else "read_csv"
    path = fresh_db(folder, "floor")
    path.parent.mkdir(parents=True)
    with duckdb.connect(str(path)) as con:
        con.execute(f"CREATE TABLE t AS SELECT * FROM {reader}(?)", [str(data)])  # noqa: S608


def pandas_path(folder: Path, data: Path) -> None:
    frame = pd.read_parquet(data) if data.suffix == ".parquet" else pd.read_csv(data)
    frame["event_time"] = pd.to_datetime(frame["event_time"])
    path = fresh_db(folder, "pandas")
    path.parent.mkdir(parents=True)
    with duckdb.connect(str(path)) as con:
        con.register("frame", frame)
        con.execute("CREATE TABLE t AS SELECT * FROM frame")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--no-pandas", action="store_true", help="skip the pandas path")
    add_json_flag(parser)
    args = parser.parse_args()
    summary: dict[str, float | int] = {"events": args.events}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        frame = make_events(args.events)
        csv, parquet = folder / "events.csv", folder / "events.parquet"
        frame.to_csv(csv, index=False)
        frame.to_parquet(parquet, index=False)
        print(f"{args.events:,} events · CSV {csv.stat().st_size / 1e6:,.0f} MB · "
              f"Parquet {parquet.stat().st_size / 1e6:,.0f} MB · best of {args.repeat}")
        for data in (csv, parquet):
            t_ours, cpu_ours = timed(lambda d=data: ours(folder, d), args.repeat)
            t_floor, cpu_floor = timed(lambda d=data: floor(folder, d), args.repeat)
            kind = data.suffix[1:]
            summary |= {f"{kind}_ours_s": round(t_ours, 2), f"{kind}_floor_s": round(t_floor, 2),
                        f"{kind}_ratio": round(t_ours / t_floor, 2),
                        f"{kind}_ours_cpu_s": round(cpu_ours, 2),
                        f"{kind}_floor_cpu_s": round(cpu_floor, 2),
                        f"{kind}_cpu_ratio": round(cpu_ours / cpu_floor, 2)}
            line = (f"{kind:>8}: ours {t_ours:6.2f}s · floor {t_floor:6.2f}s · "
                    f"ours/floor {t_ours / t_floor:4.2f}x (target ≤ 1.5) · CPU "
                    f"{cpu_ours:5.2f}s / {cpu_floor:5.2f}s = {cpu_ours / cpu_floor:4.2f}x")
            if not args.no_pandas:
                t_pandas, _ = timed(lambda d=data: pandas_path(folder, d), args.repeat)
                summary[f"{kind}_pandas_s"] = round(t_pandas, 2)
                line += f" · pandas {t_pandas:6.2f}s · pandas/ours {t_pandas / t_ours:4.2f}x (target ≥ 3)"
            print(line, flush=True)
    emit(summary, args)


if __name__ == "__main__":
    main()
