"""In a real browser: train and evaluate recommenders on the demo shop, read a shopper's reasons."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import copy_demo, screenshot, start_server, stop_server, wait_idle

pytestmark = pytest.mark.e2e


def test_recommendations_train_evaluate_and_preview_in_the_browser(browser, tmp_path: Path, _demo_db: Path):
    db = copy_demo(_demo_db, tmp_path)
    server = start_server(db)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        page.set_default_timeout(90_000)
        page.goto(server.url)
        wait_idle(page)
        page.get_by_role("link", name="Recommendations").first.click()
        wait_idle(page)
        page.get_by_text("Not evaluated yet").wait_for()
        page.get_by_role("button", name="Train and evaluate").click()
        page.get_by_text("Ranking quality per model").wait_for(timeout=120_000)
        wait_idle(page)
        page.get_by_text("Evaluated 7 models on").wait_for()
        assert page.locator('[data-testid="stDataFrame"]').count() >= 4  # evaluation + 3 lists
        screenshot(page, "recommendations")
        body = page.locator('[data-testid="stMain"]').inner_text()
        assert "Shopper preview" in body and "Hybrid" in body
        page.get_by_role("tab", name="Similar items").click()
        wait_idle(page)
        assert page.locator('[data-testid="stException"]').count() == 0
    finally:
        context.close()
        stop_server(server.process)
