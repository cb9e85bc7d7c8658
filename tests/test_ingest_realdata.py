"""Ingestion of the real CC0 Complete Journey data, with exact row accounting."""

from __future__ import annotations

import pandas as pd
import pytest

from analytics.ingest import ingest_file, inspect_file
from tests.conftest import COMPLETEJOURNEY, needs_shared

pytestmark = [needs_shared, pytest.mark.realdata]


def test_transactions_products_and_demographics_load_with_exact_accounting(ws):
    truth = pd.read_csv(COMPLETEJOURNEY / "transactions_sample.csv")
    canonical = ["household_id", "basket_id", "product_id", "quantity", "sales_value",
                 "transaction_timestamp"]
    distinct = len(truth.drop_duplicates(canonical))

    demo = ingest_file(ws, COMPLETEJOURNEY / "demographics.csv")
    products = ingest_file(ws, COMPLETEJOURNEY / "products.csv")
    inspection = inspect_file(ws, COMPLETEJOURNEY / "transactions_sample.csv")
    assert inspection.mapping.columns["user_id"] == "household_id"
    assert inspection.mapping.columns["revenue"] == "sales_value"
    sales = ingest_file(ws, COMPLETEJOURNEY / "transactions_sample.csv", source="offline")

    assert (demo.kind, demo.rows_read, demo.rows_loaded) == ("users", 801, 801)
    assert (products.kind, products.rows_read, products.rows_loaded) == ("items", 92_331, 92_331)
    assert sales.rows_read == len(truth) == 75_000
    assert sales.rows_loaded == distinct
    assert sales.rows_read == sales.rows_loaded + sales.rows_rejected + sales.duplicates_skipped
    with ws.cursor() as cur:
        users, revenue, sources, types = cur.execute(
            "SELECT count(DISTINCT user_id), sum(revenue), list(DISTINCT source), "
            "list(DISTINCT event_type) FROM events").fetchall()[0]
        category = cur.execute("SELECT category FROM items WHERE item_id = '25671'").fetchall()
    assert users == truth["household_id"].nunique() == 2_377
    assert revenue == pytest.approx(truth["sales_value"].sum())
    assert (sources, types) == (["offline"], ["purchase"])
    assert category == [("FRZN ICE",)]  # product_category, the finer of the two category columns
