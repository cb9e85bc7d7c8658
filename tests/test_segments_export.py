"""Export one segment, a chosen set or a whole run; columns only where they apply."""

from __future__ import annotations

import pytest

from analytics.errors import NotFoundError
from analytics.segments import SegmentSpec, export_frame, members, run_segmentation


def test_one_segment_a_set_or_the_whole_run(demo_ws):
    run = run_segmentation(demo_ws, SegmentSpec(method="kmeans", k=3))
    everyone = members(demo_ws, run.run_id)
    sizes = everyone["segment_id"].value_counts().to_dict()
    one = run.segments[0]
    single = export_frame(demo_ws, run.run_id, ["monetary"], [one.segment_id])
    assert len(single) == sizes[one.segment_id] == one.size
    assert set(single["segment_name"]) == {one.name}  # readable names, not only ids
    pair = [s.segment_id for s in run.segments[:2]]
    two = export_frame(demo_ws, run.run_id, segment_ids=pair)
    assert len(two) == sizes[pair[0]] + sizes[pair[1]]
    assert len(export_frame(demo_ws, run.run_id)) == len(everyone)
    # K-Means gives no membership probability: no column of empty values.
    assert "probability" not in single.columns
    with pytest.raises(NotFoundError, match="no segment 99"):
        export_frame(demo_ws, run.run_id, segment_ids=[99])


def test_probability_column_is_kept_for_gaussian_mixtures(demo_ws):
    run = run_segmentation(demo_ws, SegmentSpec(method="gmm", k=3))
    frame = export_frame(demo_ws, run.run_id, segment_ids=[run.segments[0].segment_id])
    assert "probability" in frame.columns
    assert frame["probability"].between(0, 1).all() and frame["probability"].notna().all()
