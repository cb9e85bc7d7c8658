"""In a real browser: cluster the demo shop, lasso shoppers on the map, save and download them."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pandas as pd
import pytest

from analytics.bundle import DEMO_DIR
from analytics.segments import list_runs, members
from analytics.workspace import Workspace
from tests.e2e.conftest import copy_demo, screenshot, start_server, stop_server, wait_idle

pytestmark = pytest.mark.e2e


def lasso(page, box: dict[str, float], fraction: float = 0.25) -> None:  # type: ignore[no-untyped-def]
    """Drag a closed lasso around the middle ``fraction`` of the plot area."""
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    dx, dy = box["width"] * fraction, box["height"] * fraction
    corners = [(cx - dx, cy - dy), (cx + dx, cy - dy), (cx + dx, cy + dy), (cx - dx, cy + dy),
               (cx - dx, cy - dy)]
    page.mouse.move(*corners[0])
    page.mouse.down()
    for x, y in corners[1:]:
        page.mouse.move(x, y, steps=12)
    page.mouse.up()


# UMAP's first compile in a fresh virtualenv (pynndescent's and umap-learn's kernels) took
# 130 s of this test in a loaded fresh-clone CI run; 26 s in all with numba's cache filled.
@pytest.mark.timeout(900)
def test_cluster_lasso_save_and_download_the_selection(browser, demo_server):
    context = browser.new_context(viewport={"width": 1400, "height": 1100}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(300_000)
    page.goto(demo_server.url)
    wait_idle(page)
    page.get_by_role("link", name="Segments").first.click()
    wait_idle(page)
    page.get_by_role("button", name="Run segmentation").click()
    wait_idle(page)
    page.get_by_text("has the highest silhouette").first.wait_for()  # why k was chosen
    page.get_by_text("Why k = 6").first.wait_for()  # the sweep chart's title
    # The segment table is a canvas grid; the names are readable text in the heatmap's axis.
    page.locator(".js-plotly-plot").get_by_text("Mobile cart abandoners").first.wait_for()
    screenshot(page, "segments")

    page.get_by_role("tab", name="Map").click()
    wait_idle(page, timeout=300_000)
    chart = page.locator('[data-testid="stPlotlyChart"]').first
    chart.wait_for()
    # A PCA map shows at once while UMAP computes in the background; the lasso is drawn on the
    # UMAP map once it replaced the PCA one, as a user would (this server has no warm-up: a
    # fresh virtualenv compiles UMAP's kernels here, later ones load them from numba's cache).
    page.get_by_text("shown while the UMAP map is computed").first.wait_for(state="hidden",
                                                                           timeout=700_000)
    wait_idle(page)
    chart.wait_for()
    page.get_by_text("Draw a lasso").first.wait_for()
    assert "shown while the UMAP map is computed" not in page.inner_text("body")
    lasso(page, page.locator('[data-testid="stPlotlyChart"] .nsewdrag').first.bounding_box())
    wait_idle(page)
    selected = page.get_by_text(re.compile(r"[\d,]+ shoppers selected")).first
    selected.wait_for()
    count = int(re.search(r"([\d,]+) shoppers selected", selected.inner_text()).group(1).replace(",", ""))
    assert count > 10
    screenshot(page, "segments-map")

    page.get_by_label("Name for this selection").fill("Lasso picks")
    page.get_by_role("button", name="Save selection as a segment").click()
    wait_idle(page)
    with page.expect_download() as download:
        page.get_by_role("button", name=re.compile("Download saved selection")).click()
    frame = pd.read_csv(io.BytesIO(Path(download.value.path()).read_bytes()), dtype={"user_id": str})
    context.close()

    assert len(frame) == count == frame["user_id"].nunique()
    assert set(frame["segment_name"]) == {"Lasso picks"}
    stop_server(demo_server.process)
    with Workspace(demo_server.db) as ws:
        runs = list_runs(ws)
        saved = runs[runs["method"] == "selection"]["run_id"].tolist()
        assert len(saved) == 1
        assert set(members(ws, saved[0])["user_id"]) == set(frame["user_id"])


def test_refresh_with_a_new_file_shows_the_migration_sankey(browser, tmp_path, _demo_db):
    from analytics.followup import FILES, generate_followup
    from analytics.segments import SegmentSpec, run_segmentation

    db = copy_demo(_demo_db, tmp_path)
    with Workspace(db) as ws:  # closed before the server opens the file
        run_segmentation(ws, SegmentSpec(k=6))
    followup = generate_followup(DEMO_DIR, tmp_path / "followup").out_dir
    server = start_server(db)
    context = browser.new_context(viewport={"width": 1400, "height": 1100})
    try:
        page = context.new_page()
        page.set_default_timeout(120_000)
        page.goto(server.url)
        wait_idle(page)
        page.get_by_role("link", name="Segments").first.click()
        wait_idle(page)
        page.get_by_role("tab", name="Changes").click()
        wait_idle(page)
        page.get_by_text("No refresh yet").first.wait_for()
        page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(
            str(followup / FILES["events"]))
        wait_idle(page)
        # the Data page's upload flow: load, then the one-click rebuild that re-applies the run
        page.get_by_role("button", name=f"Load {FILES['events']}").click()
        wait_idle(page)
        page.get_by_role("button", name="Rebuild profiles now").click()
        wait_idle(page)
        page.get_by_text("changed segment between these two moments").first.wait_for()
        page.locator(".js-plotly-plot .sankey-node").first.wait_for()
        nodes = page.locator(".js-plotly-plot .sankey-node").all_text_contents()
        assert any("(before)" in n for n in nodes) and any("(after)" in n for n in nodes), nodes
        page.get_by_text("Who moved where").first.scroll_into_view_if_needed()
        screenshot(page, "segments-changes")
    finally:
        context.close()
        stop_server(server.process)
