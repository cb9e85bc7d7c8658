"""Stored read-side results of a run: the heatmap equals a fresh computation from the profiles."""

from __future__ import annotations

import pandas as pd
import pytest

from analytics import stored
from analytics.segments import SegmentSpec, delete_run, heatmaps, rename_segment, run_segmentation
from analytics.segments.views import _computed_heatmap, heatmap


def _names(run):  # type: ignore[no-untyped-def]
    return {s.segment_id: s.name for s in run.segments}


def _stored_rows(ws) -> int:  # type: ignore[no-untyped-def]
    with ws.cursor() as cur:
        return int(cur.execute("SELECT count(*) FROM stored_results WHERE kind = ?",
                               [heatmaps.KIND]).fetchall()[0][0])


@pytest.fixture
def kmeans_run(demo_ws):  # type: ignore[no-untyped-def]
    return run_segmentation(demo_ws, SegmentSpec(k=4))


def test_the_stored_heatmap_equals_the_one_computed_from_every_profile(demo_ws, kmeans_run):
    fresh = _computed_heatmap(demo_ws, kmeans_run.run_id, _names(kmeans_run))
    # computed by segment name over every profile, the way the page did before it was stored
    assert list(fresh.index) == sorted(_names(kmeans_run).values())
    found = heatmaps.load(demo_ws, kmeans_run.run_id, _names(kmeans_run))
    assert found is not None
    pd.testing.assert_frame_equal(found, fresh, check_exact=False, rtol=1e-9, atol=1e-12)
    pd.testing.assert_frame_equal(heatmap(demo_ws, kmeans_run.run_id), fresh)


def test_a_rename_shows_in_the_stored_heatmap_and_shared_names_are_pooled(demo_ws, kmeans_run):
    first, second = (s.segment_id for s in kmeans_run.segments[:2])
    rename_segment(demo_ws, kmeans_run.run_id, first, "Zebra buyers")
    assert "Zebra buyers" in heatmap(demo_ws, kmeans_run.run_id).index
    # Two segments with one name: the stored per-segment rows cannot be shown, one pooled row is
    rename_segment(demo_ws, kmeans_run.run_id, second, "Zebra buyers")
    pooled = heatmap(demo_ws, kmeans_run.run_id)
    assert list(pooled.index).count("Zebra buyers") == 1 and len(pooled) == kmeans_run.k - 1


def test_a_heatmap_from_older_data_is_not_used_and_a_deleted_run_leaves_none(demo_ws, kmeans_run):
    assert _stored_rows(demo_ws) == 1
    # planted: a stored table under another data version must be ignored, not shown
    key = {"run_id": kmeans_run.run_id}
    stale = stored.load(demo_ws, heatmaps.KIND, key, stored.info(demo_ws, heatmaps.KIND, key).data_version)
    stored.save(demo_ws, heatmaps.KIND, key, "older-data", stale * 0 + 99.0)
    assert heatmaps.load(demo_ws, kmeans_run.run_id, _names(kmeans_run)) is None
    assert float(heatmap(demo_ws, kmeans_run.run_id).abs().max().max()) < 99  # recomputed
    delete_run(demo_ws, kmeans_run.run_id)
    assert _stored_rows(demo_ws) == 0


def test_the_kept_matrix_equals_a_fresh_encoding_and_follows_a_profile_rebuild(demo_ws):
    import numpy as np

    from analytics.profiles import build_profiles, load_profiles
    from analytics.segments import DEFAULT_FEATURES, matrix, preprocessor

    matrix.clear()
    features = list(DEFAULT_FEATURES)
    first = matrix.encoded(demo_ws, None, features, "log1p")
    fresh = preprocessor(features, "log1p").fit_transform(load_profiles(demo_ws))
    np.testing.assert_array_equal(first.X, fresh)
    assert list(first.users) == load_profiles(demo_ws)["user_id"].tolist()
    assert matrix.encoded(demo_ws, None, features, "log1p") is first  # kept, not recomputed
    assert matrix.encoded(demo_ws, None, features, "robust") is not first  # other scaling
    build_profiles(demo_ws)  # a rebuild: the matrix follows the stored values, kept or not
    np.testing.assert_allclose(matrix.encoded(demo_ws, None, features, "log1p").X, first.X)
    with demo_ws.cursor() as cur:  # any changed value is a new input: encoded again
        cur.execute("UPDATE profiles SET frequency = frequency + 1 WHERE user_id = ?",
                    [first.users[0]])
    changed = matrix.encoded(demo_ws, None, features, "log1p")
    assert changed is not first
    assert changed.X[0].tolist() != first.X[0].tolist()
    build_profiles(demo_ws)
    subset = matrix.load_columns(demo_ws, ["user_id", "frequency"])
    pd.testing.assert_frame_equal(subset, load_profiles(demo_ws)[["user_id", "frequency"]])


def test_the_map_frame_joins_only_the_mapped_shoppers_in_their_order(demo_ws, kmeans_run):
    import numpy as np

    from analytics.profiles import load_profiles
    from analytics.segments import members
    from analytics.segments.views import HOVER_FEATURES, map_frame

    profiles = load_profiles(demo_ws)
    users = profiles["user_id"].to_numpy()[[7, 2, 11, 0]]
    users = np.append(users, "nobody-has-this-id")  # planted: not profiled, not in the run
    xy = np.arange(10, dtype=float).reshape(5, 2)
    frame = map_frame(demo_ws, kmeans_run.run_id, users, xy)
    assert list(frame.columns) == ["user_id", "x", "y", *HOVER_FEATURES, "segment_name"]
    assert frame["user_id"].tolist() == users.tolist() and frame["y"].tolist() == [1, 3, 5, 7, 9]
    named = members(demo_ws, kmeans_run.run_id).set_index("user_id")["segment_name"]
    assert frame["segment_name"].tolist() == [*named.loc[users[:4]], "Not in this run"]
    by_user = profiles.set_index("user_id")
    assert frame["monetary"].tolist()[:4] == by_user.loc[users[:4], "monetary"].tolist()
    assert frame["top_category"].tolist()[:4] == by_user.loc[users[:4], "top_category"].tolist()
    assert map_frame(demo_ws, None, users[:2], xy[:2])["segment_name"].tolist() == ["All shoppers"] * 2


def test_values_derived_from_a_kept_frame_are_computed_once_and_a_copy_every_time(demo_ws):
    from analytics.segments import matrix

    matrix.clear()
    frame = matrix.load_columns(demo_ws, ["user_id", "frequency"])
    calls: list[int] = []

    def count(f):  # type: ignore[no-untyped-def]
        calls.append(1)
        return len(f)

    assert matrix.derived(frame, "n", count) == matrix.derived(frame, "n", count) == len(frame)
    assert len(calls) == 1  # kept frame: once
    copy = frame.copy()  # not kept by load_columns: it could be changed, so never remembered
    matrix.derived(copy, "n", count)
    matrix.derived(copy, "n", count)
    assert len(calls) == 3
    matrix.clear()
    assert matrix.derived(matrix.load_columns(demo_ws, ["user_id", "frequency"]), "n", count) == len(frame)
    assert len(calls) == 4  # forgotten with the frame
