"""Recommendations page driven headless with AppTest on the demo shop."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.app.conftest import no_exceptions


def test_recommendations_page_trains_evaluates_previews_and_exports(demo_app: AppTest):
    at = demo_app.run()
    at.switch_page("pages/recommendations.py").run()
    no_exceptions(at)
    assert at.title[0].value == "Recommendations"
    assert any("Not evaluated yet" in i.value for i in at.info)
    at.multiselect[0].set_value(["popularity", "item_knn", "hybrid"])
    at.button[0].click().run()  # the form's "Train and evaluate"
    no_exceptions(at)
    table = at.dataframe[0].value  # labels from the catalogue, not registry names
    assert set(table["Model"]) == {"Popularity", "Item-kNN", "Hybrid"}
    assert table.iloc[0]["NDCG"] > table[table["Model"] == "Popularity"]["NDCG"].iloc[0]
    assert table["Training time"].str.match(r"^\d+ (ms|s|min)$").all(), table["Training time"]
    assert (table["NDCG 95% CI low"] <= table["NDCG"]).all() and table["Chosen"].sum() == 1
    # known shoppers are the headline; the tie verdict and the chosen exclusion are shown
    assert any("known" in c.value for c in at.caption)
    assert any("Lists use" in i.value for i in at.info)
    rules = at.dataframe[1].value
    assert len(rules) == 3 and rules["Chosen"].sum() == 1
    chosen = rules.loc[rules["Chosen"], "Rule"].iloc[0]
    assert any(f"Lists below: **{chosen}**" in c.value for c in at.caption)
    assert set(at.dataframe[2].value["Model"]) == {"Popularity", "Item-kNN", "Hybrid"}  # cold start
    # the shopper preview shows one list per model, each item with its reason (wrapping text)
    items = [m.value for m in at.markdown if m.value.startswith("**") and ":gray[" in m.value]
    reasons = [text.split(":gray[", 1)[1].rstrip("]") for text in items]
    assert len(items) == 30 and min(len(r) for r in reasons) > 5, items[:3]
    # an unknown shopper is a warning, and still gets the cold-start list
    at.text_input[0].set_value("nobody-here").run()
    no_exceptions(at)
    assert any("has no events" in w.value for w in at.warning)
    # similar items and the export
    assert len(at.dataframe[-1].value) > 0
    prepare = [b for b in at.button if b.label == "Prepare CSV"]
    prepare[0].click().run()
    no_exceptions(at)
    assert at.get("download_button"), "the CSV download should be offered"
