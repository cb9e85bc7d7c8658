"""Probabilistic identity linking: time, comparisons and accuracy as the shop grows.

    python benchmarks/identity.py --users 3000 10000

For each size, generates the sample shop (seed 7), loads it, runs `find_links` (applied, default
threshold) and prints the blocked pairs against all store × online pairs (near-linear blocking:
blocked pairs per store identity should stay roughly flat), the seconds of the run, and
precision / recall against the planted `identity_truth.csv`. Targets: precision ≥ 0.95,
recall ≥ 0.8, blocked pairs per store identity within 2× of the smallest size's
(``blocked_growth``). With --json the last line is ``{"runs": [one object per size]}``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd
from _report import add_json_flag, emit

from analytics.bundle import load_bundle
from analytics.identity import find_links
from analytics.sample import generate
from analytics.workspace import Workspace


def measure(users: int, folder: Path) -> dict[str, float]:
    shop = folder / f"shop{users}"
    generate(shop, users=users, seed=7)
    with Workspace(folder / f"ws{users}" / "shopper_lens.duckdb", allow=[shop]) as ws:
        load_bundle(ws, shop)
        started = time.perf_counter()
        report = find_links(ws, apply=True)
        seconds = time.perf_counter() - started
        with ws.cursor() as cur:
            links = cur.execute("SELECT alias, user_id FROM identity_links").fetchall()
    truth = pd.read_csv(shop / "identity_truth.csv", dtype=str, keep_default_na=False)
    hidden = truth[(truth["user_id"] != "") & (truth["deterministic"] == "0")]
    answer = dict(zip(hidden["loyalty_id"], hidden["user_id"], strict=True))
    correct = sum(answer.get(a) == u for a, u in links)
    return {"users": users, "store_ids": report.store_identities, "blocked": report.blocked_pairs,
            "all_pairs": report.all_pairs, "seconds": round(seconds, 1),
            "precision": round(correct / max(len(links), 1), 3),
            "recall": round(correct / max(len(answer), 1), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, nargs="+", default=[3000])
    add_json_flag(parser)
    args = parser.parse_args()
    rows: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for users in args.users:
            row = measure(users, Path(tmp))
            row["blocked_per_store_id"] = round(row["blocked"] / max(row["store_ids"], 1), 1)
            first = rows[0]["blocked_per_store_id"] if rows else row["blocked_per_store_id"]
            row["blocked_growth"] = round(row["blocked_per_store_id"] / first, 2) if first else float("nan")
            rows.append(row)
            print(row, flush=True)
    emit({"runs": rows}, args)


if __name__ == "__main__":
    main()
