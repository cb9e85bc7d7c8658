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
