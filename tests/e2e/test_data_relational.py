"""In a real browser: drop four related files at once, see the detected join, load, see shoppers."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import screenshot, wait_idle
from tests.relational_data import OLIST_EXPECTED, OLIST_FOUR, write_olist

pytestmark = pytest.mark.e2e


def test_four_related_files_join_and_load_keyed_by_the_person(page, server, tmp_path: Path):
    paths = write_olist(tmp_path / "export", OLIST_FOUR)
    page.goto(server.url)
    wait_idle(page)
    page.get_by_role("link", name="Data").first.click()
    wait_idle(page)
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(
        [str(p) for p in paths])
    page.get_by_text("Olist-style marketplace export").first.wait_for()
    page.get_by_text("Detected join").wait_for()
    wait_idle(page)
    page.locator('[data-testid="stDataFrame"]').nth(1).wait_for()  # the files and the join
    wait_idle(page)
    screenshot(page, "data-relational")
    page.get_by_role("button", name="Load all 4 files").click()
    page.get_by_text("Loaded the Olist-style marketplace export").wait_for()
    wait_idle(page)
    sidebar = page.locator('[data-testid="stSidebar"]').inner_text()
    assert "4 events · 2 shoppers" in sidebar, sidebar  # P1 and P2, not c1, c2, c3
    page.get_by_role("link", name="Home").first.click()
    wait_idle(page)
    revenue = page.locator('[data-testid="stMetric"]', has_text="Revenue").inner_text()
    assert revenue.split()[-1] == f"{sum(OLIST_EXPECTED['revenue'].values()):,.0f}"  # 275
    page.get_by_role("link", name="Shopper 360").first.click()
    wait_idle(page)
    search = page.get_by_role("textbox", name="Search by id")
    search.fill("P1")
    search.press("Enter")
    wait_idle(page)
    page.get_by_role("heading", name="P1").wait_for()
    caption = page.get_by_text("also known as").first.inner_text()
    assert all(alias in caption for alias in ("c1", "c2", "o1", "o2")), caption  # chained ids
    screenshot(page, "shopper-360-olist")
