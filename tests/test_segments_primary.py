"""The primary segmentation: chosen explicitly, defaulting to the latest clustering/rules run,
never changed by saving a map selection, and used by every consumer of segments."""

from __future__ import annotations

import json

import pytest

from analytics.cli import main
from analytics.errors import NotFoundError
from analytics.experiments.segments import segment_labels, segment_sources
from analytics.journeys import funnel
from analytics.recommend.interactions import build
from analytics.refresh import living_run
from analytics.segments import PRESETS, SegmentSpec, delete_run, members, run_segmentation, save_selection
from analytics.segments.primary import (
    primary_run_id,
    resolve_run_id,
    run_choices,
    set_primary,
)
from analytics.shopper import shopper_view


@pytest.fixture
def three_runs(demo_ws):  # type: ignore[no-untyped-def]
    """Rules, then K-Means, then a map selection taken from the K-Means run (in that order)."""
    rules = run_segmentation(demo_ws, SegmentSpec(method="rules", rules=PRESETS["rfm"], name="RFM rules"))
    kmeans = run_segmentation(demo_ws, SegmentSpec(method="kmeans", k=3, name="Three clusters"))
    picked = members(demo_ws, kmeans.run_id)["user_id"].head(40).tolist()
    selection = save_selection(demo_ws, picked, "Picked on map", kmeans.run_id)
    return demo_ws, rules, kmeans, selection


def test_no_run_means_no_primary(demo_ws):
    assert primary_run_id(demo_ws) is None
    assert run_choices(demo_ws) == []
    assert resolve_run_id(demo_ws, None) is None


def test_default_is_the_latest_non_selection_and_a_selection_never_takes_over(three_runs):
    ws, rules, kmeans, selection = three_runs
    assert primary_run_id(ws) == kmeans.run_id  # the selection is newer, but not a default
    choices = run_choices(ws)
    assert [c.run_id for c in choices] == [kmeans.run_id, rules.run_id, selection.run_id]
    assert [c.primary for c in choices] == [True, False, False]
    assert choices[2].kind == "Map selection" and "Map selection" in choices[2].label
    assert choices[0].label.endswith("— primary")


def test_chosen_primary_is_used_by_journeys_recommendations_experiments_and_shopper(three_runs):
    ws, rules, kmeans, selection = three_runs
    set_primary(ws, rules.run_id)
    assert primary_run_id(ws) == rules.run_id
    # Saving another selection does not change the choice.
    save_selection(ws, members(ws, kmeans.run_id)["user_id"].head(5).tolist(), "Another pick")
    assert primary_run_id(ws) == rules.run_id

    by_segment = funnel(ws, per="user", by="segment")
    assert by_segment.segment_source == "segmentation run 'RFM rules'"
    rule_names = set(members(ws, rules.run_id)["segment_name"])
    assert {g.value for g in by_segment.groups} - {"(no segment)", "unassigned"} <= rule_names
    picked = funnel(ws, per="user", by="segment", segment_run=kmeans.run_id)
    assert picked.segment_source == "segmentation run 'Three clusters'"

    inter, _ = build(ws)
    assert inter.segment_source == "segmentation run 'RFM rules'"
    inter, _ = build(ws, segment_run=kmeans.run_id)
    assert inter.segment_source == "segmentation run 'Three clusters'"

    sources = segment_sources(ws)
    first = next(iter(sources.values()))
    assert first == f"run:{rules.run_id}"
    assert f"run:{selection.run_id}" in sources.values()  # still choosable, as its own kind
    labels = segment_labels(ws, first)
    assert set(labels) <= rule_names

    user = str(members(ws, kmeans.run_id)["user_id"].iloc[0])
    view = shopper_view(ws, user)
    assert view.current_segment is not None and view.current_segment.run_id == rules.run_id
    assert view.segment_of(kmeans.run_id).run_name == "Three clusters"  # type: ignore[union-attr]
    assert living_run(ws).run_id == rules.run_id  # refresh keeps the primary up to date


def test_deleting_the_primary_falls_back_and_unknown_ids_are_refused(three_runs):
    ws, rules, kmeans, _ = three_runs
    set_primary(ws, rules.run_id)
    delete_run(ws, rules.run_id)
    assert primary_run_id(ws) == kmeans.run_id
    with pytest.raises(NotFoundError, match="nope"):
        set_primary(ws, "nope")
    with pytest.raises(NotFoundError, match="nope"):
        funnel(ws, by="segment", segment_run="nope")
    assert primary_run_id(ws) == kmeans.run_id
    set_primary(ws, None)
    assert primary_run_id(ws) == kmeans.run_id


def test_cli_lists_sets_the_primary_and_takes_segment_run(three_runs, capsys):
    ws, rules, kmeans, selection = three_runs
    db = str(ws.path)
    ws.close()
    assert main(["segment-runs", "--db", db, "--primary", rules.run_id, "--json"]) == 0
    listed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert listed["primary"] == rules.run_id
    assert [r["kind"] for r in listed["runs"]][-1] == "Map selection"
    assert main(["journeys", "--db", db, "--by", "segment", "--per", "user", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["segment_source"] == "segmentation run 'RFM rules'"
    assert main(["journeys", "--db", db, "--by", "segment", "--segment-run", kmeans.run_id,
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["segment_source"] == "segmentation run 'Three clusters'"
    assert main(["journeys", "--db", db, "--by", "segment", "--segment-run", "nope"]) == 2
    assert "nope" in capsys.readouterr().err
