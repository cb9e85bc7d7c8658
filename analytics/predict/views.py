"""What the Predictions page shows, prepared here: the fit in plain words, and P(alive) and CLV
per segment of a segmentation (aggregated in SQL; charts get a bounded sample)."""

from __future__ import annotations

import pandas as pd

from analytics.labels import money
from analytics.predict.store import StoredFit
from analytics.workspace import Workspace

#: At most this many shoppers feed a distribution chart (the summary table counts everyone).
CHART_ROWS = 20_000
#: Below this chance of still buying a shopper counts as at risk in the segment summary.
AT_RISK = 0.3
NO_SEGMENT = "Not in this segmentation"

_SUMMARY_SQL = """
SELECT coalesce(m.segment_name, $none) AS segment, count(*) AS shoppers,
       median(v.p_alive) AS median_p_alive, avg(CASE WHEN v.p_alive < $risk THEN 1.0 ELSE 0.0 END)
           AS at_risk_share, avg(v.clv) AS mean_clv, sum(v.clv) AS total_clv
FROM predictions v
LEFT JOIN segment_members m ON m.user_id = v.user_id AND m.run_id = $run
GROUP BY ALL ORDER BY total_clv DESC
"""
_SAMPLE_SQL = """
SELECT v.user_id, coalesce(m.segment_name, $none) AS segment, v.p_alive, v.clv
FROM predictions v
LEFT JOIN segment_members m ON m.user_id = v.user_id AND m.run_id = $run
ORDER BY hash(v.user_id) LIMIT $limit
"""


def describe_fit(fit: StoredFit) -> list[str]:
    """The fitted parameters as three sentences a marketer can check against their shop."""
    b, g = fit.bgnbd, fit.gamma_gamma
    interval = b["alpha"] / b["r"]
    spread = "vary a lot between shoppers" if b["r"] < 1 else "are fairly similar across shoppers"
    dropout = b["a"] / (b["a"] + b["b"])
    value = g["p"] * g["v"] / (g["q"] - 1) if g["q"] > 1 else float("nan")
    return [
        f"While still active, a typical shopper orders about every {interval:,.0f} days; order "
        f"rates {spread} (r = {b['r']:.3g}, alpha = {b['alpha']:.3g}, in {b['unit']}).",
        f"After each repeat order about {dropout:.0%} of shoppers stop buying for good "
        f"(a = {b['a']:.3g}, b = {b['b']:.3g}).",
        f"An order is worth about {money(value)} on average; each shopper's own orders pull "
        f"their expected value up or down (p = {g['p']:.3g}, q = {g['q']:.3g}, v = {g['v']:.3g}; "
        f"from the {fit.holdout.get('spend_shoppers', 0):,} repeat buyers with a positive order "
        "value, everyone else gets the average).",
    ]


def segment_summary(ws: Workspace, run_id: str | None) -> pd.DataFrame:
    """Per segment of ``run_id``: shoppers, median P(alive), share at risk, mean and total CLV."""
    with ws.cursor() as cur:
        return cur.execute(_SUMMARY_SQL, {"none": NO_SEGMENT, "risk": AT_RISK, "run": run_id}).df()


def segment_sample(ws: Workspace, run_id: str | None, limit: int = CHART_ROWS) -> pd.DataFrame:
    """user_id, segment, p_alive, clv for at most ``limit`` shoppers (a fixed pseudo-random set)."""
    with ws.cursor() as cur:
        return cur.execute(_SAMPLE_SQL, {"none": NO_SEGMENT, "run": run_id, "limit": limit}).df()
