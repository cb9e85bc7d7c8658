"""In a real browser: with a password in secrets.toml no page shows data before login."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from analytics.auth import hash_password
from analytics.ingest import ingest_file
from analytics.workspace import Workspace
from tests.e2e.conftest import ROOT, start_server, stop_server, wait_idle

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery staple"
SECRET_ID = "zz-secret-shopper-42"
EVENTS = ("user_id,event_time,event_type,item_id,price\n"
          f"{SECRET_ID},2024-05-01 10:00:00,view,i1,10\n"
          f"{SECRET_ID},2024-05-01 10:05:00,purchase,i1,10\n"
          "u2,2024-05-02 11:00:00,view,i2,5\n")


@pytest.fixture
def locked_server(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A server whose working folder holds .streamlit/secrets.toml with a password hash."""
    source = tmp_path / "events.csv"
    source.write_text(EVENTS)
    db = tmp_path / "ws" / "shopper_lens.duckdb"
    with Workspace(db, allow=[tmp_path]) as ws:
        ingest_file(ws, source)
    site = tmp_path / "site" / ".streamlit"
    site.mkdir(parents=True)
    shutil.copyfile(ROOT / ".streamlit" / "config.toml", site / "config.toml")
    line = hash_password(PASSWORD, iterations=100_000)
    (site / "secrets.toml").write_text(f'[auth]\npassword_hash = "{line}"\n')
    srv = start_server(db, cwd=site.parent)
    yield srv
    stop_server(srv.process)


def _locked(page) -> None:  # type: ignore[no-untyped-def]
    wait_idle(page)
    page.get_by_label("Password", exact=True).wait_for()
    text = page.locator('[data-testid="stApp"]').inner_text()
    assert SECRET_ID not in text and "events ·" not in text and "Workspace" not in text, text
    assert page.locator('[data-testid="stFileUploader"], [data-testid="stMetric"], '
                        '[data-testid="stDataFrame"], [data-testid="stTab"]').count() == 0


def _log_in(page, password: str) -> None:  # type: ignore[no-untyped-def]
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Log in").click()
    wait_idle(page)


def test_no_page_shows_data_before_login(browser, locked_server):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60_000)
    for path in ("/data", "/profiles", "/shopper_360", "/"):  # typed URLs go through the gate too
        page.goto(locked_server.url + path)
        _locked(page)

    _log_in(page, "not the password")
    page.get_by_text("Wrong password.").wait_for()
    _locked(page)

    _log_in(page, PASSWORD)
    page.get_by_text(re.compile(r"Events per (day|week|month) by type")).wait_for()
    assert "3 events · 2 shoppers" in page.locator('[data-testid="stSidebar"]').inner_text()
    page.get_by_role("link", name="Data").first.click()
    wait_idle(page)
    page.get_by_role("tab", name="Datasets & quality").wait_for()
    assert "3 events · 2 shoppers" in page.locator('[data-testid="stSidebar"]').inner_text()

    other = browser.new_context().new_page()  # another visitor: signed out
    other.goto(locked_server.url + "/data")
    _locked(other)
    other.context.close()

    page.get_by_role("button", name="Log out").click()
    _locked(page)
    context.close()
