"""Write the two non-sample shapes the real-data audit (docs/real-data-audit.md) ran on.

Neither comes from ``analytics.sample`` on purpose: the audit asks how the analyses behave on
shapes the generator does not plant. ``ratings.tsv`` is a headerless user, item, rating,
timestamp file (Zipf-tailed items, ratings drawn independently of the item: no structure to
find); ``clicks.csv`` a three-hour clickstream without session ids in which most shoppers visit
once (views, some carts, few purchases).

    python benchmarks/audit_shapes.py OUT_DIR [--seed S]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd


def ratings(rng: np.random.Generator, rows: int = 50_000) -> pd.DataFrame:
    """~50k ratings: 3,000 users with geometric activity, 6,000 items, popularity ~ 1/rank."""
    users = rng.geometric(1 / 18, size=3_000)
    user = np.repeat(np.arange(1, users.size + 1), users)[:rows]
    weight = 1 / np.arange(1, 6_001) ** 0.9
    item = rng.choice(np.arange(1, 6_001), p=weight / weight.sum(), size=user.size)
    start = pd.Timestamp("2021-01-01").value // 10**9
    ts = start + rng.integers(0, 400 * 86_400, size=user.size)
    rating = rng.choice([1, 2, 3, 4, 5], p=[0.06, 0.1, 0.24, 0.35, 0.25], size=user.size)
    frame = pd.DataFrame({"user": user, "item": item, "rating": rating, "ts": ts})
    return frame.drop_duplicates(["user", "item"]).sort_values("ts")


def clicks(rng: np.random.Generator, shoppers: int = 6_000) -> pd.DataFrame:
    """A 3-hour log: 80% one visit of 1-4 views; carts 12% of views; purchases 30% of carts."""
    rows = []
    start = pd.Timestamp("2024-11-29 09:00:00")
    for user in range(1, shoppers + 1):
        visits = 1 if rng.random() < 0.8 else int(rng.integers(2, 4))
        for _ in range(visits):
            t = start + pd.Timedelta(seconds=int(rng.integers(0, 3 * 3600 - 900)))
            for _ in range(int(rng.integers(1, 5))):
                item = int(min(rng.zipf(1.4), 900))
                price = round(5 + (item % 50) * 3.1, 2)
                rows.append((t, "view", item, price, user))
                if rng.random() < 0.12:
                    rows.append((t + pd.Timedelta(seconds=40), "cart", item, price, user))
                    if rng.random() < 0.3:
                        rows.append((t + pd.Timedelta(seconds=150), "purchase", item, price, user))
                t += pd.Timedelta(seconds=int(rng.integers(20, 200)))
    frame = pd.DataFrame(rows, columns=["event_time", "event_type", "product_id", "price", "user_id"])
    frame["event_time"] = frame["event_time"].dt.strftime("%Y-%m-%d %H:%M:%S UTC")
    return frame.sort_values("event_time")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--seed", type=int, default=12)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    ratings(rng).to_csv(args.out / "ratings.tsv", sep="\t", header=False, index=False)
    clicks(rng).to_csv(args.out / "clicks.csv", index=False)


if __name__ == "__main__":
    main()
