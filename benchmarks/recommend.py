"""Recommender speed: fit time per model, per-shopper latency, batch throughput, glue overhead.

    python benchmarks/recommend.py --events 1000000 10000000

For each size, generates the sample shop (planted structure, ~56 events per shopper), loads
it, builds the interactions once, then prints:
  fit        seconds per model (and interactions build time)
  latency    one shopper's top-10 with reasons, p50 / p95 over 200 shoppers (target p95 <= 50 ms)
  batch      top-10 for every shopper, shoppers per second
  glue       our ALS / item-kNN fit against calling implicit directly on the same matrix
             (ratio ours/direct; target <= 1.2x)
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import threadpoolctl
from implicit.cpu.als import AlternatingLeastSquares
from implicit.nearest_neighbours import CosineRecommender

from analytics.bundle import load_bundle
from analytics.recommend import build, make_model
from analytics.recommend.mf import resolve_threads
from analytics.sample import generate
from analytics.workspace import Workspace

MODELS = ("popularity", "segment_popularity", "trending", "item_knn", "als", "bpr", "content",
          "sequential", "hybrid")
EVENTS_PER_USER = 56


def seconds(fn) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def direct_fits(matrix) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """implicit alone, same matrix and parameters as our defaults (best of 2)."""
    threads = resolve_threads(0)
    out = {}
    with threadpoolctl.threadpool_limits(1, "blas"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # implicit's own CSR-conversion notice
        als = lambda: AlternatingLeastSquares(factors=32, regularization=0.05, alpha=2.0,  # noqa: E731
                                              iterations=15, num_threads=threads,
                                              random_state=0).fit(matrix, show_progress=False)
        knn = lambda: CosineRecommender(K=50, num_threads=threads).fit(  # noqa: E731
            matrix, show_progress=False)
        out["als"] = min(seconds(als) for _ in range(2))
        out["item_knn"] = min(seconds(knn) for _ in range(2))
    return out


def run(events: int, folder: Path) -> None:
    users = max(events // EVENTS_PER_USER, 100)
    print(f"\n== {events:,} events target ({users:,} shoppers) ==")
    data = folder / f"sample_{events}"
    print(f"generate  {seconds(lambda: generate(data, users=users, seed=11)):8.1f} s")
    with Workspace(folder / f"ws_{events}" / "bench.duckdb", allow=[data]) as ws:
        print(f"load      {seconds(lambda: load_bundle(ws, data)):8.1f} s")
        started = time.perf_counter()
        inter, items = build(ws)
        print(f"interactions build {time.perf_counter() - started:8.2f} s  "
              f"({inter.n_users:,} shoppers x {inter.n_items:,} items, {inter.matrix.nnz:,} pairs)")
    fitted = {}
    for name in MODELS:
        model = make_model(name)
        print(f"fit {name:<20}{seconds(lambda m=model: m.fit(inter, items)):8.2f} s")
        fitted[name] = model
    ours = {name: min(seconds(lambda n=name: make_model(n).fit(inter, items)) for _ in range(2))
            for name in ("als", "item_knn")}
    direct = direct_fits(inter.matrix)
    for name in ours:
        print(f"glue {name:<10} ours {ours[name]:6.2f} s  implicit {direct[name]:6.2f} s  "
              f"ratio {ours[name] / direct[name]:5.2f}x (target <= 1.2x)")
    rng = np.random.default_rng(0)
    sample = rng.choice(inter.user_ids, size=min(200, inter.n_users), replace=False)
    for name, model in fitted.items():
        latencies = [seconds(lambda u=u, m=model: m.recommend_with_reasons([u], 10))
                     for u in sample]
        batch = seconds(lambda m=model: m.recommend(inter.user_ids.tolist(), 10))
        p50, p95 = np.percentile(np.array(latencies) * 1000, [50, 95])
        print(f"{name:<20} latency p50 {p50:6.1f} ms  p95 {p95:6.1f} ms"
              f"{'' if p95 <= 50 else '  (over 50 ms)'}   batch {inter.n_users / batch:10,.0f} shoppers/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, nargs="+", default=[1_000_000, 10_000_000])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for events in args.events:
            run(events, Path(tmp))


if __name__ == "__main__":
    main()
