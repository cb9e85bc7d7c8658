"""Every recommender trains and evaluates end to end on real grocery baskets (Complete Journey).

Kept fast by subsampling: a quarter of the households, and the products they bought plus
2,000 others (so that some catalogue items have no interactions at all).
"""

from __future__ import annotations

import pandas as pd
import pytest

from analytics.ingest import ingest_file
from analytics.recommend import preview
from analytics.recommend.evaluate import DEFAULT_MODELS, Split, evaluate
from tests.conftest import COMPLETEJOURNEY, needs_shared

pytestmark = [needs_shared, pytest.mark.realdata]


def test_all_models_train_and_evaluate_on_complete_journey(ws, tmp_path, capsys):
    sales = pd.read_csv(COMPLETEJOURNEY / "transactions_sample.csv")
    sales = sales[sales["household_id"] % 4 == 0]
    products = pd.read_csv(COMPLETEJOURNEY / "products.csv")
    bought = products["product_id"].isin(set(sales["product_id"]))
    products = pd.concat([products[bought], products[~bought].sample(2000, random_state=0)])
    sales.to_csv(tmp_path / "transactions_sample.csv", index=False)
    products.to_csv(tmp_path / "products.csv", index=False)
    ingest_file(ws, tmp_path / "products.csv")
    ingest_file(ws, tmp_path / "transactions_sample.csv", source="offline")

    report = evaluate(ws, DEFAULT_MODELS, k=10, split=Split(test_days=28), max_users=100)
    with capsys.disabled():
        print("\nComplete Journey NDCG@10 (known shoppers):",
              {s.model: round(s.ndcg, 4) for s in report.overall}, report.verdict)
    assert {s.model for s in report.overall} == set(DEFAULT_MODELS)
    assert report.test_users == 100 == report.known_users + report.new_users
    assert set(report.exclusion_ndcg) == {"purchased", "any", "nothing"}
    assert report.best() in report.tied
    assert all(0 <= s.ndcg <= 1 and 0 < s.coverage <= 1 for s in report.overall)
    assert max(s.ndcg for s in report.overall) > 0, "some model finds next month's baskets"

    household = str(sales["household_id"].iloc[0])
    result = preview(ws, household, ["hybrid", "content"], k=5)
    assert all(len(r.rows) == 5 and all(row.title and row.reason for row in r.rows)
               for r in result)
