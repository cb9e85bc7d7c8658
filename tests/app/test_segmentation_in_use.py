"""The segmentation in use is explicit (primary-run picker), results are never stale (notice and
one-click rebuild), and one segment can be exported — driven headless with AppTest."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from analytics.workspace import Workspace
from tests.app.conftest import no_exceptions

NEW_EVENTS = ("user_id,event_time,event_type,item_id,price,quantity,order_id\n"
              "brand-new,2026-11-01 10:00:00,purchase,i0001,10,1,bn-1\n")


@contextmanager
def workspace() -> Iterator[Workspace]:
    with Workspace(Path(os.environ["SHOPPER_LENS_DB"])) as ws:
        yield ws


@pytest.fixture
def runs(demo_app: AppTest) -> dict[str, str]:
    """Rules, then K-Means, then a map selection: names -> run ids."""
    from analytics.segments import PRESETS, SegmentSpec, members, run_segmentation, save_selection

    with workspace() as ws:
        rules = run_segmentation(ws, SegmentSpec(method="rules", rules=PRESETS["rfm"], name="RFM rules"))
        kmeans = run_segmentation(ws, SegmentSpec(method="kmeans", k=3, name="Three clusters"))
        picked = members(ws, kmeans.run_id)["user_id"].head(30).tolist()
        selection = save_selection(ws, picked, "Picked on map", kmeans.run_id)
    return {"rules": rules.run_id, "kmeans": kmeans.run_id, "selection": selection.run_id}


def run_picker(at: AppTest):  # type: ignore[no-untyped-def]
    return next(s for s in at.selectbox if s.label == "Run")


def captions(at: AppTest) -> str:
    return " ".join(c.value for c in at.caption)


def test_primary_is_chosen_on_segments_and_used_by_the_other_pages(demo_app: AppTest, runs):
    at = demo_app.run()
    at.switch_page("pages/segments.py").run()
    no_exceptions(at)
    picker = run_picker(at)
    assert picker.value == runs["kmeans"]  # the latest clustering, not the newer map selection
    assert "Primary segmentation: **Three clusters**" in captions(at)
    assert any("Map selection" in o for o in picker.options)
    picker.set_value(runs["rules"]).run()
    next(b for b in at.button if b.label == "Make primary").click().run()
    no_exceptions(at)
    assert "Primary segmentation: **RFM rules**" in captions(at)
    assert run_picker(at).value == runs["rules"]

    at.switch_page("pages/journeys.py").run()
    at.selectbox(key="journeys:by").set_value("segment").run()
    no_exceptions(at)
    assert at.selectbox(key="journeys:funnel_run").value == runs["rules"]
    assert "Segments from the segmentation run 'RFM rules'" in captions(at)
    at.selectbox(key="journeys:funnel_run").set_value(runs["kmeans"]).run()
    no_exceptions(at)
    assert "Segments from the segmentation run 'Three clusters'" in captions(at)
    assert at.selectbox(key="journeys:paths_run").value == runs["rules"]

    at.switch_page("pages/shopper_360.py").run()
    no_exceptions(at)
    assert at.selectbox(key="s360:segment_run").value == runs["rules"]
    assert any("From RFM rules" in c for c in captions(at).split("  "))


def test_loading_on_the_data_page_flags_stale_results_and_rebuilds_in_one_click(demo_app: AppTest,
                                                                              runs):
    at = demo_app.run()
    at.switch_page("pages/profiles.py").run()
    assert not any("out of date" in w.value for w in at.warning)
    before = int(at.metric[0].value.replace(",", ""))

    at.switch_page("pages/data.py").run()
    at.file_uploader(key="uploader").upload("late.csv", NEW_EVENTS.encode(), "text/csv").run()
    next(b for b in at.button if b.label == "Load late.csv").click().run()
    at.run()
    no_exceptions(at)
    warning = next(w.value for w in at.warning if "out of date" in w.value)
    assert warning.startswith("The shopper profiles are out of date")
    assert "the data has changed since" in warning
    assert "re-applies the primary segmentation **Three clusters**" in captions(at)

    at.switch_page("pages/segments.py").run()  # the segmentation says so too
    assert any("This segmentation is out of date" in w.value for w in at.warning)

    at.switch_page("pages/data.py").run()
    next(b for b in at.button if b.label == "Rebuild profiles now").click().run()
    no_exceptions(at)
    assert any("Rebuilt" in s.value and "Re-applied Three clusters" in s.value for s in at.success)
    assert not any("out of date" in w.value for w in at.warning)

    at.switch_page("pages/profiles.py").run()
    assert not any("out of date" in w.value for w in at.warning)
    assert int(at.metric[0].value.replace(",", "")) == before + 1
    at.switch_page("pages/segments.py").run()
    assert not any("out of date" in w.value for w in at.warning)


def test_export_tab_exports_a_single_segment(demo_app: AppTest, runs):
    from analytics.segments import members

    with workspace() as ws:
        sizes = members(ws, runs["kmeans"])["segment_id"].value_counts().to_dict()
    at = demo_app.run()
    at.switch_page("pages/segments.py").run()
    at.session_state["segment_tab"] = "Export"
    at.run()
    chooser = at.multiselect(key=f"export_segments_{runs['kmeans']}")
    assert sorted(chooser.value) == sorted(sizes)
    one = sorted(sizes)[0]
    chooser.set_value([one]).run()
    no_exceptions(at)
    assert f"{sizes[one]:,} shoppers in 1 of {len(sizes)} segment(s)." in captions(at)
    table = at.dataframe[0].value
    assert len(table) == min(sizes[one], 200) and set(table["segment_id"]) == {one}
    assert "probability" not in table.columns  # K-Means: no empty probability column
