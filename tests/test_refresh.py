"""Living segments: a second period with known changers, incremental re-scoring, history."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from analytics.bundle import DEMO_DIR
from analytics.errors import MappingError, NotFoundError
from analytics.followup import FILES, LAPSE, START_BUYING, generate_followup
from analytics.refresh import (
    NEW,
    RefreshFile,
    Trigger,
    changes,
    fire,
    inbox_files,
    migration,
    refresh,
    refresh_inbox,
    refreshes,
    sizes_over_time,
)
from analytics.segments import SegmentSpec, get_run, members, run_segmentation
from tests.conftest import table_counts

LIFECYCLE = {"name": "Lifecycle", "otherwise": "Others", "segments": [
    {"name": "Active buyers", "when": {"feature": "purchases_30d", "op": ">", "value": 0}},
    {"name": "Lapsed buyers", "when": {"all": [
        {"feature": "frequency", "op": ">=", "value": 1},
        {"feature": "days_since_last_event", "op": ">", "value": 45}]}}]}
EXPECTED = {LAPSE: "Lapsed buyers", START_BUYING: "Active buyers"}


@pytest.fixture
def followup(tmp_path: Path) -> Path:
    """The demo's second period, inside the test's folder (which the workspace may read)."""
    return generate_followup(DEMO_DIR, tmp_path / "followup").out_dir


def period_two(folder: Path) -> list[RefreshFile]:
    return [RefreshFile(folder / FILES["events"], "online"), RefreshFile(folder / FILES["pos"], "offline")]


def test_known_changers_move_and_everyone_else_stays(demo_ws, followup):
    rules = run_segmentation(demo_ws, SegmentSpec(method="rules", rules=LIFECYCLE))
    kmeans = run_segmentation(demo_ws, SegmentSpec(k=6))
    before = {r.run_id: members(demo_ws, r.run_id).set_index("user_id")["segment_name"]
              for r in (rules, kmeans)}
    report = refresh(demo_ws, period_two(followup), run_id=rules.run_id)
    refresh(demo_ws, [], run_id=kmeans.run_id)  # re-score the clustering with its saved model
    after = {r: members(demo_ws, r).set_index("user_id")["segment_name"] for r in before}

    truth = pd.read_csv(followup / FILES["changes"]).set_index("user_id")["change"]
    for change, expected in EXPECTED.items():
        users = truth[truth == change].index
        assert (after[rules.run_id].reindex(users) == expected).mean() >= 0.9, change
        assert (before[rules.run_id].reindex(users) == expected).mean() < 0.2, change
    for run_id in before:
        unchanged = before[run_id].index.difference(truth.index)
        moved = (before[run_id][unchanged] != after[run_id].reindex(unchanged)).mean()
        assert moved < 0.02, (run_id, moved)
    assert sum(report.moved.values()) == len(changes(demo_ws, rules.run_id))
    assert report.entered["Active buyers"] >= truth.eq(START_BUYING).sum() * 0.9


def test_history_migration_triggers_sizes_and_drift(demo_ws, followup):
    run = run_segmentation(demo_ws, SegmentSpec(method="rules", rules=LIFECYCLE))
    seeded = get_run(demo_ws, run.run_id).created_at
    report = refresh(demo_ws, period_two(followup), run_id=run.run_id)

    matrix = migration(demo_ws, run.run_id, seeded, report.created_at)
    assert matrix["shoppers"].sum() == len(members(demo_ws, run.run_id))
    moved = matrix[matrix["from_segment"] != matrix["to_segment"]]
    assert dict(zip(moved["from_segment"] + " → " + moved["to_segment"], moved["shoppers"],
                    strict=True)) == report.moved
    entered = fire(demo_ws, run.run_id, Trigger("entered", "Lapsed buyers"))
    assert len(entered) == report.entered["Lapsed buyers"]
    assert set(entered["trigger"]) == {"entered 'Lapsed buyers'"}
    crossed = fire(demo_ws, run.run_id, Trigger("crossed", threshold=30))
    assert len(crossed) > 0 and (crossed["days_since_last_event"] >= 30).all()

    sizes = sizes_over_time(demo_ws, get_run(demo_ws, run.run_id))
    assert sizes["at"].nunique() == 2
    assert sizes.groupby("at")["shoppers"].sum().tolist() == [len(members(demo_ws, run.run_id))] * 2
    log = refreshes(demo_ws, run.run_id)
    assert len(log) == 1 and json.loads(log["drift"].iloc[0])["all"]
    assert report.suggestion and "PSI" in report.suggestion


def test_refresh_with_older_events_accepts_and_rescores(demo_ws, write):
    run = run_segmentation(demo_ws, SegmentSpec(method="rules", rules=LIFECYCLE))
    with demo_ws.cursor() as cur:
        as_of = cur.execute("SELECT max(as_of) FROM profiles").fetchall()[0][0]
    old = write("late.csv", "user_id,event_time,event_type,item_id,price,quantity,order_id\n"
                            "newbie,2026-06-01 10:00:00,purchase,i0001,10,1,late-1\n")
    report = refresh(demo_ws, [old], run_id=run.run_id)
    assert report.as_of == as_of  # older events do not move the clock
    moves = changes(demo_ws, run.run_id)
    assert moves.loc[moves["user_id"] == "newbie", "from_segment"].tolist() == [NEW]


def test_refresh_before_any_segmentation_changes_nothing(demo_ws, write):
    counts = table_counts(demo_ws)
    path = write("new.csv", "user_id,event_time,event_type\nu1,2026-11-01 10:00:00,view\n")
    with pytest.raises(NotFoundError, match="no segmentation"):
        refresh(demo_ws, [path])
    assert table_counts(demo_ws) == counts


def test_refresh_with_another_schema_suggests_a_mapping(demo_ws, write):
    run = run_segmentation(demo_ws, SegmentSpec(method="rules", rules=LIFECYCLE))
    counts = table_counts(demo_ws)
    # a name with spaces is no id, so the values cannot fill user_id either
    path = write("odd.csv", "who,when_it_was,what\nAnn Lee,2026-11-01 10:00:00,view\n")
    with pytest.raises(MappingError) as err:
        refresh(demo_ws, [path], run_id=run.run_id)
    assert err.value.hint
    assert table_counts(demo_ws) == counts


def test_inbox_files_are_refreshed_and_moved(demo_ws, followup):
    run_segmentation(demo_ws, SegmentSpec(method="rules", rules=LIFECYCLE))
    target = demo_ws.inbox_dir / "period2.csv.gz"
    target.write_bytes((followup / FILES["events"]).read_bytes())
    (demo_ws.inbox_dir / ".hidden.csv").write_text("x")
    assert inbox_files(demo_ws) == [target]
    report = refresh_inbox(demo_ws)
    assert report is not None and sum(report.moved.values()) > 0
    assert inbox_files(demo_ws) == []
    assert len(list((demo_ws.inbox_dir / "processed").iterdir())) == 1
    assert refresh_inbox(demo_ws) is None


def test_cli_refresh_prints_moved_entered_left(tmp_path, _demo_db, followup):
    import shutil

    db = tmp_path / "w.duckdb"
    shutil.copyfile(_demo_db, db)
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps(LIFECYCLE))

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "analytics", *args, "--db", str(db), "--json"],
                              capture_output=True, text=True, check=False, timeout=300)

    early = cli("refresh", str(followup / FILES["events"]))
    assert early.returncode == 2 and "no segmentation" in early.stderr.lower()
    assert cli("segment", "--method", "rules", "--rules", str(rules)).returncode == 0
    out = cli("refresh", str(followup / FILES["events"]), "--source", "online")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert {"moved", "entered", "left"} <= set(result)
    assert result["entered"].get("Active buyers", 0) > 100
