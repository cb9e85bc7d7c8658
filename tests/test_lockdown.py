"""Lock-down, verified: no user-controlled input reads /etc/passwd, writes outside the
workspace, or changes a table through SQL injection. Each attempt ends in a clear message or
is stored as a harmless literal, and the tables' fingerprints prove nothing else changed."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from analytics.cli import main
from analytics.errors import ShopperLensError
from analytics.ingest import ingest_file
from analytics.workspace import Workspace

PASSWD = Path("/etc/passwd")
INJECTIONS = (
    "read_text('/etc/passwd')",
    "x\"); SELECT * FROM read_csv('/etc/passwd') --",
    "'; DROP TABLE events; --",
    "\" OR 1=1 --",
    "../../etc/passwd",
    "$1",
    "?",
)
EVENTS = ("user_id,event_time,event_type,item_id,price\n"
          + "".join(f"u{i % 40},2024-03-{1 + i % 28:02d} 10:{i % 60:02d}:00,"
                    f"{'purchase' if i % 3 == 0 else 'view'},i{i % 9},{3 + i % 7}\n" for i in range(400)))


def fingerprints(ws: Workspace) -> dict[str, tuple[int, str]]:
    """Row count and a checksum of the sorted rows of every table."""
    with ws.cursor() as cur:
        tables = [r[0] for r in cur.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
            "AND NOT temporary ORDER BY 1").fetchall()]
        return {t: tuple(cur.execute(  # type: ignore[misc]
            f'SELECT count(*), coalesce(md5(string_agg(CAST(t AS VARCHAR), \'|\' '
            f'ORDER BY CAST(t AS VARCHAR))), \'\') FROM "{t}" t').fetchall()[0]) for t in tables}


def no_passwd_anywhere(ws: Workspace) -> None:
    """No text column of any table holds a line of /etc/passwd."""
    marker = next(line for line in PASSWD.read_text().splitlines() if line.startswith("root:"))
    with ws.cursor() as cur:
        for table, column in cur.execute(
                "SELECT table_name, column_name FROM duckdb_columns() WHERE database_name = "
                "current_database() AND data_type IN ('VARCHAR', 'JSON')").fetchall():
            hits = cur.execute(f'SELECT count(*) FROM "{table}" WHERE contains(CAST("{column}" '
                               'AS VARCHAR), ?)', [marker.split(":")[0] + ":x:0:0"]).fetchall()[0][0]
            assert hits == 0, (table, column)


@pytest.fixture
def shop(ws: Workspace, write) -> Workspace:
    """A small loaded shop with profiles, so every analysis has something to chew on."""
    from analytics.profiles import build_profiles
    ingest_file(ws, write("events.csv", EVENTS))
    build_profiles(ws)
    return ws


@pytest.mark.parametrize("name", [
    "../../etc/passwd", "/etc/passwd", "..", "", "a\x00b.csv", "..\\..\\windows\\win.ini",
    "x" * 5000 + ".csv", "~/.bashrc", "uploads/../../../outside.csv", "/dev/null", "CON",
])
def test_upload_names_cannot_leave_the_upload_folder(ws: Workspace, name: str):
    before = {p for p in ws.dir.parent.rglob("*")}
    path = ws.save_upload(name, b"user_id,event_time,event_type\nu1,2024-01-01,view\n")
    assert path.resolve().parent == ws.upload_dir.resolve()
    assert path.read_bytes().startswith(b"user_id") and "\x00" not in path.name
    assert len(path.name) < 150
    created = {p for p in ws.dir.parent.rglob("*")} - before
    assert created == {path}


def test_files_outside_the_workspace_cannot_be_read(shop: Workspace, tmp_path: Path):
    before = fingerprints(shop)
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir()
    secret = outside / "secret.csv"
    secret.write_text("user_id,event_time,event_type\nintruder,2024-01-01,view\n")
    for path in (secret, PASSWD):
        with pytest.raises(ShopperLensError):
            ingest_file(shop, path, delimiter=":" if path == PASSWD else None)
    with shop.cursor() as cur:
        for sql in ("SELECT * FROM read_csv(?)", "SELECT * FROM read_text(?)",
                    "COPY (SELECT 1) TO ?"):
            with pytest.raises(duckdb.Error):
                cur.execute(sql.replace("?", f"'{secret}'"))
    assert fingerprints(shop) == before
    no_passwd_anywhere(shop)


@pytest.mark.parametrize("evil", INJECTIONS)
def test_column_names_and_mapping_values_are_only_names(shop: Workspace, write, evil: str):
    before = fingerprints(shop)
    with pytest.raises(ShopperLensError):  # a mapping value must name a column of the file
        ingest_file(shop, write("m.csv", "who,when,what\nu1,2024-05-01 10:00:00,view\n"),
                    mapping={"user_id": evil, "event_time": "when", "event_type": "what"})
    assert fingerprints(shop) == before
    header = '"' + evil.replace('"', '""') + '"'
    path = write("c.csv", f"user_id,event_time,event_type,{header}\nzz1,2024-05-01 10:00:00,view,v\n")
    report = ingest_file(shop, path, mapping={"search_query": evil})
    assert report.rows_loaded == 1
    with shop.cursor() as cur:  # the column was read as data under its odd name; nothing else ran
        assert cur.execute("SELECT search_query FROM events WHERE user_id = 'zz1'").fetchall() == [("v",)]
        assert cur.execute("SELECT count(*) FROM events").fetchall()[0][0] == before["events"][0] + 1
    no_passwd_anywhere(shop)


@pytest.mark.parametrize("evil", INJECTIONS)
def test_rule_expressions_segment_and_experiment_names_are_literals(shop: Workspace, evil: str):
    from analytics.experiments import workspace_data
    from analytics.privacy import forget_user
    from analytics.segments import SegmentSpec, rename_segment, run_segmentation
    from analytics.segments.rules import RuleSet

    before = fingerprints(shop)
    for rules in ({"segments": [{"name": "A", "when": {"feature": evil, "op": ">", "value": 1}}]},
                  {"segments": [{"name": "A", "when": {"feature": "events", "op": evil,
                                                       "value": 1}}]},
                  {"segments": [{"name": "A", "when": {"feature": "events", "op": ">",
                                                       "value": evil}}]}):
        with pytest.raises(ShopperLensError):
            RuleSet.from_json(json.dumps(rules))
    for call in (lambda: workspace_data(shop, evil), lambda: forget_user(shop, evil)):
        with pytest.raises(ShopperLensError):
            call()
    assert fingerprints(shop) == before

    rules = {"name": evil, "otherwise": evil + " else",
             "segments": [{"name": evil, "when": {"feature": "events", "op": ">", "value": 5}}]}
    result = run_segmentation(shop, SegmentSpec(method="rules", rules=json.dumps(rules), name=evil))
    rename_segment(shop, result.run_id, result.segments[0].segment_id, evil + "!")
    with shop.cursor() as cur:
        names = {r[0] for r in cur.execute("SELECT DISTINCT segment_name FROM segment_members").fetchall()}
        stored = cur.execute("SELECT name FROM segment_runs").fetchall()
    assert evil + "!" in names and stored == [(evil,)]
    after = fingerprints(shop)
    assert {t: v for t, v in after.items() if v != before.get(t)}.keys() <= {
        "segment_runs", "segment_members", "result_versions", "stored_results"}  # + its heatmap
    no_passwd_anywhere(shop)


def test_cli_arguments_cannot_reach_outside_or_inject(shop: Workspace, write, capsys):
    path = shop.path
    before = fingerprints(shop)
    shop.close()
    good = write("more.csv", "user_id,event_time,event_type\nn1,2024-06-01 10:00:00,view\n")
    attempts = [
        ["ingest", str(good), "--map", "user_id=read_text('/etc/passwd')"],
        ["ingest", str(good), "--map", "user_id=user_id\"); DROP TABLE events; --"],
        ["ingest", str(good), "--set", "event_type=' || (SELECT 1) || '", "--kind", "experiments"],
        ["forget", "' OR '1'='1", "--yes"],
        ["uplift", "--experiment", "x'; DROP TABLE events; --"],
        ["recommend", "--user", "' OR 1=1 --", "--model", "popularity"],
        ["segment", "--method", "rules", "--rules", str(PASSWD)],
        ["segment", "--features", "read_text('/etc/passwd')"],
        ["journeys", "--steps", "view,'); DROP TABLE events; --"],
    ]
    for argv in attempts:
        assert main([*argv, "--db", str(path)]) == 2, argv
        err = capsys.readouterr().err
        assert "Traceback" not in err and "root:x:0:0" not in err, (argv, err)
    with Workspace(Path(path)) as ws:
        # stored_results is a cache of fitted models (rebuilt on demand), not anybody's data
        assert {t: v for t, v in fingerprints(ws).items() if t != "stored_results"} == {
            t: v for t, v in before.items() if t != "stored_results"}
        no_passwd_anywhere(ws)
