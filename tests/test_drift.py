"""Drift baselines: decile edges and per-segment bin shares on a hand-computable matrix."""

from __future__ import annotations

import numpy as np
import pytest

from analytics.segments import drift


def _matrix() -> np.ndarray:
    # column 0: 0..9 (deciles put each value in its own bin); column 1: constant 5
    return np.c_[np.arange(10.0), np.full(10, 5.0)]


def test_edges_and_shares_of_everyone_and_each_segment():
    labels = np.array([0, 0, 0, 1, 1, 1, 1, 2, 2, 2])
    base = drift.baseline(_matrix(), labels, ["a", "b"])
    assert base["edges"][0] == pytest.approx([0.9, 1.8, 2.7, 3.6, 4.5, 5.4, 6.3, 7.2, 8.1])
    assert base["edges"][1] == [5.0]
    assert base["shares"]["all"][0] == pytest.approx([0.1] * 10)
    assert base["shares"]["all"][1] == [0.0, 1.0]
    assert base["shares"]["0"][0] == pytest.approx([1 / 3] * 3 + [0.0] * 7)
    assert base["shares"]["1"][0] == [0.0] * 3 + [0.25] * 4 + [0.0] * 3
    assert base["shares"]["2"][0] == pytest.approx([0.0] * 7 + [1 / 3] * 3)
    assert base["shares"]["2"][1] == [0.0, 1.0]
    assert set(base["shares"]) == {"all", "0", "1", "2"}


def test_a_kept_matrix_is_binned_once_but_counted_per_labelling_and_a_changed_one_again():
    X = _matrix()
    X.setflags(write=False)  # as the kept matrix of re-runs is
    first = drift.baseline(X, np.array([0] * 5 + [1] * 5), ["a", "b"])
    second = drift.baseline(X, np.array([1] * 5 + [0] * 5), ["a", "b"])
    assert first["shares"]["0"] == second["shares"]["1"]
    assert first["shares"]["0"][0] == pytest.approx([0.2] * 5 + [0.0] * 5)
    changed = _matrix()  # writeable: its values may change under the same object
    drift.baseline(changed, np.zeros(10, dtype=int), ["a", "b"])
    changed[:, 0] = 0.0
    again = drift.baseline(changed, np.zeros(10, dtype=int), ["a", "b"])
    assert again["edges"][0] == [0.0] and again["shares"]["all"][0] == [0.0, 1.0]
