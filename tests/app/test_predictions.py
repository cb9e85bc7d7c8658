"""Predictions page, driven headless with AppTest on the demo shop: fit lifetime value and read
the validation; the Retention cohorts tab's heatmap, segment split, cell list and save."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from streamlit.testing.v1 import AppTest

from pages._shared import _open_workspace
from tests.app.conftest import no_exceptions
from tests.app.test_plain_words import INTERNAL, shown_texts


def test_fit_shows_parameters_validation_segments_and_export(demo_app: AppTest):
    at = demo_app.run()
    at.switch_page("pages/predictions.py").run()
    no_exceptions(at)
    assert at.title[0].value == "Predictions"
    assert any("No lifetime-value fit yet" in i.value for i in at.info)
    next(b for b in at.button if b.label == "Fit lifetime value").click().run()
    no_exceptions(at)
    markdown = " ".join(m.value for m in at.markdown)
    assert "orders about every" in markdown and "stop buying for good" in markdown
    verdicts = [*at.success, *at.warning]
    assert any("naive baseline" in v.value for v in verdicts)
    assert at.table and "Naive baseline" in at.table[0].value.columns
    charts = at.tabs[0].get("plotly_chart")  # validation, reliability, P(alive) and CLV by segment
    assert [c.key for c in charts] == ["ltv_validation", "ltv_reliability", "ltv_alive", "ltv_clv"]
    assert any("Brier" in str(i) for i in at.table[0].value.index)
    assert at.get("download_button")
    assert not [n for t in shown_texts(at) for n in INTERNAL.findall(t)]  # labels, not column names
    at.run()  # a plain rerun shows the stored fit without fitting again, and it is current
    no_exceptions(at)
    assert not any("out of date" in w.value for w in at.warning)
    assert any("naive baseline" in v.value for v in [*at.success, *at.warning])


def test_cohort_tab_heatmap_segment_cell_list_and_save(demo_app: AppTest):
    from analytics.cohorts import OVERALL, cohort_table
    from analytics.segments import SegmentSpec, list_runs, run_segmentation
    from analytics.workspace import Workspace

    db = Path(os.environ["SHOPPER_LENS_DB"])
    with Workspace(db) as ws:
        run = run_segmentation(ws, SegmentSpec(method="kmeans", k=3))
        table = cohort_table(ws, segment_run=run.run_id)
    at = demo_app.run()
    at.switch_page("pages/predictions.py").run()
    no_exceptions(at)
    assert [t.label for t in at.tabs] == ["Lifetime value", "Retention cohorts"]
    [chart] = at.tabs[1].get("plotly_chart")
    spec = json.loads(chart.proto.spec)
    assert [t["type"] for t in spec["data"]] == ["heatmap", "scatter"]  # cells + click targets
    assert any(d.label.startswith("Download the cohort table") for d in at.get("download_button"))

    segment = next(s for s in at.tabs[1].selectbox if s.label == "Segment")
    assert segment.options[0] == OVERALL and len(segment.options) >= 4  # everyone + 3 segments
    name = segment.options[1]
    segment.set_value(name).run()
    no_exceptions(at)
    cells = table.of(name)
    first = cells.iloc[0]
    at.selectbox(key="cohort_pick").set_value(first["cohort"]).run()
    at.selectbox(key="cohort_period_pick").set_value(1).run()
    no_exceptions(at)
    expected = int(cells[(cells["cohort"] == first["cohort"]) & (cells["period"] == 1)]["shoppers"].iloc[0])
    assert any(f"{expected:,} shoppers of the {first['cohort']:%Y-%m} cohort" in c.value for c in at.caption)
    assert len(at.tabs[1].dataframe[0].value) == expected
    at.button(key="cohort_save").click().run()
    no_exceptions(at)
    assert any("Saved" in s.value for s in at.success)
    runs = list_runs(_open_workspace(str(db.resolve())))  # the page's own (cached) workspace
    saved = runs[runs["method"] == "selection"]
    assert len(saved) == 1 and saved["name"].iloc[0].startswith(f"Cohort {first['cohort']:%Y-%m}")

    at.radio(key="cohort_by").set_value("week").run()
    at.radio(key="cohort_show").set_value("counts").run()
    no_exceptions(at)
    assert any(re.search(r"active \d+ weeks? later", c.value) for c in at.caption)
