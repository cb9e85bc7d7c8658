"""In a real browser: many people use one server at once and nobody sees or loses another's work.

Six sessions (browser contexts) upload a different events file each at the same time; two of
them then segment shoppers and two train a recommender while the others keep loading. Every
session must see only its own file and counts, no error may show, and the workspace must end
up holding exactly the base shop plus the sum of what the sessions loaded.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from analytics.bundle import load_bundle
from analytics.profiles import build_profiles
from analytics.sample import generate
from analytics.workspace import Workspace
from tests.e2e.conftest import CHROMIUM, Server, log_tail, start_server, stop_server

pytestmark = pytest.mark.e2e

SESSIONS = 4  # one server on two cores shared with the Spark workers of the suite
SEGMENTERS = (0, 1)
RECOMMENDERS = (2, 3)
STEPS: dict[int, str] = {}  # where each session is, reported when the test times out
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
FAILURES = re.compile(r"connection is busy|Traceback|TransactionContext Error|Conflict", re.I)


def rows_for(i: int) -> int:
    return 15 + 3 * i


def events_file(folder: Path, i: int) -> Path:
    """Session i's own shoppers (c{i}-…) and its own day, so no row can be a duplicate."""
    lines = ["user_id,event_time,event_type,item_id,price"]
    for j in range(rows_for(i)):
        lines.append(f"c{i:02d}-{j % 5},2026-11-{i + 1:02d} {j // 60:02d}:{j % 60:02d}:00,"
                     f"{'purchase' if j % 4 == 0 else 'view'},i{j % 7:04d},{5 + j}")
    path = folder / f"session_{i:02d}.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def shop_server(tmp_path: Path) -> Iterator[tuple[Server, int]]:
    shop = tmp_path / "shop"
    generate(shop, users=300, seed=11)
    db = tmp_path / "ws" / "shopper_lens.duckdb"
    with Workspace(db, allow=[shop]) as ws:
        load_bundle(ws, shop)
        build_profiles(ws)
        with ws.cursor() as cur:
            base = int(cur.execute("SELECT count(*) FROM events").fetchall()[0][0])
    server = start_server(db)
    yield server, base
    stop_server(server.process)


async def _idle(page) -> None:  # type: ignore[no-untyped-def]
    await page.wait_for_selector(IDLE, timeout=300_000)
    await page.wait_for_timeout(300)


async def _check(page, i: int, seen: dict[int, list[str]]) -> None:  # type: ignore[no-untyped-def]
    text = await page.locator('[data-testid="stApp"]').inner_text()
    errors = await page.locator('[data-testid="stException"]').count()
    others = sorted(set(re.findall(r"session_(\d\d)\.csv", text)) - {f"{i:02d}"})
    seen.setdefault(i, []).extend([f"exception x{errors}"] * bool(errors)
                                  + FAILURES.findall(text) + [f"saw session_{o}" for o in others])


async def _session(browser, url: str, i: int, path: Path, seen: dict[int, list[str]],  # type: ignore[no-untyped-def]
                   loaded: dict[int, str]) -> None:
    context = await browser.new_context(viewport={"width": 1300, "height": 1000})
    page = await context.new_page()
    page.set_default_timeout(300_000)  # the sessions share two cores with the rest of the suite
    STEPS[i] = "opening Home"
    await page.goto(url)
    await _idle(page)
    STEPS[i] = "loading a file on Data"
    await page.get_by_role("link", name="Data").first.click()
    await _idle(page)
    await page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(path))
    await page.get_by_role("button", name=f"Load {path.name}").click()
    await page.get_by_text(f"Loaded {path.name}").wait_for()
    await _idle(page)
    loaded[i] = await page.locator('[data-testid="stMetric"]', has_text="Loaded").inner_text()
    await _check(page, i, seen)
    if i in SEGMENTERS:
        STEPS[i] = "segmenting"
        await page.get_by_role("link", name="Segments").first.click()
        await _idle(page)
        form = page.locator("details", has_text="New segmentation")
        await form.wait_for()  # the Segments page, not the Data page still on screen
        if await form.get_attribute("open") is None:  # another session's run landed first: it folds
            await form.locator("summary").click()
        await page.get_by_text("Choose k automatically").click()
        await page.get_by_role("button", name="Run segmentation").click()
        await page.get_by_role("tab", name="Segment profiles").wait_for()
        await _idle(page)
        await _check(page, i, seen)
    if i in RECOMMENDERS:
        STEPS[i] = "training a recommender"
        await page.get_by_role("link", name="Recommendations").first.click()
        await _idle(page)
        models = page.locator('[data-testid="stMultiSelect"]').first  # one quick model
        await models.get_by_role("button", name="Clear all").click()
        await models.locator("input").fill("Popularity")
        await page.keyboard.press("Enter")
        await page.keyboard.press("Escape")
        await page.get_by_role("button", name="Train and evaluate").click()
        await page.get_by_text(re.compile(r"Evaluated \d+ models on")).first.wait_for()
        await _idle(page)
        await _check(page, i, seen)
    await context.close()
    STEPS[i] = "done"


def _drive(url: str, files: list[Path], seen: dict[int, list[str]], loaded: dict[int, str]) -> None:
    from playwright.async_api import async_playwright

    async def main() -> None:
        async with async_playwright() as p:
            browser = await p.chromium.launch(
                executable_path=str(CHROMIUM), headless=True,
                args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                      "--disable-background-networking", "--disable-component-update",
                      "--no-first-run", "--disable-sync"])
            results = await asyncio.gather(*(_session(browser, url, i, f, seen, loaded)
                                             for i, f in enumerate(files)), return_exceptions=True)
            await browser.close()
        for i, result in enumerate(results):
            if isinstance(result, BaseException):
                seen.setdefault(i, []).append(f"{type(result).__name__}: {result}")

    asyncio.run(main())


@pytest.mark.timeout(540)
def test_many_sessions_at_once_keep_their_own_results(shop_server, tmp_path: Path):
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} missing")
    server, base = shop_server
    files = [events_file(tmp_path, i) for i in range(SESSIONS)]
    seen: dict[int, list[str]] = {}
    loaded: dict[int, str] = {}
    # Playwright's async API in a thread of its own: its event loop never meets the sync API's.
    driver = threading.Thread(target=_drive, args=(server.url, files, seen, loaded))
    STEPS.clear()
    driver.start()
    driver.join(timeout=480)
    assert not driver.is_alive(), f"sessions stuck at {STEPS}; server log:\n{log_tail(server.db)}"
    assert {i: s for i, s in seen.items() if s} == {}
    for i in range(SESSIONS):  # each session saw its own count, not a neighbour's
        assert loaded[i].split() == ["Loaded", str(rows_for(i))], (i, loaded[i])

    stop_server(server.process)
    with Workspace(server.db) as ws, ws.cursor() as cur:
        events = cur.execute("SELECT count(*) FROM events").fetchall()[0][0]
        per_file = dict(cur.execute("SELECT name, rows_loaded FROM datasets "
                                    "WHERE name LIKE 'session_%'").fetchall())
        runs = cur.execute("SELECT count(*) FROM segment_runs").fetchall()[0][0]
    assert per_file == {f.name: rows_for(i) for i, f in enumerate(files)}
    assert events == base + sum(rows_for(i) for i in range(SESSIONS))
    assert runs == len(SEGMENTERS)
