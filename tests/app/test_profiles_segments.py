"""Profiles and Segments pages driven headless with AppTest on the demo shop."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from streamlit.testing.v1 import AppTest

from tests.app.conftest import no_exceptions


def test_profiles_page_shows_distributions_and_looks_up_a_shopper(demo_app: AppTest):
    at = demo_app.run()
    at.switch_page("pages/profiles.py").run()
    no_exceptions(at)
    metrics = {m.label: m.value for m in at.metric}
    assert int(metrics["Shoppers"].replace(",", "")) > 3000
    assert [t.label for t in at.tabs] == ["Distributions", "Correlations", "Shopper lookup", "Table"]
    at.text_input[0].input("u000001").run()
    no_exceptions(at)
    assert any("RFM" in m.value for m in at.markdown)
    at.text_input[0].input("nobody-here").run()
    assert any("No shopper" in w.value for w in at.warning)


def test_pages_say_when_spark_kept_the_full_result_as_parquet(demo_app: AppTest):
    """Profiles and a run that are samples of a Spark --out-dir result say so, and the
    Profiles page counts the full total (the record is what `--out-dir` writes)."""
    from analytics.engines import outputs
    from analytics.segments import PRESETS, SegmentSpec, run_segmentation
    from analytics.workspace import Workspace

    with Workspace(Path(os.environ["SHOPPER_LENS_DB"])) as ws:
        with ws.cursor() as cur:
            count, as_of = cur.execute("SELECT count(*), max(as_of) FROM profiles").fetchall()[0]
        run = run_segmentation(ws, SegmentSpec(method="rules", rules=dict(PRESETS["rfm"])))
        with ws.transaction() as cur:
            outputs.record(cur, outputs.SparkOutput(
                "profiles", "", "s3a://lake/profiles", 2_000_000, 2_000_000, "user_bucket",
                count, as_of, datetime(2026, 12, 1, 9, 30)))
            outputs.record(cur, outputs.SparkOutput(
                "segments", run.run_id, "s3a://lake/segments", 2_000_000, 2_000_000, "segment_id",
                count, as_of, datetime(2026, 12, 1, 9, 45)))
    at = demo_app.run()
    at.switch_page("pages/profiles.py").run()
    no_exceptions(at)
    assert {m.label: m.value for m in at.metric}["Shoppers"] == "2,000,000"
    notice = next(i.value for i in at.info if "s3a" in i.value)
    assert "full shopper profiles" in notice and "2,000,000 rows" in notice
    assert f"sample of {count:,}" in notice
    at.switch_page("pages/segments.py").run()
    no_exceptions(at)
    assert any("full segment membership" in i.value and "segment\\_id" in i.value
               for i in at.info), [i.value for i in at.info]


def test_profiles_page_builds_profiles_when_missing(demo_app: AppTest):
    from analytics.workspace import Workspace

    with Workspace(Path(os.environ["SHOPPER_LENS_DB"])) as ws, ws.cursor() as cur:
        cur.execute("DROP TABLE profiles")
    at = demo_app.run()
    at.switch_page("pages/profiles.py").run()
    assert any("not been built" in i.value for i in at.info)
    next(b for b in at.button if b.label == "Build profiles").click().run()
    at.run()
    no_exceptions(at)
    assert int(at.metric[0].value.replace(",", "")) > 3000


def test_segments_page_runs_kmeans_then_rules(demo_app: AppTest):
    at = demo_app.run()
    at.switch_page("pages/segments.py").run()
    no_exceptions(at)
    assert any("No segmentation yet" in i.value for i in at.info)
    next(b for b in at.button if b.label == "Run segmentation").click().run()
    at.run()
    no_exceptions(at)
    metrics = {m.label: m.value for m in at.metric}
    assert 5 <= int(metrics["Segments"]) <= 7
    names = set(at.data_editor[0].value["name"])
    assert {"Mobile cart abandoners", "Bargain hunters"} <= names

    at.segmented_control(key="seg_method").set_value("rules").run()
    next(b for b in at.button if b.label == "Run rules").click().run()
    at.run()
    no_exceptions(at)
    assert "High purchase intent & engaged" in set(at.data_editor[0].value["name"])
    assert len([s for s in at.selectbox if s.label == "Run"]) == 1


def test_segments_page_explains_invalid_rules(demo_app: AppTest):
    at = demo_app.run()
    at.switch_page("pages/segments.py").run()
    at.segmented_control(key="seg_method").set_value("rules").run()
    at.text_area[0].input('{"segments": [{"name": "x", "when": {"feature": "nope"}}]}').run()
    next(b for b in at.button if b.label == "Run rules").click().run()
    no_exceptions(at)
    assert any('unknown feature "nope"' in e.value for e in at.error)


def test_segments_page_asks_for_profiles_first(app: AppTest):
    at = app.run()
    at.switch_page("pages/segments.py").run()
    no_exceptions(at)
    assert any("have not been built" in i.value for i in at.info)


def open_tab(at: AppTest, name: str) -> AppTest:
    """Lazy tabs run only when open; AppTest opens one through the tabs' key."""
    at.session_state["segment_tab"] = name
    return at.run()


def test_map_stability_and_export_tabs_render(demo_app: AppTest):
    at = demo_app.run()
    at.switch_page("pages/segments.py").run()
    next(b for b in at.button if b.label == "Run segmentation").click().run()
    at.run()
    at.session_state["map_projection"] = "pca"
    open_tab(at, "Map")
    no_exceptions(at)
    assert any("All 3,597 shoppers" in c.value or "shoppers, fitted together" in c.value for c in at.caption)
    assert any("Draw a lasso" in i.value for i in at.info)
    open_tab(at, "Stability")
    next(b for b in at.button if b.label == "Check stability").click().run()
    no_exceptions(at)
    assert any("Stable" in s.value for s in at.success)
    open_tab(at, "Export")
    no_exceptions(at)
    assert {d.label for d in at.get("download_button")} >= {"CSV", "Parquet", "Definition (JSON)"}


def test_changes_tab_refreshes_with_an_uploaded_file(demo_app: AppTest, tmp_path: Path):
    from analytics.bundle import DEMO_DIR
    from analytics.followup import FILES, generate_followup

    followup = generate_followup(DEMO_DIR, tmp_path / "followup").out_dir
    at = demo_app.run()
    at.switch_page("pages/segments.py").run()
    next(b for b in at.button if b.label == "Run segmentation").click().run()
    at.run()
    open_tab(at, "Changes")
    assert any("No refresh yet" in i.value for i in at.info)
    data = (followup / FILES["events"]).read_bytes()
    # the Data page's upload flow: check the mapping, load, then the one-click rebuild
    at.file_uploader(key="changes:uploader").upload("period2.csv.gz", data, "application/gzip").run()
    next(b for b in at.button if b.label == "Load period2.csv.gz").click().run()
    at.run()
    no_exceptions(at)
    assert any("re-applies **" in c.value for c in at.caption)
    next(b for b in at.button if b.label == "Rebuild profiles now").click().run()
    no_exceptions(at)
    assert any("Re-applied" in s.value for s in at.success)
    at.run()
    assert any("changed segment between these two moments" in c.value for c in at.caption)
    assert len(at.get("plotly_chart")) >= 2  # sizes over time and the migration Sankey
