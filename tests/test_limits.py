"""Limits give clear messages, not crashes: the upload size limit, the DuckDB memory limit; and a
large event file loads by path through the CLI with memory bounded by the limit, not the file."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import duckdb
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from analytics import settings
from analytics.bundle import DEMO_DIR
from analytics.workspace import Workspace
from tests.conftest import ROOT, table_fingerprint

# A child that runs one command and reports its peak RSS (ru_maxrss, KB on Linux): measured in an
# intermediate process so that no earlier child of the test run is counted.
_MEASURE = """
import resource, subprocess, sys
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
sys.stderr.write(done.stderr)
print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""
EVENTS_SQL = """
COPY (SELECT 'user' || lpad(CAST(i % 40000 AS VARCHAR), 6, '0') AS user_id,
             strftime(TIMESTAMP '2024-01-01' + to_seconds(i * 7), '%Y-%m-%d %H:%M:%S') AS event_time,
             ['view', 'view', 'view', 'cart', 'purchase', 'search'][1 + i % 6] AS event_type,
             'sku-' || (i * 7919 % 20000) AS item_id, 'category-' || (i % 37) AS category,
             round(5 + (i % 1000) / 10.0, 2) AS price, 1 + i % 3 AS quantity
      FROM range(?) t(i)) TO '{path}' (HEADER, DELIMITER ',')
"""


def _cli(args: list[str], memory: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SHOPPER_LENS_MEMORY_LIMIT": memory}
    return subprocess.run([sys.executable, "-m", "analytics", *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=300)


def _fingerprint(db: Path) -> dict[str, tuple[int, int]]:
    with Workspace(db) as ws:
        return table_fingerprint(ws)


def test_a_tiny_memory_limit_gives_a_message_naming_the_setting(_demo_db: Path, tmp_path: Path) -> None:
    demo = tmp_path / "demo" / "w.duckdb"
    demo.parent.mkdir()
    shutil.copyfile(_demo_db, demo)
    before = _fingerprint(demo)
    empty = tmp_path / "empty" / "w.duckdb"
    Workspace(empty).close()
    for args, db in ((["profiles"], demo), (["journeys"], demo),
                     (["ingest", str(DEMO_DIR / "events.csv.gz")], empty)):
        done = _cli([*args, "--db", str(db)], "20MB")
        assert done.returncode == 2, (args, done.stderr)
        assert "Traceback" not in done.stderr, done.stderr
        assert "SHOPPER_LENS_MEMORY_LIMIT" in done.stderr, done.stderr
        if args[0] != "profiles":  # the profiles message (not ours) names the setting, not its value
            assert "SHOPPER_LENS_MEMORY_LIMIT=20MB" in done.stderr, done.stderr
    assert _fingerprint(demo) == before
    assert "events" not in _fingerprint(empty)


def test_an_unusable_memory_limit_names_the_setting(tmp_path: Path) -> None:
    done = _cli(["datasets", "--db", str(tmp_path / "w.duckdb")], "lots")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "SHOPPER_LENS_MEMORY_LIMIT" in done.stderr


def test_the_dashboard_upload_limit_matches_the_setting() -> None:
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    default = next(s.default for s in settings.SETTINGS if s.name == "SHOPPER_LENS_MAX_UPLOAD_MB")
    assert config["server"]["maxUploadSize"] == int(default)


def test_an_upload_over_the_limit_is_refused_on_the_data_page(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "app" / "shopper_lens.duckdb"
    monkeypatch.setenv("SHOPPER_LENS_DB", str(db))
    monkeypatch.setenv("SHOPPER_LENS_MAX_UPLOAD_MB", "1")
    monkeypatch.chdir(ROOT)
    st.cache_data.clear()
    st.cache_resource.clear()
    try:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
        at.run()
        at.switch_page("pages/data.py").run()
        at.file_uploader[0].upload("big.csv", b"user_id,event_time\n" + b"x" * (2 << 20), "text/csv").run()
        assert not at.exception, [e.value for e in at.exception]
        shown = " ".join(e.value for e in at.error).replace("\\", "")  # markdown escapes
        assert "over the upload limit of 1 MB" in shown and "SHOPPER_LENS_MAX_UPLOAD_MB" in shown, shown
        assert list((db.parent / "uploads").iterdir()) == []
    finally:
        st.cache_data.clear()
        st.cache_resource.clear()


def test_a_large_event_file_loads_by_path_with_bounded_memory(tmp_path: Path) -> None:
    """A ~200 MB CSV loads through the CLI under a 256 MB limit with peak RSS bounded by the limit
    plus a fixed overhead (interpreter, DuckDB's untracked allocations), not by the file. A test
    cannot afford a file large enough to dwarf that overhead: benchmarks/ingest_memory.py loads
    2 GB under 1GB with a peak RSS of about 0.6 x the file, 1.1 x that of a 10 x smaller file."""
    rows = 3_100_000
    path = tmp_path / "events.csv"
    with duckdb.connect() as con:
        con.execute(EVENTS_SQL.format(path=path), [rows])
    db = tmp_path / "ws" / "w.duckdb"
    env = {**os.environ, "SHOPPER_LENS_MEMORY_LIMIT": "256MB"}
    done = subprocess.run([sys.executable, "-c", _MEASURE, sys.executable, "-m", "analytics", "ingest",
                           str(path), "--db", str(db)],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    code, rss_kb = done.stdout.split()
    assert code == "0", done.stderr
    with Workspace(db) as ws, ws.cursor() as cur:
        assert cur.execute("SELECT count(*) FROM events").fetchall()[0][0] == rows
    size, peak = path.stat().st_size, int(rss_kb) * 1024
    print(f"peak RSS {peak / 2**20:.0f} MB loading {size / 2**20:.0f} MB under a 256 MB limit")
    assert size > 180 * 2**20
    assert peak < (256 + 192) * 2**20, "peak memory well above the limit"
