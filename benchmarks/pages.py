"""Seconds per dashboard page in a real browser on a generated shop (issue 14's page table).

    python benchmarks/pages.py --users 200000 --json     # about 11M events; the shop is cached
    python benchmarks/pages.py --users 5000               # quick, while iterating

Generates the shop with the project's sample generator (or reuses it from --cache, by default
~/.cache/shopper-lens/bench-pages-<users>), loads it, builds profiles and one K-Means run, then
starts the dashboard on a fresh copy of that workspace and opens every page in Chromium by its
navigation link, timing from the click to the page settled
(``[data-testid="stApp"][data-test-script-state="notRunning"]`` with the page's title shown);
no button is pressed. Every page is opened twice: ``pages`` is the first open after the
dashboard started, ``pages_again`` the second. The Segments map tab is timed until the first
map is drawn (``map_first_s``, a PCA map while UMAP computes) and until the UMAP map replaced it
(``map_umap_s``). With --json the last line is
``{"pages": {name: seconds}, "pages_again": {...}, "load": {...}, "load_again": {...},
"map_first_s": …, "map_umap_s": …, …}``; ``load``/``load_again`` are the 1-minute load average
when each page was opened. The machine is shared: other work running at the same time slows
every number, so quote the load with it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from _report import add_json_flag, emit

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
SETTLED = '[data-testid="stApp"][data-test-script-state="notRunning"]'
# navigation label -> the page's title (what shows when it has rendered)
PAGES = {"Home": "Shopper Lens", "Data": "Data", "Profiles": "Shopper profiles",
         "Segments": "Segments", "Journeys": "Journeys", "Recommendations": "Recommendations",
         "Experiments & Uplift": "Experiments & Uplift", "Shopper 360": "Shopper 360"}


def prepare(users: int, cache: Path) -> Path:
    """The workspace with the shop loaded, profiles and one K-Means run (built once, then reused)."""
    from analytics.bundle import load_bundle
    from analytics.profiles import build_profiles
    from analytics.sample import generate
    from analytics.segments import SegmentSpec, run_segmentation
    from analytics.workspace import Workspace

    db, done = cache / "ws" / "shopper_lens.duckdb", cache / "READY"
    if done.exists():
        print(f"reusing {db}", flush=True)
        return db
    shutil.rmtree(cache, ignore_errors=True)
    started = time.perf_counter()
    generate(cache / "shop", users=users, seed=3)
    with Workspace(db, allow=[cache / "shop"]) as ws:
        load_bundle(ws, cache / "shop")
        build_profiles(ws)
        run_segmentation(ws, SegmentSpec(k=6))
    done.write_text("ok\n")
    print(f"built {db} in {time.perf_counter() - started:.0f} s", flush=True)
    return db


def start(db: Path) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "serve.py"), "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1",
         "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
        cwd=ROOT, env={**os.environ, "SHOPPER_LENS_DB": str(db)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.read().decode().strip() == "ok":
                    return process, url
        except OSError:
            time.sleep(0.5)
    stop(process)
    raise TimeoutError("the dashboard did not start")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def settle(page: Any, title: str, timeout_ms: float) -> None:
    """Wait until the page's title shows and its script run has ended (no exception)."""
    page.get_by_role("heading", name=title, exact=True).first.wait_for(timeout=timeout_ms)
    page.wait_for_selector(SETTLED, timeout=timeout_ms)
    errors = page.locator('[data-testid="stException"]')
    if errors.count():
        raise RuntimeError(f"{title}: {errors.first.inner_text()[:500]}")


def open_page(page: Any, label: str, timeout_ms: float) -> float:
    started = time.perf_counter()
    page.get_by_role("link", name=label, exact=True).first.click()
    page.wait_for_timeout(100)  # let the click reach the server (the state flips to running)
    settle(page, PAGES[label], timeout_ms)
    return time.perf_counter() - started


def time_map(page: Any, timeout_ms: float) -> tuple[float, float | None]:
    """Seconds from opening the Map tab to the first map drawn, and to the UMAP map shown
    (None: not within the timeout)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    started = time.perf_counter()
    page.get_by_role("tab", name="Map").click()
    page.locator(".js-plotly-plot").first.wait_for(timeout=timeout_ms)
    first = time.perf_counter() - started
    try:
        page.get_by_text("shown while the UMAP map is computed").first.wait_for(
            state="hidden", timeout=timeout_ms)
        page.wait_for_selector(SETTLED, timeout=timeout_ms)
    except PlaywrightTimeout:
        print(f"map          UMAP not shown within {timeout_ms / 1000:.0f} s", flush=True)
        return first, None
    return first, time.perf_counter() - started


def walk(url: str, timeout_ms: float, with_map: bool) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    out: dict[str, Any] = {"pages": {}, "pages_again": {}, "load": {}, "load_again": {}}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-dev-shm-usage"])
        page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        started = time.perf_counter()
        page.goto(url)
        settle(page, PAGES["Home"], timeout_ms)
        out["first_load_s"] = round(time.perf_counter() - started, 2)
        for key, load in (("pages", "load"), ("pages_again", "load_again")):
            for label in [*list(PAGES)[1:], "Home"]:
                out[load][label] = round(os.getloadavg()[0], 1)
                seconds = open_page(page, label, timeout_ms)
                out[key][label] = round(seconds, 2)
                print(f"{key:<12} {label:<22} {seconds:6.2f} s  (load {out[load][label]})", flush=True)
        if with_map:
            out["load"]["map"] = round(os.getloadavg()[0], 1)
            open_page(page, "Segments", timeout_ms)
            first, umap = time_map(page, timeout_ms)
            out["map_first_s"] = round(first, 2)
            out["map_umap_s"] = None if umap is None else round(umap, 2)
            print(f"map          first map {first:6.2f} s | UMAP shown {umap} s", flush=True)
        browser.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=200_000)
    parser.add_argument("--cache", type=Path, help="where the built shop is kept "
                        "(default ~/.cache/shopper-lens/bench-pages-USERS)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds allowed per page")
    parser.add_argument("--no-map", action="store_true", help="skip the Segments map tab")
    add_json_flag(parser)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    cache = args.cache or Path.home() / ".cache" / "shopper-lens" / f"bench-pages-{args.users}"
    built = prepare(args.users, cache)
    with tempfile.TemporaryDirectory() as tmp:  # a fresh copy: nothing stored by an earlier run
        db = Path(tmp) / "shopper_lens.duckdb"
        shutil.copyfile(built, db)
        process, url = start(db)
        try:
            summary = walk(url, args.timeout * 1000, not args.no_map)
        finally:
            stop(process)
    summary["users"] = args.users
    emit(summary, args)


if __name__ == "__main__":
    main()
