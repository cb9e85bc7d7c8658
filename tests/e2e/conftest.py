"""Browser tests: a real ``streamlit run`` server driven by Playwright in Debian's chromium."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = ROOT / "docs" / "screenshots"

pytestmark = pytest.mark.e2e


@dataclass
class Server:
    url: str
    db: Path
    process: subprocess.Popen[bytes]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_healthy(url: str, process: subprocess.Popen[bytes], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.read().decode().strip() == "ok":
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError("streamlit did not become healthy")


def start_server(db: Path, extra_env: dict[str, str] | None = None, cwd: Path | None = None) -> Server:
    """``cwd``: where Streamlit looks for .streamlit/config.toml and secrets.toml (default: the repo)."""
    port = _free_port()
    # Ten-odd servers start in a run: compiling UMAP in each would compete with the pages under
    # test (a fresh virtualenv has no numba cache); the map test turns it back on.
    env = {**os.environ, "SHOPPER_LENS_DB": str(db), "SHOPPER_LENS_MAP_WARMUP": "off",
           **(extra_env or {})}
    server_log(db).parent.mkdir(parents=True, exist_ok=True)
    log = open(server_log(db), "ab")  # noqa: SIM115 -- the server writes to it until it stops
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "serve.py"), "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1",
         "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
        cwd=cwd or ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    log.close()  # the child holds its own descriptor
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process)
    except BaseException:
        stop_server(process)
        raise
    return Server(url, db, process)


def server_log(db: Path) -> Path:
    """Where the server started for ``db`` writes its output (read it when a test fails)."""
    return db.parent / "streamlit.log"


def log_tail(db: Path, lines: int = 40) -> str:
    path = server_log(db)
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


def stop_server(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def browser():  # type: ignore[no-untyped-def]
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} missing: `make test` installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run", "--disable-sync",
                  "--disable-dev-shm-usage"])
        yield chromium
        chromium.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    srv = start_server(tmp_path / "ws" / "shopper_lens.duckdb")
    yield srv
    stop_server(srv.process)


@pytest.fixture
def page(browser, server: Server):  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    yield pg
    context.close()


def wait_idle(page, timeout: float = 90_000) -> None:  # type: ignore[no-untyped-def]
    """Wait until the Streamlit script has finished its run."""
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]',
                           timeout=timeout)
    page.wait_for_timeout(300)
    assert page.locator('[data-testid="stException"]').count() == 0, \
        page.locator('[data-testid="stException"]').first.inner_text()


def choose(page, label: str, option: str | re.Pattern[str]) -> None:  # type: ignore[no-untyped-def]
    """Pick ``option`` (exact text, or a pattern) in the selectbox labelled ``label``."""
    page.locator('[data-testid="stSelectbox"]', has_text=label).first.click()
    page.get_by_role("option", name=option, exact=isinstance(option, str) or None).first.click()
    wait_idle(page)


def screenshot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=False)


def copy_demo(demo_db: Path, folder: Path) -> Path:
    """A private copy of the loaded demo workspace (profiles built) in ``folder``."""
    target = folder / "demo" / "shopper_lens.duckdb"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(demo_db, target)
    return target


@pytest.fixture
def demo_server(tmp_path: Path, _demo_db: Path) -> Iterator[Server]:
    """A server on a private copy of the loaded demo workspace."""
    server = start_server(copy_demo(_demo_db, tmp_path))
    yield server
    stop_server(server.process)


@pytest.fixture
def demo_page(browser, demo_server: Server):  # type: ignore[no-untyped-def]
    """A browser page open on the demo server's Home page."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    pg = context.new_page()
    pg.set_default_timeout(90_000)
    pg.goto(demo_server.url)
    wait_idle(pg)
    yield pg
    context.close()
