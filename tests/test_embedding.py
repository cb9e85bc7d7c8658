"""Placing shoppers outside the UMAP fit sample: hand-computed weighted means."""

from __future__ import annotations

import numpy as np

from analytics.embedding import place


def test_a_new_point_lands_at_the_inverse_distance_weighted_mean_of_its_neighbours():
    fitted = np.array([[0.0], [2.0], [10.0]])
    xy = np.array([[0.0, 0.0], [4.0, 0.0], [100.0, 100.0]])
    # distances 0.5 and 1.5 -> weights 3/4 and 1/4 -> x = 1/4 * 4; the far point is not a neighbour
    assert np.allclose(place(fitted, xy, np.array([[0.5]]), neighbours=2), [[1.0, 0.0]])


def test_a_point_equal_to_a_fitted_one_lands_on_it_and_cosine_uses_directions():
    fitted = np.array([[1.0, 0.0], [0.0, 1.0]])
    xy = np.array([[-5.0, 1.0], [5.0, 2.0]])
    assert np.allclose(place(fitted, xy, np.array([[0.0, 1.0]]), neighbours=2), [[5.0, 2.0]])
    # (3, 0) points the same way as (1, 0): cosine distance 0, so it lands on that shopper
    assert np.allclose(place(fitted, xy, np.array([[3.0, 0.0]]), "cosine", neighbours=2), [[-5.0, 1.0]])
