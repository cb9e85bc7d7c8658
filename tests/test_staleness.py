"""Never stale: every derived result knows the data version it was built from."""

from __future__ import annotations

import pandas as pd
import pytest

from analytics import staleness
from analytics.ingest import delete_dataset, ingest_file
from analytics.profiles import build_profiles, load_profiles
from analytics.refresh import refresh
from analytics.segments import PRESETS, SegmentSpec, members, run_segmentation
from analytics.staleness import PROFILES, SEGMENT_RUN, data_version, freshness, rebuild

EVENTS = ("user_id,event_time,event_type,item_id,price,quantity,order_id\n"
          "a,2026-01-01 10:00:00,view,i1,5,1,\n"
          "a,2026-01-01 10:05:00,purchase,i1,5,1,o1\n"
          "b,2026-01-02 11:00:00,view,i2,8,1,\n")
MORE = ("user_id,event_time,event_type,item_id,price,quantity,order_id\n"
        "c,2026-01-03 09:00:00,purchase,i2,8,2,o2\n")


def test_data_version_changes_with_every_load_and_delete_only(ws, write):
    empty = data_version(ws)
    assert data_version(ws) == empty  # a pure function of the datasets table
    first = ingest_file(ws, write("a.csv", EVENTS))
    loaded = data_version(ws)
    assert loaded != empty and data_version(ws) == loaded
    build_profiles(ws)
    assert data_version(ws) == loaded  # building a result is not a data change
    second = ingest_file(ws, write("b.csv", MORE))
    assert data_version(ws) not in (empty, loaded)
    delete_dataset(ws, second.dataset_id)
    assert data_version(ws) == loaded  # same datasets, same version
    delete_dataset(ws, first.dataset_id)
    assert data_version(ws) == empty


def test_profiles_go_stale_after_a_load_and_rebuild_makes_them_current(ws, write):
    ingest_file(ws, write("a.csv", EVENTS))
    missing = freshness(ws, PROFILES)
    assert missing.stale and missing.missing and "not been built" in missing.message
    build_profiles(ws)
    assert not freshness(ws, PROFILES).stale
    assert freshness(ws, PROFILES).message == ""
    ingest_file(ws, write("b.csv", MORE))
    stale = freshness(ws, PROFILES)
    assert stale.stale and stale.known and not stale.missing
    assert "from 1 dataset(s)" in stale.message and "(2 dataset(s) loaded now)" in stale.message
    assert set(load_profiles(ws)["user_id"]) == {"a", "b"}  # the stale result, as flagged
    done = rebuild(ws)
    assert done == ["Rebuilt 3 shopper profiles."]
    assert not freshness(ws, PROFILES).stale
    assert set(load_profiles(ws)["user_id"]) == {"a", "b", "c"}
    assert rebuild(ws) == []  # nothing left to do


def test_unrecorded_results_are_reported_as_possibly_stale(ws, write):
    ingest_file(ws, write("a.csv", EVENTS))
    found = freshness(ws, SEGMENT_RUN, "never-recorded")
    assert found.stale and not found.known and "may be out of date" in found.message
    with pytest.raises(ValueError, match="unknown result kind"), ws.cursor() as cur:
        staleness.record(cur, "nonsense")


def test_segment_run_inherits_profiles_version_and_one_click_rebuild_reapplies_it(demo_ws, write):
    run = run_segmentation(demo_ws, SegmentSpec(method="rules", rules=PRESETS["rfm"]))
    assert not freshness(demo_ws, SEGMENT_RUN, run.run_id).stale
    ingest_file(demo_ws, write("new.csv", "user_id,event_time,event_type,item_id,price,quantity,"
                               "order_id\nnewcomer,2026-11-01 10:00:00,purchase,i0001,10,1,n-1\n"))
    assert freshness(demo_ws, PROFILES).stale
    assert freshness(demo_ws, SEGMENT_RUN, run.run_id).stale
    # A segmentation fitted on stale profiles is stale from birth.
    late = run_segmentation(demo_ws, SegmentSpec(method="rules", rules=PRESETS["rfm"]))
    assert freshness(demo_ws, SEGMENT_RUN, late.run_id).stale
    assert "newcomer" not in set(members(demo_ws, run.run_id)["user_id"])
    done = rebuild(demo_ws, run.run_id)
    assert len(done) == 2 and done[0].startswith("Rebuilt") and "Re-applied" in done[1]
    assert not freshness(demo_ws, PROFILES).stale
    assert not freshness(demo_ws, SEGMENT_RUN, run.run_id).stale
    assert "newcomer" in set(members(demo_ws, run.run_id)["user_id"])


def test_refresh_after_a_load_elsewhere_rebuilds_profiles_in_full(demo_ws, write):
    """Files loaded on the Data page, then a Changes-tab refresh: nobody is left behind."""
    run = run_segmentation(demo_ws, SegmentSpec(method="rules", rules=PRESETS["rfm"]))
    header = "user_id,event_time,event_type,item_id,price,quantity,order_id\n"
    ingest_file(demo_ws, write("data_page.csv", header + "early,2026-11-01 10:00:00,purchase,"
                               "i0001,10,1,e-1\n"))
    refresh(demo_ws, [write("changes.csv", header + "late,2026-11-02 10:00:00,purchase,i0001,"
                            "10,1,l-1\n")], run.run_id)
    after = load_profiles(demo_ws).set_index("user_id").sort_index()
    assert {"early", "late"} <= set(after.index)
    assert not freshness(demo_ws, PROFILES).stale
    build_profiles(demo_ws)
    full = load_profiles(demo_ws).set_index("user_id").sort_index()
    pd.testing.assert_series_equal(after["frequency"], full["frequency"])
