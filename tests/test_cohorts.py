"""Retention cohorts: exact tables on a hand-made shop, the demo's curve, the CLI, saving a cell."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from analytics.cli import main
from analytics.cohorts import OUTSIDE, OVERALL, cell_shoppers, cohort_table, save_cell
from analytics.errors import ConfigError, NotFoundError
from analytics.workspace import Workspace
from tests.conftest import COMPLETEJOURNEY, needs_shared

# u1, u2 first buy in January, u3 in February (after a January visit), u4 only browses.
# The data ends on Wednesday 10 April, so April (and that week) are not over.
EVENTS = [
    ("u1", "2024-01-05 10:00", "purchase"), ("u1", "2024-02-10 10:00", "purchase"),
    ("u1", "2024-02-20 10:00", "purchase"), ("u1", "2024-04-10 10:00", "view"),
    ("u2", "2024-01-20 10:00", "purchase"), ("u2", "2024-03-02 10:00", "purchase"),
    ("u3", "2024-01-02 10:00", "view"), ("u3", "2024-02-01 10:00", "purchase"),
    ("u3", "2024-03-15 10:00", "purchase"), ("u4", "2024-03-03 10:00", "view"),
]


def insert(ws: Workspace, rows: list[tuple[str, str, str]]) -> None:
    with ws.cursor() as cur:
        cur.executemany("INSERT INTO events (user_id, event_time, event_type, source, dataset_id) "
                        "VALUES (?, ?, ?, 'online', 'test')", [list(r) for r in rows])


@pytest.fixture
def shop(ws: Workspace) -> Workspace:
    insert(ws, EVENTS)
    return ws


def cells(table: Any, segment: str = OVERALL) -> dict[tuple[str, int], tuple[int, int, bool]]:
    """{(cohort, period): (shoppers, cohort_size, complete)}"""
    return {(str(r.cohort), int(r.period)): (int(r.shoppers), int(r.cohort_size), bool(r.complete))
            for r in table.of(segment).itertuples()}


def test_monthly_first_purchase_cohorts(shop):
    table = cohort_table(shop)
    assert cells(table) == {
        ("2024-01-01", 0): (2, 2, True), ("2024-01-01", 1): (1, 2, True),
        ("2024-01-01", 2): (1, 2, True), ("2024-01-01", 3): (0, 2, False),
        ("2024-02-01", 0): (1, 1, True), ("2024-02-01", 1): (1, 1, True),
        ("2024-02-01", 2): (0, 1, False)}
    assert table.of()["share"].tolist() == [1.0, 0.5, 0.5, 0.0, 1.0, 1.0, 0.0]
    # pooled over cohorts whose period is over: the unfinished April cells are left out
    pooled = table.retention()
    assert pooled["period"].tolist() == [0, 1, 2]
    assert pooled["share"].tolist() == pytest.approx([1.0, 2 / 3, 0.5])
    assert pooled["cohorts"].tolist() == [2, 2, 1]
    assert table.segments == [OVERALL] and table.segment_run is None


def test_first_seen_cohorts_count_any_event(shop):
    table = cohort_table(shop, basis="seen")
    assert cells(table) == {
        ("2024-01-01", 0): (3, 3, True), ("2024-01-01", 1): (2, 3, True),
        ("2024-01-01", 2): (2, 3, True), ("2024-01-01", 3): (1, 3, False),
        ("2024-03-01", 0): (1, 1, True), ("2024-03-01", 1): (0, 1, False)}
    assert cell_shoppers(shop, "2024-01-01", 2, basis="seen") == ["u2", "u3"]


def test_weekly_cohorts_start_on_monday(shop):
    table = cohort_table(shop, by="week")
    got = cells(table)
    assert {k: v for k, v in got.items() if v[0]} == {
        ("2024-01-01", 0): (1, 1, True), ("2024-01-01", 5): (1, 1, True), ("2024-01-01", 7): (1, 1, True),
        ("2024-01-15", 0): (1, 1, True), ("2024-01-15", 6): (1, 1, True),
        ("2024-01-29", 0): (1, 1, True), ("2024-01-29", 6): (1, 1, True)}
    # 1 Jan to the week of 8 April is 14 weeks; that last week is not over on 10 April
    assert max(p for c, p in got if c == "2024-01-01") == 14
    assert got[("2024-01-01", 14)][2] is False and got[("2024-01-01", 13)][2] is True
    assert cell_shoppers(shop, date(2024, 1, 15), 6, by="week") == ["u2"]


def test_per_segment_split_and_saving_a_cell(shop):
    from analytics.profiles import build_profiles
    from analytics.segments import members, save_selection

    build_profiles(shop)
    picked = save_selection(shop, ["u1", "u3"], "Picked")
    table = cohort_table(shop, segment_run=picked.run_id)
    assert table.segments == [OVERALL, OUTSIDE, "Picked"]
    assert cells(table, "Picked") == {
        ("2024-01-01", 0): (1, 1, True), ("2024-01-01", 1): (1, 1, True),
        ("2024-01-01", 2): (0, 1, True), ("2024-01-01", 3): (0, 1, False),
        ("2024-02-01", 0): (1, 1, True), ("2024-02-01", 1): (1, 1, True),
        ("2024-02-01", 2): (0, 1, False)}
    assert cells(table, OUTSIDE)[("2024-01-01", 2)] == (1, 1, True)  # u2, kept, not dropped
    assert cells(table) == cells(cohort_table(shop))  # the overall rows do not change
    users = cell_shoppers(shop, "2024-01-01", 1, segment="Picked", segment_run=picked.run_id)
    assert users == ["u1"]
    saved = save_cell(shop, [*users, "ghost"], "Back in February", picked.run_id)
    assert (saved.saved, saved.not_profiled) == (1, 1)
    kept = members(shop, saved.run_id)
    assert kept.loc[kept["segment_id"] >= 0, "user_id"].tolist() == ["u1"]


def test_bad_arguments_and_no_purchases(ws):
    insert(ws, [("u1", "2024-01-05 10:00", "view")])
    with pytest.raises(ConfigError, match="'day'"):
        cohort_table(ws, by="day")
    with pytest.raises(ConfigError, match="basis"):
        cohort_table(ws, basis="refund")
    with pytest.raises(NotFoundError, match="no purchases") as e:
        cohort_table(ws)
    assert "--basis seen" in e.value.hint
    with pytest.raises(NotFoundError, match="nope"):
        cohort_table(ws, segment_run="nope")
    assert cohort_table(ws, basis="seen").of()["shoppers"].tolist() == [1]


def test_cli_writes_long_csv_and_json_summary(shop, tmp_path, capsys):
    db, out = str(shop.path), tmp_path / "cohorts.csv"
    shop.close()
    assert main(["cohorts", "--db", db, "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["cohorts"] == [{"cohort": "2024-01-01", "size": 2}, {"cohort": "2024-02-01", "size": 1}]
    assert summary["periods"] == 4
    assert [r["share"] for r in summary["retention"]] == pytest.approx([1.0, 2 / 3, 0.5])
    frame = pd.read_csv(out)
    assert list(frame.columns[:6]) == ["cohort", "period", "segment", "shoppers", "cohort_size", "share"]
    assert len(frame) == 7
    assert main(["cohorts", "--db", db, "--by", "week", "--segment-run", "nope"]) == 2
    assert "No segmentation run 'nope'" in capsys.readouterr().err


def test_demo_shop_retention_declines(demo_ws):
    table = cohort_table(demo_ws)
    overall = table.of()
    assert (overall.loc[overall["period"] == 0, "share"] == 1.0).all()
    assert overall["share"].between(0, 1).all()
    with demo_ws.cursor() as cur:
        buyers = cur.execute("SELECT count(DISTINCT user_id) FROM events "
                             "WHERE event_type = 'purchase'").fetchall()[0][0]
        aliases = {r[0] for r in cur.execute("SELECT alias FROM identity_map WHERE alias <> user_id")
                   .fetchall()}
    assert overall.loc[overall["period"] == 0, "cohort_size"].sum() == buyers
    # store purchases under a loyalty card count for the shopper's master id, never the card
    cohort_members = {u for c in overall["cohort"].unique() for u in cell_shoppers(demo_ws, c, 0)}
    assert len(cohort_members) == buyers and aliases and not aliases & cohort_members
    pooled = table.retention()["share"].tolist()
    assert len(pooled) >= 3 and pooled[1] < 1.0 and pooled[-1] < pooled[1]


@needs_shared
@pytest.mark.realdata
def test_complete_journey_cohorts(ws):
    from analytics.ingest import ingest_file

    ingest_file(ws, Path(COMPLETEJOURNEY) / "transactions_sample.csv", source="offline")
    table = cohort_table(ws)
    overall = table.of()
    assert overall.loc[overall["period"] == 0, "cohort_size"].sum() == 2_377  # every household
    assert overall["share"].between(0, 1).all()
