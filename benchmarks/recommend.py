"""Recommender speed: fit time per model, per-shopper latency, batch throughput, glue overhead.

    python benchmarks/recommend.py --events 1000000 10000000

For each size, generates the sample shop (planted structure, ~56 events per shopper), loads
it, builds the interactions once, then prints:
  fit        seconds per model (and interactions build time)
  latency    one shopper's top-10 with reasons, p50 / p95 over 200 shoppers (target p95 <= 50 ms)
  batch      top-10 for every shopper, shoppers per second
  glue       our ALS / item-kNN fit against calling implicit directly on the same matrix
             (ratio ours/direct; target <= 1.2x)
With --json the last line is ``{"runs": [one object per size]}``: ``fit_s`` per model,
``glue`` {model: {ours_s, implicit_s, ratio}}, ``latency`` {model: {p50_ms, p95_ms,
batch_per_s}} and the sizes.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import threadpoolctl
from _report import add_json_flag, emit
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


def run(events: int, folder: Path) -> dict[str, Any]:
    users = max(events // EVENTS_PER_USER, 100)
    print(f"\n== {events:,} events target ({users:,} shoppers) ==")
    data = folder / f"sample_{events}"
    out: dict[str, Any] = {"events_target": events, "users_target": users,
                           "generate_s": seconds(lambda: generate(data, users=users, seed=11))}
    print(f"generate  {out['generate_s']:8.1f} s")
    with Workspace(folder / f"ws_{events}" / "bench.duckdb", allow=[data]) as ws:
        out["load_s"] = seconds(lambda: load_bundle(ws, data))
        print(f"load      {out['load_s']:8.1f} s")
        started = time.perf_counter()
        inter, items = build(ws)
        out["interactions_s"] = time.perf_counter() - started
        print(f"interactions build {out['interactions_s']:8.2f} s  "
              f"({inter.n_users:,} shoppers x {inter.n_items:,} items, {inter.matrix.nnz:,} pairs)")
    out |= {"shoppers": inter.n_users, "items": inter.n_items, "pairs": int(inter.matrix.nnz),
            "fit_s": {}, "glue": {}, "latency": {}}
    fitted = {}
    for name in MODELS:
        model = make_model(name)
        out["fit_s"][name] = seconds(lambda m=model: m.fit(inter, items))
        print(f"fit {name:<20}{out['fit_s'][name]:8.2f} s")
        fitted[name] = model
    ours = {name: min(seconds(lambda n=name: make_model(n).fit(inter, items)) for _ in range(2))
            for name in ("als", "item_knn")}
    direct = direct_fits(inter.matrix)
    for name in ours:
        out["glue"][name] = {"ours_s": ours[name], "implicit_s": direct[name],
                             "ratio": round(ours[name] / direct[name], 2)}
        print(f"glue {name:<10} ours {ours[name]:6.2f} s  implicit {direct[name]:6.2f} s  "
              f"ratio {ours[name] / direct[name]:5.2f}x (target <= 1.2x)")
    rng = np.random.default_rng(0)
    sample = rng.choice(inter.user_ids, size=min(200, inter.n_users), replace=False)
    for name, model in fitted.items():
        out["latency"][name] = latency(name, model, sample, inter.user_ids)
    return out


def latency(name: str, model: Any, sample: Any, user_ids: Any) -> dict[str, float]:
    """One shopper's top-10 with reasons (p50/p95 over ``sample``) and the whole batch's rate."""
    latencies = [seconds(lambda u=u: model.recommend_with_reasons([u], 10)) for u in sample]
    batch = seconds(lambda: model.recommend(user_ids.tolist(), 10))
    p50, p95 = np.percentile(np.array(latencies) * 1000, [50, 95])
    print(f"{name:<20} latency p50 {p50:6.1f} ms  "
          f"p95 {p95:6.1f} ms{'' if p95 <= 50 else '  (over 50 ms)'}   "
          f"batch {len(user_ids) / batch:10,.0f} shoppers/s")
    return {"p50_ms": round(float(p50), 2), "p95_ms": round(float(p95), 2),
            "batch_per_s": round(len(user_ids) / batch)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, nargs="+", default=[1_000_000, 10_000_000])
    add_json_flag(parser)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        runs = [run(events, Path(tmp)) for events in args.events]
    emit({"runs": runs}, args)


if __name__ == "__main__":
    main()
