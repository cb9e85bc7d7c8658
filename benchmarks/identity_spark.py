"""Identity linking trained *and* scored on Splink's Spark backend against the DuckDB backend.

    python benchmarks/identity_spark.py --users 200 [--master local[2]]

Generates the sample shop (seed 11), runs ``find_links`` (dry run) on DuckDB and then with
``engine="spark"`` (the whole Splink run — u sampling, EM, prediction — on Spark), and prints
the seconds of each, the candidate pairs only one side found, the largest probability
difference and whether every stored link would be the same. Target: no pair on one side only,
probabilities within 1e-6. With --json the last line is a JSON summary (``spark_over_duckdb``:
the Spark run's seconds over DuckDB's).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd
from _report import add_json_flag, emit

from analytics.bundle import load_bundle
from analytics.engines.spark import session
from analytics.identity import find_links
from analytics.sample import generate
from analytics.workspace import Workspace


def measure(users: int, master: str, folder: Path) -> dict[str, Any]:
    shop = generate(folder / "shop", users=users, seed=11).out_dir
    spark = session(master, conf={"spark.sql.shuffle.partitions": "2"})
    try:
        with Workspace(folder / "ws" / "shopper_lens.duckdb", allow=[shop]) as ws:
            load_bundle(ws, shop)
            started = time.perf_counter()
            on_duckdb = find_links(ws)
            duckdb_seconds = time.perf_counter() - started
            started = time.perf_counter()
            on_spark = find_links(ws, engine="spark", spark=spark)
            spark_seconds = time.perf_counter() - started
    finally:
        spark.stop()
    a, b = pd.DataFrame(on_duckdb.pairs), pd.DataFrame(on_spark.pairs)
    both = a.merge(b, on=["alias", "user_id"], how="outer", indicator=True)
    matched = both[both["_merge"] == "both"]
    return {"users": users, "candidates": len(a), "duckdb_seconds": round(duckdb_seconds, 1),
            "spark_seconds": round(spark_seconds, 1),
            "spark_over_duckdb": round(spark_seconds / duckdb_seconds, 2),
            "only_one_side": int((both["_merge"] != "both").sum()),
            "max_probability_difference": float((matched["probability_x"]
                                                 - matched["probability_y"]).abs().max()),
            "same_status": a["status"].tolist() == b["status"].tolist()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--master", default="local[2]")
    add_json_flag(parser)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        result = measure(args.users, args.master, Path(folder))
    print(f"{result['candidates']} candidates; DuckDB {result['duckdb_seconds']} s, Spark "
          f"{result['spark_seconds']} s; {result['only_one_side']} on one side only; largest "
          f"probability difference {result['max_probability_difference']:.2e}")
    emit(result, args)


if __name__ == "__main__":
    main()
