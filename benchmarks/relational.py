"""Relational load speed: an Olist-sized set (lines, orders, customers, products) against the
bare DuckDB join of the same files, measured in the same run.

    python benchmarks/relational.py --orders 100000

Writes a synthetic Olist-shaped export (real column names, invented values; 1.13 lines per
order and 1.03 orders per person as in the public data set), then times:
  ours   shopper-lens's relational load (stage, keys, join, five datasets, accounting)
  floor  one bare DuckDB CREATE TABLE AS over read_csv of the four files, joined
and prints ours/floor; with --json the last line is a JSON summary ({"orders", "lines", "ours_s",
"floor_s", "ours_over_floor"}). No target yet: the number says what the checks and the five
datasets cost.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
from _report import add_json_flag, emit

from analytics.ingest.relational import load_relational, recognise
from analytics.workspace import Workspace


def make_olist(folder: Path, orders: int, seed: int = 1) -> list[Path]:
    rng = np.random.default_rng(seed)
    persons = max(int(orders / 1.03), 1)
    order_ids = np.char.add("o", np.arange(orders).astype(str))
    customer_ids = np.char.add("c", np.arange(orders).astype(str))
    person = np.char.add("P", rng.integers(0, persons, orders).astype(str))
    start = np.datetime64("2017-01-01T00:00:00")
    when = (start + rng.integers(0, 600 * 86400, orders).astype("timedelta64[s]")).astype(str)
    status = np.where(rng.random(orders) < 0.97, "delivered", "canceled")
    units = 1 + (rng.random(orders) < 0.13).astype(int)
    line_order = np.repeat(np.arange(orders), units)
    item_no = np.concatenate([np.arange(1, u + 1) for u in units])
    products = max(orders // 3, 1)
    frames = {
        "olist_customers_dataset.csv": pd.DataFrame({
            "customer_id": customer_ids, "customer_unique_id": person,
            "customer_city": "sao paulo"}),
        "olist_orders_dataset.csv": pd.DataFrame({
            "order_id": order_ids, "customer_id": customer_ids, "order_status": status,
            "order_purchase_timestamp": when}),
        "olist_order_items_dataset.csv": pd.DataFrame({
            "order_id": order_ids[line_order], "order_item_id": item_no,
            "product_id": np.char.add("p", rng.integers(0, products, len(line_order)).astype(str)),
            "price": np.round(rng.lognormal(4, 0.8, len(line_order)), 2)}),
        "olist_products_dataset.csv": pd.DataFrame({
            "product_id": np.char.add("p", np.arange(products).astype(str)),
            "product_category_name": np.char.add("cat", (np.arange(products) % 70).astype(str))}),
    }
    paths = []
    for name, frame in frames.items():
        frame.to_csv(folder / name, index=False)
        paths.append(folder / name)
    return paths


FLOOR = """
    CREATE TABLE joined AS
    SELECT c.customer_unique_id, o.order_purchase_timestamp, l.product_id, l.price, pr.product_category_name
    FROM read_csv(?) l JOIN read_csv(?) o USING (order_id) JOIN read_csv(?) c USING (customer_id)
    LEFT JOIN read_csv(?) pr USING (product_id) WHERE o.order_status = 'delivered'"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=20_000)
    add_json_flag(parser)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-relational-"))
    try:
        paths = make_olist(folder, args.orders)
        with Workspace(folder / "joined" / "w.duckdb", allow=[folder]) as ws:
            t0 = time.perf_counter()
            recognition = recognise(ws, paths)
            assert recognition is not None
            report = load_relational(ws, recognition)
            ours = time.perf_counter() - t0
        con = duckdb.connect(str(folder / "floor.duckdb"))
        by_name = {p.name: str(p) for p in paths}
        t0 = time.perf_counter()
        con.execute(FLOOR, [by_name["olist_order_items_dataset.csv"],
                            by_name["olist_orders_dataset.csv"],
                            by_name["olist_customers_dataset.csv"],
                            by_name["olist_products_dataset.csv"]])
        floor = time.perf_counter() - t0
        con.close()
        lines = next(f for f in report.files if f.kind == "events")
        summary = {"orders": args.orders, "lines": lines.rows_read, "ours_s": round(ours, 2),
                   "floor_s": round(floor, 2), "ours_over_floor": round(ours / floor, 1)}
        print(f"{lines.rows_read:,} lines, {args.orders:,} orders: ours {ours:.2f}s (five datasets, "
              f"keys, accounting), floor {floor:.2f}s (one bare DuckDB join): {ours / floor:.1f}x")
        emit(summary, args)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
