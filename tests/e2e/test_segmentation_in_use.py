"""In a real browser: choose the primary segmentation and see other pages use it; load a file and
rebuild the stale results in one click; export a single segment."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pandas as pd
import pytest
from playwright.sync_api import Error as PlaywrightError

from analytics.segments import PRESETS, SegmentSpec, members, run_segmentation, save_selection
from analytics.workspace import Workspace
from tests.e2e.conftest import choose, copy_demo, screenshot, start_server, stop_server, wait_idle

pytestmark = pytest.mark.e2e

LATE = ("user_id,event_time,event_type,item_id,price,quantity,order_id\n"
        "brand-new,2026-11-01 10:00:00,purchase,i0001,10,1,bn-1\n")


@pytest.fixture
def segmented(browser, tmp_path: Path, _demo_db: Path):  # type: ignore[no-untyped-def]
    """A page on a server whose workspace holds rules, K-Means and a map selection (in that order)."""
    db = copy_demo(_demo_db, tmp_path)
    with Workspace(db) as ws:  # closed before the server opens the file
        run_segmentation(ws, SegmentSpec(method="rules", rules=PRESETS["rfm"], name="RFM rules"))
        kmeans = run_segmentation(ws, SegmentSpec(method="kmeans", k=4, name="Four clusters"))
        sizes = members(ws, kmeans.run_id)["segment_name"].value_counts().to_dict()
        save_selection(ws, members(ws, kmeans.run_id)["user_id"].head(25).tolist(), "Picked on map")
    server = start_server(db)
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(120_000)
    page.goto(server.url)
    wait_idle(page)
    yield page, sizes
    context.close()
    stop_server(server.process)


def open_page(page, name: str) -> None:  # type: ignore[no-untyped-def]
    page.get_by_role("link", name=name).first.click()
    wait_idle(page)


def test_the_primary_segmentation_is_chosen_once_and_used_elsewhere(segmented):
    page, _ = segmented
    open_page(page, "Segments")
    page.get_by_text("Primary segmentation: Four clusters").wait_for()
    choose(page, "Run", re.compile(r"^RFM rules · Rules"))
    page.get_by_role("button", name="Make primary").click()
    wait_idle(page)
    page.get_by_text("Primary segmentation: RFM rules").wait_for()
    page.locator('[data-testid="stSelectbox"]', has_text="Run").first.click()
    options = page.get_by_role("option").all_inner_texts()
    page.keyboard.press("Escape")
    assert any("Map selection" in o for o in options), options
    assert options[0].startswith("RFM rules") and options[0].endswith("primary"), options
    screenshot(page, "segments-primary")

    open_page(page, "Journeys")
    choose(page, "Break down by", re.compile("^segment$"))
    # The funnel breakdown and the pathways per segment both follow the primary...
    page.get_by_text("Segments from the segmentation run 'RFM rules'.").wait_for()
    page.get_by_text(re.compile("^Segments from the segmentation run 'RFM rules'; ")).wait_for(
        state="attached")  # on the Paths tab, not shown until opened
    # ...until this page picks another run for its funnel.
    choose(page, "Segmentation used", re.compile(r"^Four clusters"))
    page.get_by_text("Segments from the segmentation run 'Four clusters'.").wait_for()
    wait_idle(page)
    for _ in range(3):  # a rerun still finishing can replace the chart under the locator
        try:
            page.locator('[data-testid="stPlotlyChart"]').nth(1).scroll_into_view_if_needed()
            break
        except PlaywrightError:
            wait_idle(page)
    screenshot(page, "journeys-segmentation")


def test_a_load_on_the_data_page_flags_stale_results_and_one_click_rebuilds(segmented,
                                                                            tmp_path: Path):
    page, _ = segmented
    late = tmp_path / "late.csv"
    late.write_text(LATE)
    open_page(page, "Data")
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(str(late))
    wait_idle(page)
    page.get_by_role("button", name="Load late.csv").click()
    wait_idle(page)
    page.get_by_text("The shopper profiles are out of date").wait_for()
    page.get_by_text("re-applies the primary segmentation").first.wait_for()
    page.get_by_role("button", name="Rebuild profiles now").scroll_into_view_if_needed()
    page.mouse.wheel(0, 250)
    page.wait_for_timeout(300)
    screenshot(page, "data-stale")

    open_page(page, "Segments")
    page.get_by_text("This segmentation is out of date").wait_for()
    page.get_by_role("button", name="Rebuild now").click()
    wait_idle(page)
    page.get_by_text("out of date").first.wait_for(state="detached")
    page.get_by_test_id("stAlert").get_by_text(
        re.compile("Rebuilt [\\d,]+ shopper profiles")).wait_for()
    wait_idle(page)
    assert page.get_by_text("out of date").count() == 0
    open_page(page, "Profiles")
    assert page.get_by_text("out of date").count() == 0


def test_export_a_single_segment(segmented):
    page, sizes = segmented
    open_page(page, "Segments")
    page.get_by_role("tab", name="Export").click()
    wait_idle(page)
    chooser = page.locator('[data-testid="stMultiSelect"]', has_text="Segments to export").first
    chooser.get_by_role("button", name="Clear all").click()
    wait_idle(page)
    name = sorted(sizes)[0]
    chooser.click()
    page.get_by_role("option", name=re.compile("^" + re.escape(name) + r" \(")).first.click()
    page.keyboard.press("Escape")
    wait_idle(page)
    page.get_by_text(f"{sizes[name]:,} shoppers in 1 of {len(sizes)} segment(s).").wait_for()
    screenshot(page, "segments-export")
    with page.expect_download() as download:
        page.get_by_role("button", name="CSV", exact=True).click()
    frame = pd.read_csv(io.BytesIO(Path(download.value.path()).read_bytes()), dtype={"user_id": str})
    assert len(frame) == sizes[name] and set(frame["segment_name"]) == {name}
    assert "probability" not in frame.columns  # K-Means: no column of empty values
