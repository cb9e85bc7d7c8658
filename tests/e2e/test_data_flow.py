"""In a real browser: upload through the dropzone, confirm the mapping, load, see the report."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.e2e.conftest import screenshot, wait_idle

pytestmark = pytest.mark.e2e

ROCKET = ("timestamp,visitorid,event,itemid,transactionid\n"
          "1433221332117,257597,view,355908,\n1433224214164,992329,addtocart,248676,\n"
          "1433224214999,992329,transaction,248676,4000\n1433224215999,992329,view,1,2,3\n")


def test_upload_map_load_and_quality_in_the_browser(page, server, tmp_path: Path):
    export = tmp_path / "retailrocket_events.csv"
    export.write_text(ROCKET)
    page.goto(server.url)
    wait_idle(page)
    page.get_by_role("link", name="Data").first.click()
    wait_idle(page)
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(export))
    page.get_by_text("RetailRocket e-commerce events").first.wait_for()
    wait_idle(page)
    page.get_by_text("Preview of the rows as they will be stored").wait_for()
    screenshot(page, "data-upload")
    page.get_by_role("button", name="Load retailrocket_events.csv").click()
    page.get_by_text("Loaded retailrocket_events.csv").wait_for()
    wait_idle(page)
    metrics = page.locator('[data-testid="stMetric"]').all_inner_texts()
    assert any("Loaded" in m and "3" in m for m in metrics), metrics
    assert any("Rejected" in m and "1" in m for m in metrics), metrics
    sidebar = page.locator('[data-testid="stSidebar"]').inner_text()
    assert "3 events · 2 shoppers · 1 datasets" in sidebar, sidebar  # refreshed after the load
    page.get_by_role("tab", name="Datasets & quality").click()
    wait_idle(page)
    page.get_by_text(re.compile(r"Rejected rows \(\d+ shown\)")).wait_for()
    with page.expect_download() as download:
        page.get_by_role("button", name="Download rejected rows (CSV)").click()
    assert "too many fields" in Path(download.value.path()).read_text()
    screenshot(page, "data-quality")


def test_home_loads_the_demo_shop_in_the_browser(page, server):
    page.goto(server.url)
    wait_idle(page)
    page.get_by_text("The workspace is empty").wait_for()
    page.get_by_role("button", name="Load the demo shop").click()
    page.get_by_text(re.compile(r"Events per (day|week|month) by type")).wait_for(timeout=120_000)
    wait_idle(page)
    shoppers = page.locator('[data-testid="stMetric"]', has_text="Shoppers").inner_text()
    assert int(shoppers.split()[-1].replace(",", "")) > 3000
    screenshot(page, "home")
    # the Identities tab shows how many in-store ids the identity files link (714 of 1,311)
    page.get_by_role("link", name="Data").first.click()
    wait_idle(page)
    page.get_by_role("tab", name="Identities").click()
    linked = page.locator('[data-testid="stMetric"]', has_text="Linked by identity files")
    linked.wait_for()
    assert "54.5%" in linked.inner_text()
    page.get_by_role("button", name="Find links").wait_for()
    screenshot(page, "data-identities")


# analytics action codes and micro-unit prices, mapped by value and warned in the browser
HITS = "visitor,when,action,sku,price\n" + "".join(
    f"v{i % 3},2024-01-0{i % 9 + 1} 10:00:00,{(0, 2, 3, 6)[i % 4]},S{i % 5},"
    f"{(20990000, 1500000)[i % 2]}\n" for i in range(24))


def test_value_map_and_warnings_in_the_browser(page, server, tmp_path: Path):
    export = tmp_path / "hits.csv"
    export.write_text(HITS)
    page.goto(server.url)
    wait_idle(page)
    page.get_by_role("link", name="Data").first.click()
    wait_idle(page)
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(export))
    page.get_by_text("Event types by value").first.wait_for()
    page.get_by_text("Universal Analytics eCommerceAction.action_type codes").first.wait_for()
    page.get_by_text("micro-units", exact=False).first.wait_for()
    wait_idle(page)
    page.get_by_text("Event types by value").first.scroll_into_view_if_needed()
    screenshot(page, "data-value-map")
    page.get_by_role("button", name="Load hits.csv").click()
    page.get_by_text("Loaded hits.csv").wait_for()
    wait_idle(page)
    metrics = page.locator('[data-testid="stMetric"]').all_inner_texts()
    assert any("Loaded" in m and "24" in m for m in metrics), metrics
