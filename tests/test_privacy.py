"""Forget a shopper: the id and every alias leave every table, result and upload copy."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from analytics.bundle import DEMO_DIR
from analytics.cli import main
from analytics.errors import NotFoundError
from analytics.privacy import forget_user, id_tables, identity_of, token_pattern
from analytics.profiles import build_profiles
from analytics.workspace import Workspace


def _shopper_with_aliases() -> tuple[str, list[str]]:
    """A demo shopper with a loyalty alias, a CRM row and an experiment assignment (truth files)."""
    identities = pd.read_csv(DEMO_DIR / "identities.csv", dtype=str)
    assigned = set(pd.read_csv(DEMO_DIR / "experiment.csv", dtype=str)["user_id"])
    customers = set(pd.read_csv(DEMO_DIR / "customers.csv", dtype=str)["user_id"])
    per_user = identities.groupby("user_id")["alias"].apply(list)
    user = next(u for u in per_user.index if u in assigned and u in customers)
    return user, per_user[user]


def mentions(ws: Workspace, ids: list[str]) -> dict[str, int]:
    """Rows per table.column holding any of ``ids`` as a whole field, over every text column."""
    found = {}
    pattern = token_pattern(ids)
    with ws.cursor() as cur:
        columns = cur.execute(
            "SELECT table_name, column_name FROM duckdb_columns() WHERE schema_name = 'main' "
            "AND database_name = current_database() AND data_type IN ('VARCHAR', 'JSON')").fetchall()
        for table, column in columns:
            n = cur.execute(f'SELECT count(*) FROM "{table}" WHERE regexp_matches('
                            f'CAST("{column}" AS VARCHAR), ?)', [pattern]).fetchall()[0][0]
            if n:
                found[f"{table}.{column}"] = n
    return found


def _derive_everything(ws: Workspace) -> None:
    from analytics.experiments import analyse, save_scores, workspace_data
    from analytics.recommend.evaluate import evaluate
    from analytics.segments import SegmentSpec, run_segmentation

    with threadpool_limits(1, user_api="blas"):
        run_segmentation(ws, SegmentSpec(k=6))
        data = workspace_data(ws, "personalised_email")
        report = analyse(data)
        assert report.uplift is not None
        save_scores(ws, data, report.uplift)
        evaluate(ws, ["popularity"], k=5)


def test_forget_removes_the_shopper_and_aliases_from_every_table(demo_ws: Workspace):
    user, aliases = _shopper_with_aliases()
    _derive_everything(demo_ws)
    ids = [user, *aliases]
    before = mentions(demo_ws, ids)
    # The shopper is everywhere a shopper can be: raw data and every derived result.
    for where in ("events.user_id", "events.source_user_id", "users.user_id", "identities.alias",
                  "experiments.user_id", "profiles.user_id", "segment_members.user_id",
                  "uplift_scores.user_id"):
        assert before.get(where), (where, before)
    assert sorted(identity_of(demo_ws, aliases[0])) == sorted(ids)  # from an alias too

    bystander = mentions(demo_ws, ["u000001"]) if user != "u000001" else {}
    report = forget_user(demo_ws, aliases[0])
    assert sorted(report.ids) == sorted(ids)
    assert report.deleted["events"] == before["events.user_id"]
    # CRM row, online account and loyalty-register row of the card (users rows of any id)
    assert report.deleted["profiles"] == 1 and report.deleted["users"] == before["users.user_id"]
    assert before["users.user_id"] == 3
    assert json.loads(json.dumps(report.as_json()))["deleted"]["identities"] == len(aliases)
    assert mentions(demo_ws, ids) == {}
    if bystander:
        assert mentions(demo_ws, ["u000001"]) == bystander  # nobody else was touched

    build_profiles(demo_ws)  # a rebuild from the remaining events does not bring them back
    assert mentions(demo_ws, ids) == {}
    with pytest.raises(NotFoundError, match="nothing was deleted"):
        forget_user(demo_ws, user)


def test_new_result_tables_are_covered_without_code_changes(demo_ws: Workspace):
    with demo_ws.cursor() as cur:
        cur.execute("CREATE TABLE churn_scores (customer VARCHAR, target_user_id VARCHAR, p DOUBLE)")
        cur.execute("INSERT INTO churn_scores VALUES ('x', 'u000002', 0.5), ('y', 'u000003', 0.1)")
        assert id_tables(cur)["churn_scores"] == ["target_user_id"]
    report = forget_user(demo_ws, "u000002")
    assert report.deleted["churn_scores"] == 1


def test_rejects_and_upload_copies_that_mention_the_shopper_go_too(ws: Workspace, write):
    from analytics.ingest import ingest_file

    text = ("user_id,event_time,event_type,item_id\n"
            "c-1,2024-01-01 10:00:00,view,i1\nc-1,not a date,view,i2\n"
            "c-10,2024-01-02 10:00:00,view,i1\nc-10,never,view,i3\n")
    mine = ws.save_upload("mine.csv", text.encode())
    other = ws.save_upload("other.csv", b"user_id,event_time,event_type\nc-10,2024-01-03,view\n")
    ingest_file(ws, mine, name="mine.csv")
    (ws.inbox_dir / "processed").mkdir()
    done = ws.inbox_dir / "processed" / "old.csv"
    done.write_text("user_id\nc-1\n")
    (ws.inbox_dir / "new.csv").write_text("user_id\nc-1\n")
    report = forget_user(ws, "c-1")
    assert not done.exists() and (ws.inbox_dir / "new.csv").exists()
    assert any("new.csv" in note for note in report.notes)
    assert report.deleted["events"] == 1 and report.deleted["rejects"] == 1  # not c-10's
    assert report.files_removed == ("inbox/processed/old.csv", f"uploads/{mine.name}")
    assert not mine.exists() and other.exists()
    assert mentions(ws, ["c-1"]) == {} and mentions(ws, ["c-10"])


def test_cli_forget_needs_confirmation_and_reports_json(demo_ws: Workspace, capsys):
    user, aliases = _shopper_with_aliases()
    path = demo_ws.path
    demo_ws.close()
    assert main(["forget", user, "--db", str(path)]) == 2  # stdin is not a terminal: refused
    assert "--yes" in capsys.readouterr().err
    assert main(["forget", user, "--db", str(path), "--yes", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["deleted"]["events"] > 0 and sorted(out["ids"]) == sorted([user, *aliases])
    assert main(["forget", "no-such-shopper", "--db", str(path), "--yes"]) == 2
    assert "No shopper" in capsys.readouterr().err
    with Workspace(Path(path)) as ws:
        assert mentions(ws, [user, *aliases]) == {}


def _file_bytes(ws_dir: Path) -> bytes:
    """The database file and its write-ahead log, as stored on disk."""
    return b"".join(p.read_bytes() for p in sorted(ws_dir.glob("*.duckdb*")) if p.is_file())


def _personal_values(frame: pd.DataFrame) -> set[str]:
    values = set(frame["email"].dropna()) | set(frame["phone"].dropna())
    values |= {"".join(c for c in p if c.isdigit() or c == "+") for p in frame["phone"].dropna()}
    return values


def test_with_pii_hashing_no_email_or_phone_reaches_the_database_file(tmp_path: Path, monkeypatch):
    import duckdb

    from analytics.ingest import ingest_file

    # Compressed strings (FSST) would hide a leak from a byte scan: store them as they are.
    connect = duckdb.connect
    monkeypatch.setattr(duckdb, "connect", lambda path, config: connect(
        path, config={**config, "force_compression": "uncompressed"}))

    crm = pd.read_csv(DEMO_DIR / "customers.csv", dtype=str)
    broken = tmp_path / "crm_broken.csv"  # malformed lines are kept as rejects: not their text
    broken.write_text("user_id,email,phone,city\nx1,ann.one@example.com,+33 6 11 22 33 44,Paris\n"
                      "x2,bo.two@example.org,+49 30 5550 1234,Berlin,EXTRA\n"
                      "x3,cy.three@example.net,+44 20 7946 0000\n")
    ws_dir = tmp_path / "ws"
    with Workspace(ws_dir / "shopper_lens.duckdb", allow=[DEMO_DIR, tmp_path]) as ws:
        loaded = ingest_file(ws, DEMO_DIR / "customers.csv", pii_mode="hash")
        rejected = ingest_file(ws, broken, kind="users", pii_mode="hash")
        with ws.cursor() as cur:
            cur.execute("CHECKPOINT")
    assert loaded.rows_loaded == len(crm) and rejected.rows_rejected == 2
    stored = _file_bytes(ws_dir)
    values = _personal_values(crm) | {"ann.one@example.com", "bo.two@example.org",
                                      "cy.three@example.net", "+49 30 5550 1234", "+44 20 7946 0000"}
    assert len(values) > 4000 and len(stored) > 100_000
    leaked = sorted(v for v in values if v.encode("utf-8") in stored)
    assert leaked == []
    # The scan does see what is stored: attributes and the hashes that replaced the values.
    assert b'"city":"Rotterdam"' in stored and b'"email":"' in stored
    with Workspace(ws_dir / "shopper_lens.duckdb") as ws, ws.cursor() as cur:
        hashed = cur.execute("SELECT attributes->>'email' FROM users LIMIT 1").fetchall()[0][0]
    assert len(hashed) == 64 and hashed.encode() in stored
