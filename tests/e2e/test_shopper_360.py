"""In a real browser: find a demo shopper on Shopper 360 and read why each item is recommended."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import screenshot, wait_idle

pytestmark = pytest.mark.e2e

REASONS = ("because you", "bought together", "popular", "similar")


def test_pick_a_shopper_and_see_recommendations_with_reasons(demo_page):  # type: ignore[no-untyped-def]
    page = demo_page
    page.get_by_role("link", name="Shopper 360").first.click()
    wait_idle(page)
    search = page.get_by_role("textbox", name="Search by id")
    search.fill("u00002")
    search.press("Enter")
    wait_idle(page)
    page.locator('[data-testid="stSelectbox"]').first.click()
    page.get_by_role("option", name="u000022", exact=True).click()
    wait_idle(page)
    page.get_by_role("heading", name="u000022").wait_for()
    assert "user=u000022" in page.url
    page.get_by_text("Champions").first.wait_for()
    page.locator('[data-testid="stTable"]').nth(2).wait_for()  # three models side by side
    wait_idle(page)
    body = page.locator('[data-testid="stMain"]').inner_text()
    assert any(reason in body for reason in REASONS), body[-2000:]
    assert "bought together with" in body and "Item-kNN" in body
    page.get_by_role("heading", name="Recommendations").scroll_into_view_if_needed()
    screenshot(page, "shopper-360")
    _fit_lifetime_value_and_read_it_back(page)


def _fit_lifetime_value_and_read_it_back(page) -> None:  # type: ignore[no-untyped-def]
    """Same server: fit on Predictions, see the validation plot, then the shopper's CLV."""
    page.get_by_role("link", name="Predictions").first.click()
    wait_idle(page)
    page.get_by_text("No lifetime-value fit yet").wait_for()
    page.get_by_role("button", name="Fit lifetime value").click()
    page.get_by_text("Predicted vs actual holdout orders").wait_for(timeout=120_000)
    wait_idle(page)
    page.locator('[data-testid="stPlotlyChart"]').nth(2).wait_for()  # validation, P(alive), CLV
    body = page.locator('[data-testid="stMain"]').inner_text()
    assert "naive baseline" in body and "stop buying for good" in body
    page.get_by_role("heading", name="How well it predicted the holdout").scroll_into_view_if_needed()
    screenshot(page, "predictions")
    page.goto(page.url.rsplit("/", 1)[0] + "/shopper_360?user=u000022")
    wait_idle(page)
    page.get_by_text("chance this shopper is still buying").wait_for()
