"""Lifetime-value fit time against the number of shoppers, with the fit's recovery of the
planted parameters measured in the same run.

    python benchmarks/predict.py --shoppers 20000 200000

Simulates BG/NBD + Gamma-Gamma summaries (analytics.predict.simulate) and times
  bgnbd   the BG/NBD maximum-likelihood fit (target: under 5 s at 200,000 shoppers)
  gamma   the Gamma-Gamma fit
  values  P(alive), expected orders, order value and 365-day CLV for everyone
and prints the largest relative parameter error; with --json the last line is
``{"runs": [one object per size]}``.
"""

from __future__ import annotations

import argparse
import time

from _report import add_json_flag, emit

from analytics.predict.clv import fit_bgnbd, fit_gamma_gamma
from analytics.predict.lifetime import per_shopper
from analytics.predict.simulate import SAMPLE_BGNBD, SAMPLE_SPEND, simulate


def run(shoppers: int, seed: int) -> dict[str, float]:
    d = simulate(SAMPLE_BGNBD, SAMPLE_SPEND, shoppers, seed=seed).summary
    d["user_id"] = d.index.astype(str)
    start = time.perf_counter()
    bgnbd = fit_bgnbd(d["frequency"], d["recency"], d["age"])
    middle = time.perf_counter()
    spend = fit_gamma_gamma(d["frequency"], d["mean_value"])
    end = time.perf_counter()
    per_shopper(bgnbd, spend, d, 365)
    done = time.perf_counter()
    errors = [abs(getattr(bgnbd, k) / getattr(SAMPLE_BGNBD, k) - 1) for k in ("r", "alpha", "a", "b")]
    errors += [abs(getattr(spend, k) / getattr(SAMPLE_SPEND, k) - 1) for k in ("p", "q", "v")]
    return {"shoppers": shoppers, "bgnbd_s": middle - start, "gamma_s": end - middle,
            "values_s": done - end, "max_param_error": max(errors)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shoppers", type=int, nargs="+", default=[20_000])
    parser.add_argument("--seed", type=int, default=1)
    add_json_flag(parser)
    args = parser.parse_args()
    rows = [run(n, args.seed) for n in args.shoppers]
    for r in rows:
        print(f"{r['shoppers']:>9,} shoppers  bgnbd {r['bgnbd_s']:6.2f} s  gamma {r['gamma_s']:6.2f} s  "
              f"values {r['values_s']:6.2f} s  max parameter error {r['max_param_error']:.1%}")
    emit({"runs": rows}, args)


if __name__ == "__main__":
    main()
