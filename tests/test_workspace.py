"""Workspace: migrations, lock-down of file access, cursors across threads, settings."""

from __future__ import annotations

import threading
from pathlib import Path

import duckdb
import pytest

from analytics import schema, settings
from analytics.errors import ConfigError, WorkspaceError
from analytics.workspace import Workspace


def test_schema_is_created_once_and_reopening_keeps_data(tmp_path):
    path = tmp_path / "w" / "db.duckdb"
    with Workspace(path) as ws, ws.cursor() as cur:
        cur.execute("INSERT INTO meta VALUES ('probe', 'kept')")
        salt = ws.pii_salt()
    with Workspace(path) as ws, ws.cursor() as cur:
        assert cur.execute("SELECT value FROM meta WHERE key = 'probe'").fetchall() == [("kept",)]
        version = cur.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchall()
        assert version == [(str(schema.SCHEMA_VERSION),)] and ws.pii_salt() == salt


def test_result_tables_exist_before_the_first_write_so_concurrent_first_writes_cannot_collide(tmp_path):
    """Two dashboard sessions storing their first evaluation at once both ran CREATE TABLE IF NOT
    EXISTS and one failed ("Catalog write-write conflict"): the tables now come with the schema,
    and storing a result runs no DDL."""
    with Workspace(tmp_path / "db.duckdb") as ws, ws.cursor() as cur:
        tables = {t for (t,) in cur.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    assert {"recommend_evaluations", "uplift_runs", "uplift_scores"} <= tables
    for module in ("analytics/recommend/evaluate.py", "analytics/experiments/store.py"):
        source = (Path(__file__).resolve().parent.parent / module).read_text()
        assert "CREATE TABLE" not in source, module


def test_a_workspace_from_a_newer_version_is_refused(tmp_path):
    path = tmp_path / "db.duckdb"
    with Workspace(path) as ws, ws.cursor() as cur:
        cur.execute("UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    with pytest.raises(WorkspaceError, match="newer Shopper Lens"):
        Workspace(path)


def test_a_workspace_open_elsewhere_gets_a_clear_message(tmp_path):
    import subprocess
    import sys
    path = tmp_path / "db.duckdb"
    Workspace(path).close()
    holder = subprocess.Popen([sys.executable, "-c", "import duckdb,sys,time; "
                               f"c = duckdb.connect({str(path)!r}); print('ok', flush=True); "
                               "time.sleep(30)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ok"
        with pytest.raises(WorkspaceError, match="open in another process"):
            Workspace(path)
    finally:
        holder.kill()


@pytest.mark.parametrize("sql", [
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM read_text('/etc/hostname')",
    "COPY (SELECT 1) TO '/tmp/shopper_lens_escape.csv'",
    "ATTACH '/tmp/shopper_lens_other.duckdb' AS other",
    "SET enable_external_access = true",
    "INSTALL httpfs",
])
def test_file_access_outside_the_workspace_is_impossible(tmp_path, sql):
    with Workspace(tmp_path / "db.duckdb") as ws, ws.cursor() as cur, pytest.raises(duckdb.Error):
        cur.execute(sql)
    assert not Path("/tmp/shopper_lens_escape.csv").exists()


def test_cursors_work_from_many_threads(tmp_path):
    errors: list[BaseException] = []
    with Workspace(tmp_path / "db.duckdb") as ws:
        def work(i: int) -> None:
            try:
                for _ in range(20):
                    with ws.cursor() as cur:
                        cur.execute("INSERT INTO meta VALUES (?, 'x')", [f"k{i}-{_}"])
            except BaseException as e:  # noqa: BLE001
                errors.append(e)
        threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        with ws.cursor() as cur:
            assert cur.execute("SELECT count(*) FROM meta WHERE key LIKE 'k%'").fetchall() == [(160,)]
    assert errors == []


def test_settings_are_validated_with_a_helpful_message():
    assert settings.get("SHOPPER_LENS_THREADS", {"SHOPPER_LENS_THREADS": "3"}) == 3
    with pytest.raises(ConfigError, match="SHOPPER_LENS_THREADS='zero'"):
        settings.get("SHOPPER_LENS_THREADS", {"SHOPPER_LENS_THREADS": "zero"})
    with pytest.raises(ConfigError, match="'hash' or 'drop'"):
        settings.get("SHOPPER_LENS_PII", {"SHOPPER_LENS_PII": "keep"})


def test_readme_configuration_table_matches_the_settings():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert settings.markdown_table() in readme
