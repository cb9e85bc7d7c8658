"""In a real browser: the Journeys page on the demo shop shows the funnel and the Sankey; then
(same server) Predictions → Retention cohorts: the heatmap, a clicked cell, the CSV."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from tests.e2e.conftest import screenshot, wait_idle

pytestmark = pytest.mark.e2e


def test_journeys_shows_the_funnel_and_the_sankey(demo_page):  # type: ignore[no-untyped-def]
    page = demo_page
    page.get_by_role("link", name="Journeys").first.click()
    wait_idle(page)
    page.get_by_text("Funnel per session").first.wait_for()
    page.locator(".js-plotly-plot .funnellayer .point").first.wait_for()  # the funnel's bars
    assert page.locator(".js-plotly-plot .funnellayer .point").count() == 4
    screenshot(page, "journeys")
    page.get_by_role("tab", name="Flow").click()
    wait_idle(page)
    page.get_by_text("Step-to-step flow of visits").first.wait_for()
    page.locator(".js-plotly-plot .sankey-node").first.wait_for()
    nodes = page.locator(".js-plotly-plot .sankey-node").all_text_contents()
    assert any("1. view" in n for n in nodes), nodes
    screenshot(page, "journeys-flow")
    _cohort_tab(page)


def _cohort_tab(page) -> None:  # type: ignore[no-untyped-def]
    """Click a heatmap cell (period 1 of the first cohort) and download the cohort table."""
    page.get_by_role("link", name="Predictions").first.click()
    wait_idle(page)
    page.get_by_role("tab", name="Retention cohorts").click()
    wait_idle(page)
    page.locator(".js-plotly-plot .hm").first.wait_for()  # the heatmap's image
    page.get_by_text(re.compile(r"shoppers of the \S+ cohort .* active 0 month")).first.wait_for()
    targets = page.locator(".js-plotly-plot .scatterlayer .point")
    box = targets.nth(1).bounding_box()  # first cohort, one month later
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    wait_idle(page)
    page.get_by_text(re.compile(r"shoppers of the \S+ cohort .* active 1 month")).first.wait_for()
    screenshot(page, "retention-cohorts")
    with page.expect_download() as download:
        page.get_by_role("button", name=re.compile("Download the cohort table")).click()
    frame = pd.read_csv(download.value.path())
    assert list(frame.columns[:6]) == ["cohort", "period", "segment", "shoppers", "cohort_size", "share"]
    assert (frame.loc[frame["period"] == 0, "share"] == 1.0).all()
