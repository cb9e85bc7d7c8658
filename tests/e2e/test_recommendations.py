"""In a real browser: train and evaluate recommenders on the demo shop, read a shopper's reasons."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import screenshot, wait_idle

pytestmark = pytest.mark.e2e


def test_recommendations_train_evaluate_and_preview_in_the_browser(demo_page):  # type: ignore[no-untyped-def]
    page = demo_page
    page.get_by_role("link", name="Recommendations").first.click()
    wait_idle(page)
    page.get_by_text("Not evaluated yet").wait_for()
    page.get_by_role("button", name="Train and evaluate").click()
    page.get_by_text("Ranking quality per model").wait_for(timeout=120_000)
    wait_idle(page)
    page.get_by_text("Evaluated 8 models on").wait_for()
    assert page.locator('[data-testid="stDataFrame"]').count() >= 1  # the evaluation
    screenshot(page, "recommendations")
    body = page.locator('[data-testid="stMain"]').inner_text()
    assert "Shopper preview" in body and "Hybrid" in body
    assert any(r in body for r in ("because you", "bought together", "popular"))  # reasons shown whole
    page.get_by_role("tab", name="Similar items").click()
    wait_idle(page)
    assert page.locator('[data-testid="stException"]').count() == 0
