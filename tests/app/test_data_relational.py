"""Data page, several related files at once: the recognised export, its join, one load."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.app.conftest import no_exceptions
from tests.relational_data import OLIST_EXPECTED, OLIST_FILES, OLIST_FOUR


def _upload(at: AppTest, names: tuple[str, ...]) -> None:
    at.file_uploader[0].set_value([(n, OLIST_FILES[n].encode(), "text/csv") for n in names]).run()


def test_four_related_files_show_the_join_and_load_as_one(app: AppTest):
    at = app.run()
    at.switch_page("pages/data.py").run()
    _upload(at, OLIST_FOUR)
    no_exceptions(at)
    assert any("Olist-style marketplace export" in s.value for s in at.success)
    keys = at.dataframe[1].value
    rates = {(r["from"], r["key"]): r["match rate"] for _, r in keys.iterrows()}
    assert rates[("olist_order_items_dataset.csv", "order_id")] == 0.8  # o9 has no order header
    assert rates[("olist_orders_dataset.csv", "customer_id")] == 1.0
    [load] = [b for b in at.button if b.label == "Load all 4 files"]
    load.click().run()
    at.run()  # the page reruns itself after loading
    no_exceptions(at)
    assert any("Loaded the Olist-style marketplace export" in s.value for s in at.success)
    table = at.dataframe[2].value
    lines = table[table["file"] == "olist_order_items_dataset.csv"].iloc[0]
    assert (lines["rows read"], lines["loaded"], lines["rejected"]) == (7, 5, 2)
    at.switch_page("pages/home.py").run()
    no_exceptions(at)
    metrics = {m.label: m.value for m in at.metric}
    revenue = sum(OLIST_EXPECTED["revenue"].values())  # 275.3: both units of pA count
    assert (metrics["Shoppers"], metrics["Orders"]) == ("2", "3")  # persons, not per-order ids
    [revenue_label] = [label for label in metrics if label.startswith("Revenue")]  # "Revenue (…)"
    assert metrics[revenue_label] == f"{revenue:,.0f}"


def test_a_set_without_its_customers_file_says_what_is_missing(app: AppTest):
    at = app.run()
    at.switch_page("pages/data.py").run()
    _upload(at, ("olist_orders_dataset.csv", "olist_order_items_dataset.csv"))
    no_exceptions(at)
    assert any("no customers file" in e.value for e in at.error), [e.value for e in at.error]
    assert not [b for b in at.button if b.label.startswith("Load all")]
