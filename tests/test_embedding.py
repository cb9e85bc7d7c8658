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


def test_umap_fits_on_the_exact_neighbour_graph_for_every_metric():
    """The map's neighbour graph comes from scikit-learn (no pynndescent): each row's
    neighbours are the exact nearest ones, itself first, and every offered metric maps."""
    from analytics.embedding import METRICS, embed, neighbour_graph, quality

    rng = np.random.default_rng(3)
    centres = rng.normal(scale=6.0, size=(4, 6))
    X = np.vstack([c + rng.normal(size=(150, 6)) for c in centres]) + 20.0  # off the origin
    index, distances, search = neighbour_graph(X, 5)
    exact = np.argsort(((X[:, None, :] - X[None, :, :]) ** 2).sum(axis=2), axis=1)[:, :5]
    assert search is None and (index[:, 0] == np.arange(len(X))).all()
    assert (np.sort(index, axis=1) == np.sort(exact, axis=1)).all()
    assert np.allclose(distances[:, 1], np.sort(np.sqrt(((X[:, None] - X[None]) ** 2).sum(2)), 1)[:, 1],
                       rtol=1e-5)
    for metric in METRICS:
        mapped = embed(X, "umap", n_neighbors=10, metric=metric, fit_sample=400)
        assert mapped.xy.shape == (len(X), 2) and np.isfinite(mapped.xy).all()
        assert quality(X, mapped) > 0.8, metric


def test_shoppers_with_constant_features_map_to_finite_points_under_every_metric():
    """Rows whose features are all equal (or all zero) have no correlation and no direction:
    scikit-learn's correlation gives NaN for them, which once made UMAP's layout non-finite."""
    from analytics.embedding import METRICS, embed, place

    rng = np.random.default_rng(0)
    X = rng.normal(size=(800, 6))
    X[:60], X[60:120] = 0.0, 1.0
    for metric in METRICS:
        mapped = embed(X, "umap", n_neighbors=10, metric=metric, fit_sample=500)
        assert np.isfinite(mapped.xy).all(), metric
        assert np.isfinite(place(X[200:], mapped.xy[200:], X[:120], metric)).all(), metric


_CACHED_RUN = """
import sys
import numpy as np
from numba.core.registry import CPUDispatcher
from analytics.embedding import embed
X = np.random.default_rng(5).normal(size=(300, 4))  # the warm-up's shape: the same kernels
np.save(sys.argv[1], embed(X, "umap", n_neighbors=10).xy)
# the kernels compiled on first call (those with a signature compile at import, in memory)
stats = [v.stats for name, m in list(sys.modules.items()) if name.startswith("umap")
         for v in vars(m).values() if isinstance(v, CPUDispatcher) and v._can_compile]
print(sum(sum(s.cache_hits.values()) for s in stats), sum(sum(s.cache_misses.values()) for s in stats))
"""


def test_umap_kernels_compiled_by_one_process_are_loaded_by_the_next_and_map_the_same(tmp_path):
    """umap-learn's kernels are cached on disk where numba caches them: once one process has
    drawn a map (compiling, or loading what an earlier one compiled), the next compiles nothing
    (cache hits, no misses) and draws the identical map. Without the cache every process
    compiled them again (~6 s). A private NUMBA_CACHE_DIR would make pynndescent's own cached
    kernels compile again too (~20 s), so the default locations are used."""
    import subprocess
    import sys

    counts = []
    for run in (1, 2):
        out = subprocess.run([sys.executable, "-c", _CACHED_RUN, str(tmp_path / f"xy{run}.npy")],
                             capture_output=True, text=True, check=False)
        assert out.returncode == 0, out.stderr
        counts.append([int(v) for v in out.stdout.split()[-2:]])
    (hits1, misses1), (hits2, misses2) = counts
    assert hits1 + misses1 > 0, counts  # the map ran its kernels (compiled or loaded)
    assert hits2 > 0 and misses2 == 0, counts  # nothing compiled again: all from the cache
    assert np.array_equal(np.load(tmp_path / "xy1.npy"), np.load(tmp_path / "xy2.npy"))
