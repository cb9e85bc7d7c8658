"""In a real browser: the Journeys page on the demo shop shows the funnel and the Sankey."""

from __future__ import annotations

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
