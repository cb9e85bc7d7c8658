"""Experiments & Uplift page driven headless with AppTest."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pandas as pd
from streamlit.testing.v1 import AppTest

from analytics.experiments import list_experiments, user_uplift
from analytics.experiments.store import latest_run_id
from pages._shared import _open_workspace
from tests.app.conftest import no_exceptions
from tests.app.test_segmentation_in_use import NEW_EVENTS
from tests.test_experiments import hillstrom_like

PAGE = "pages/experiments.py"


def _open_page(app: AppTest) -> AppTest:
    at = app.run()
    at.switch_page(PAGE).run()
    no_exceptions(at)
    return at


def test_empty_workspace_explains_where_experiments_come_from(app: AppTest):
    at = _open_page(app)
    assert at.title[0].value == "Experiments & Uplift"
    assert any("No experiment assignments" in i.value for i in at.info)


def test_demo_experiment_ab_table_models_and_stored_scores(app: AppTest, _demo_db: Path):
    db = Path(os.environ["SHOPPER_LENS_DB"])
    db.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_demo_db, db)
    at = _open_page(app)
    assert any("treatment vs control" in s.value for s in at.subheader)
    lifts = at.dataframe[1].value
    assert lifts.loc[0, "metric"] == "conversion within 14 days"
    assert lifts.loc[0, "p-value"] != "—"
    assert any(e.label.startswith("Power") for e in at.expander)
    at.button(key="exp:fit").click().run()
    no_exceptions(at)
    assert len(at.get("plotly_chart")) >= 3  # segments, Qini, deciles
    assert any("random targeting" in c.value for c in at.caption)
    assert at.get("download_button"), "the targeting list download should be offered"
    at.slider(key="exp:top").set_value(10).run()
    no_exceptions(at)
    assert any("Top 10%" in m.label for m in at.metric)
    ws = _open_workspace(str(db.resolve()))  # the page's own (cached) workspace
    with ws.cursor() as cur:
        scored = cur.execute("SELECT user_id FROM uplift_scores LIMIT 1").fetchall()
    found = user_uplift(ws, scored[0][0])
    assert found is not None and found.meaning
    name = str(list_experiments(ws)["experiment"][0])
    assert latest_run_id(ws, f"experiment {name}") == found.run_id
    assert not any("out of date" in w.value for w in at.warning)

    # New data makes the stored scores stale: the page says so and how to refresh them.
    at.switch_page("pages/data.py").run()
    at.file_uploader(key="uploader").upload("late.csv", NEW_EVENTS.encode(), "text/csv").run()
    next(b for b in at.button if b.label == "Load late.csv").click().run()
    at.switch_page(PAGE).run()
    no_exceptions(at)
    stale = [w.value for w in at.warning if "These uplift scores are out of date" in w.value]
    assert stale and "Fit uplift models" in stale[0]


def test_results_file_mapping_arms_and_models(app: AppTest):
    at = _open_page(app)
    at.radio(key="exp:mode").set_value("Upload a results file").run()
    data = hillstrom_like(2000, seed=3).to_csv(index=False).encode()
    at.file_uploader(key="exp:upload").upload("hillstrom.csv", data, "text/csv").run()
    no_exceptions(at)
    assert at.selectbox(key="exp:tcol").value == "segment"
    assert at.selectbox(key="exp:ocol").value == "conversion"
    assert any("choose the arm and the control" in i.value for i in at.info)  # three arms
    at.selectbox(key="exp:segment:t").set_value("Womens E-Mail")
    at.selectbox(key="exp:segment:c").set_value("No E-Mail").run()
    no_exceptions(at)
    assert any("Womens E-Mail vs No E-Mail" in s.value for s in at.subheader)
    at.button(key="exp:fit").click().run()
    no_exceptions(at)
    assert any("random targeting" in c.value for c in at.caption)


def test_bad_results_files_give_clear_messages(app: AppTest):
    at = _open_page(app)
    at.radio(key="exp:mode").set_value("Upload a results file").run()
    one_arm = hillstrom_like(300).assign(segment="No E-Mail", arm="b")
    at.file_uploader(key="exp:upload").upload("one.csv", one_arm.to_csv(index=False).encode(),
                                              "text/csv").run()
    no_exceptions(at)
    at.selectbox(key="exp:tcol").set_value("customer_id").run()
    assert any("too many for a treatment column" in e.value for e in at.error)
    tiny = hillstrom_like(60, seed=1)
    at.file_uploader(key="exp:upload").upload("tiny.csv", tiny.to_csv(index=False).encode(),
                                              "text/csv").run()
    at.selectbox(key="exp:tcol").set_value("segment").run()
    at.selectbox(key="exp:segment:t").set_value("Womens E-Mail")
    at.selectbox(key="exp:segment:c").set_value("No E-Mail").run()
    no_exceptions(at)
    lifts = at.dataframe[1].value
    assert (lifts["p-value"] == "—").all()
    assert any("at least 30 per arm" in w.value for w in at.warning)
    assert any("No uplift models" in i.value for i in at.info)
    assert isinstance(lifts, pd.DataFrame)


def test_all_arms_against_the_control_revenue_and_best_arm_policy(app: AppTest):
    from tests.test_experiments_multiarm import three_arm_results

    at = _open_page(app)
    at.radio(key="exp:mode").set_value("Upload a results file").run()
    data = three_arm_results(3000, seed=2).to_csv(index=False).encode()
    at.file_uploader(key="exp:upload").upload("three.csv", data, "text/csv").run()
    at.selectbox(key="exp:tcol").set_value("arm")
    at.selectbox(key="exp:ocol").set_value("bought")
    at.selectbox(key="exp:rcol").set_value("spend").run()
    at.selectbox(key="exp:arm:t").set_value("All arms against the control")
    at.selectbox(key="exp:arm:c").set_value("No E-Mail").run()
    no_exceptions(at)
    assert any("2 arms against No E-Mail" in s.value for s in at.subheader)
    arms = at.dataframe[0].value
    assert set(arms["arm"]) == {"Mens E-Mail", "Womens E-Mail"}
    assert "family-wise 95% CI" in arms.columns
    revenue = at.dataframe[1].value
    assert set(revenue["arm"]) == {"Mens E-Mail", "Womens E-Mail", "No E-Mail"}
    at.button(key="exp:policy").click().run()
    no_exceptions(at)
    assert any("beats sending everyone" in s.value for s in at.success)
    policies = at.dataframe[2].value
    assert policies.loc[0, "policy"] == "Best arm per shopper (model)"
    assert at.get("download_button"), "each shopper's best arm should be downloadable"


def test_demo_segments_as_of_assignment_and_plain_sample_ratio(app: AppTest, _demo_db: Path):
    db = Path(os.environ["SHOPPER_LENS_DB"])
    db.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_demo_db, db)
    at = _open_page(app)
    assert at.number_input(key="exp:share").value == 0.5
    assert not at.sidebar.number_input  # the planned share lives on the page
    ratio = next(c.value for c in at.caption if c.value.startswith("Sample ratio"))
    assert "as planned" not in ratio and "chi-square p = " in ratio
    assert any("as of the first assignment" in c.value for c in at.caption), \
        [c.value for c in at.caption]
