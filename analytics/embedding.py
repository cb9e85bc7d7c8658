"""2-D maps of shoppers (UMAP, PCA, t-SNE) from the same scaled features segments use.

For large populations UMAP is fitted on a sample (FIT_SAMPLE) and the rest are placed at the
distance-weighted mean of their nearest fitted shoppers (umap-learn's ``transform`` starts from
that point and then optimises; it took 9x longer for the same trustworthiness). Beyond
MAX_POINTS shoppers a random sample is mapped, because a WebGL scatter of hundreds of thousands
of points is sluggish. t-SNE cannot place new points, so it maps a sample
only. :class:`Embedding` says which of these happened.

UMAP's neighbour graph is computed exactly with scikit-learn and handed to umap-learn
(``precomputed_knn``) instead of by pynndescent: on a 10,000-shopper fit sample the exact search
takes about a second, and pynndescent's numba code, most of a fresh process's 40 s of
compilation, is never compiled. umap-learn's own kernels are cached on disk by numba
(:func:`load_umap`), so only the first process after an install compiles them (~6 s); every
later dashboard start or CLI run loads them in a fraction of a second.
"""

from __future__ import annotations

import sys
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE, trustworthiness
from threadpoolctl import threadpool_limits

from analytics.errors import ConfigError

PROJECTIONS: dict[str, str] = {
    "umap": "UMAP: keeps neighbourhoods and much of the global layout (default)",
    "pca": "PCA: linear, fast, distances are faithful but groups overlap",
    "tsne": "t-SNE: sharp local groups, distances between groups mean little",
}
METRICS = ("euclidean", "manhattan", "cosine", "correlation")
FIT_SAMPLE = 10_000  # UMAP fits on at most this many shoppers and places the rest
MAX_POINTS = 50_000  # more points than this make the WebGL map sluggish: map a sample
TSNE_MAX = 10_000
# umap-learn runs 500 layout epochs for up to 10,000 points and 200 above; our fit sample is
# exactly 10,000, so the default paid 500. 200 epochs fitted 2.6x faster here (151 s -> 58 s on a
# loaded machine) with the same trustworthiness (0.961 vs 0.960), the layout being most of a
# parameter change's time once numba has compiled.
FIT_EPOCHS = 200
# Shoppers outside the fit sample go to the distance-weighted mean of this many fitted neighbours
# (40,000 shoppers: 12.6 s against 118 s for umap-learn's transform on a loaded machine, with
# trustworthiness 0.955 against 0.954).
PLACE_NEIGHBOURS = 10


@dataclass(frozen=True)
class Embedding:
    """Coordinates for ``rows`` (indices into the input matrix)."""

    rows: np.ndarray[Any, Any]
    xy: np.ndarray[Any, Any]
    method: str
    params: dict[str, Any]
    fitted_on: int
    total: int

    @property
    def note(self) -> str:
        shown = len(self.rows)
        parts = []
        if shown < self.total:
            parts.append(f"Showing a random sample of {shown:,} of {self.total:,} shoppers.")
        if self.fitted_on < shown:
            parts.append(f"Map fitted on a random sample of {self.fitted_on:,} shoppers; the other "
                         f"{shown - self.fitted_on:,} were placed among their {PLACE_NEIGHBOURS} "
                         "nearest fitted shoppers.")
        return " ".join(parts) or f"All {self.total:,} shoppers, fitted together."


def embed(X: np.ndarray[Any, Any], method: str = "umap", n_neighbors: int = 15,
          min_dist: float = 0.1, metric: str = "euclidean", fit_sample: int = FIT_SAMPLE,
          random_state: int = 0, max_points: int = MAX_POINTS) -> Embedding:
    """Project scaled features to 2-D.

    Examples
    --------
    >>> X = np.random.default_rng(0).normal(size=(50, 4))
    >>> embed(X, "pca").xy.shape
    (50, 2)
    """
    _check(X, method, n_neighbors, min_dist, metric)
    n = len(X)
    params = {"n_neighbors": n_neighbors, "min_dist": min_dist, "metric": metric}
    rng = np.random.default_rng(random_state)
    with threadpool_limits(1, user_api="blas"):
        if method == "pca":
            rows = _sample(rng, n, max_points)
            xy = PCA(2, random_state=random_state).fit(X).transform(X[rows])
            return Embedding(rows, xy, method, {}, len(rows), n)
        if method == "tsne":
            rows = _sample(rng, n, TSNE_MAX)
            xy = TSNE(2, perplexity=min(30.0, (len(rows) - 1) / 3), metric=metric,
                      init="pca", random_state=random_state).fit_transform(X[rows])
            return Embedding(rows, xy, method, {"metric": metric}, len(rows), n)
        return _umap(X, _sample(rng, n, max_points), params, fit_sample, rng, random_state)


def _sample(rng: np.random.Generator, n: int, limit: int) -> np.ndarray[Any, Any]:
    return np.sort(rng.choice(n, limit, replace=False)) if n > limit else np.arange(n)


_CACHING = threading.Lock()
_CACHED: list[bool] = []


def load_umap() -> Any:
    """umap-learn (imported late: the import is slow), its module-level numba kernels set to
    cache their compiled code on disk before anything compiles them.

    umap-learn marks one kernel ``cache=True``; the other ~120 were compiled again by every
    process (5.6 s of one core). Set to cache, they are written where numba writes any cached
    function (``NUMBA_CACHE_DIR``, else the package's ``__pycache__``, else the user's cache
    directory) and loaded by later processes: the warm-up fit took 5.6-6.8 s in the first process
    and 0.05 s in the next, with an identical map (tested). A kernel numba finds no writable
    place for compiles in memory, as before.
    """
    import umap
    from numba.core.caching import NullCache
    from numba.core.registry import CPUDispatcher

    with _CACHING:
        if not _CACHED:
            kernels = [value for name, module in list(sys.modules.items())
                       if name == "umap" or name.startswith("umap.")
                       for value in list(vars(module).values())
                       if isinstance(value, CPUDispatcher)
                       and isinstance(getattr(value, "_cache", None), NullCache)]
            for kernel in kernels:
                with suppress(RuntimeError):  # no writable cache location: compiled in memory
                    kernel.enable_caching()
            _CACHED.append(True)
    return umap


def _umap(X: np.ndarray[Any, Any], rows: np.ndarray[Any, Any], params: dict[str, Any],
          fit_sample: int, rng: np.random.Generator, random_state: int) -> Embedding:
    umap = load_umap()

    fit = np.zeros(len(rows), dtype=bool)
    fit[_sample(rng, len(rows), fit_sample)] = True
    fitted = X[rows[fit]]
    k = min(params["n_neighbors"], len(fitted) - 1)
    reducer = umap.UMAP(n_components=2, n_neighbors=k, min_dist=params["min_dist"],
                        metric=params["metric"], n_epochs=FIT_EPOCHS, random_state=random_state,
                        n_jobs=1, precomputed_knn=neighbour_graph(fitted, k, params["metric"]))
    xy = np.empty((len(rows), 2))
    with _no_search_index_warning():
        xy[fit] = reducer.fit_transform(fitted)
    if (~fit).any():
        xy[~fit] = place(fitted, xy[fit], X[rows[~fit]], params["metric"])
    return Embedding(rows, xy, "umap", params, int(fit.sum()), len(X))


def neighbour_graph(X: np.ndarray[Any, Any], k: int, metric: str = "euclidean",
                    ) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], None]:
    """Each row's ``k`` nearest rows (itself first, or a row equal to it), as umap-learn's
    ``precomputed_knn``: indices, distances, no search index (the map never calls
    ``transform``).

    Examples
    --------
    >>> index, distances, _ = neighbour_graph(np.array([[0.0], [1.0], [3.0]]), 2)
    >>> index.tolist(), distances.tolist()
    ([[0, 1], [1, 0], [2, 1]], [[0.0, 1.0], [0.0, 1.0], [0.0, 2.0]])
    """
    distances, index = _nearest(X, X, k, metric)
    return index.astype(np.int32), distances.astype(np.float32), None


def _nearest(fitted: np.ndarray[Any, Any], queries: np.ndarray[Any, Any], k: int,
             metric: str) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Distances and indices of each query's ``k`` nearest ``fitted`` rows. Correlation is the
    cosine distance of the rows less their means: scikit-learn's correlation gives NaN for a
    constant row (a shopper whose scaled features are all equal), its cosine gives 1."""
    from sklearn.neighbors import NearestNeighbors

    if metric == "correlation":
        fitted = fitted - fitted.mean(axis=1, keepdims=True)
        queries = queries - queries.mean(axis=1, keepdims=True)
        metric = "cosine"
    return NearestNeighbors(n_neighbors=k, metric=metric).fit(fitted).kneighbors(queries)  # type: ignore[no-any-return]


@contextmanager
def _no_search_index_warning() -> Iterator[None]:
    """umap-learn warns that a precomputed graph without a search index cannot ``transform``;
    the map never does (``place`` puts the other shoppers)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "precomputed_knn.2. .knn_search_index. is not an NNDescent",
                                UserWarning)
        yield


def place(fitted: np.ndarray[Any, Any], fitted_xy: np.ndarray[Any, Any], new: np.ndarray[Any, Any],
          metric: str = "euclidean", neighbours: int = PLACE_NEIGHBOURS) -> np.ndarray[Any, Any]:
    """Map coordinates for ``new`` rows: the inverse-distance-weighted mean of the coordinates
    of their nearest ``fitted`` rows (a row equal to a fitted one lands on it).

    Examples
    --------
    >>> place(np.array([[0.0], [2.0]]), np.array([[0.0, 0.0], [4.0, 0.0]]), np.array([[0.5]]), neighbours=2)
    array([[1., 0.]])
    """
    distances, index = _nearest(fitted, new, min(neighbours, len(fitted)), metric)
    weights = 1.0 / np.maximum(distances, 1e-12)
    weights /= weights.sum(axis=1, keepdims=True)
    return np.einsum("nk,nkd->nd", weights, fitted_xy[index])  # type: ignore[no-any-return]


def warm_up(metrics: tuple[str, ...] = ("euclidean",), rows: int = 300,
            random_state: int = 0) -> dict[str, float]:
    """Compile umap-learn's numba kernels with a tiny fit per metric, as :func:`embed` fits
    (precomputed neighbours, then the layout).

    The first UMAP in a process otherwise spends its first seconds compiling (about 7 s on a
    2-core machine, 40 s when pynndescent's neighbour search was compiled too); the dashboard
    runs this in a background thread when it starts, so the first map a user asks for only pays
    for the fit. Only the default metric is compiled by default. Returns the seconds per metric.
    """
    import time

    umap = load_umap()
    rng = np.random.default_rng(random_state)
    X = rng.normal(size=(rows, 4))
    seconds = {}
    with threadpool_limits(1, user_api="blas"):
        for metric in metrics:
            started = time.perf_counter()
            reducer = umap.UMAP(n_components=2, n_neighbors=10, metric=metric, n_epochs=20,
                                random_state=random_state, n_jobs=1,
                                precomputed_knn=neighbour_graph(X, 10, metric))
            with _no_search_index_warning():
                reducer.fit(X)
            seconds[metric] = time.perf_counter() - started
    return seconds


def quality(X: np.ndarray[Any, Any], embedding: Embedding, sample: int = 2_000,
            n_neighbors: int = 10, random_state: int = 0) -> float:
    """Trustworthiness (0-1) of the map on a sample: are map neighbours real neighbours?"""
    rng = np.random.default_rng(random_state)
    take = rng.choice(len(embedding.rows), min(sample, len(embedding.rows)), replace=False)
    return float(trustworthiness(X[embedding.rows[take]], embedding.xy[take], n_neighbors=n_neighbors))


def _check(X: np.ndarray[Any, Any], method: str, n_neighbors: int, min_dist: float, metric: str) -> None:
    if method not in PROJECTIONS:
        raise ConfigError(f"Unknown projection {method!r}.", hint=f"Use one of: {', '.join(PROJECTIONS)}.",
                          title="Invalid projection")
    if metric not in METRICS:
        raise ConfigError(f"Unknown metric {metric!r}.", hint=f"Use one of: {', '.join(METRICS)}.",
                          title="Invalid metric")
    if len(X) < 5:
        raise ConfigError(f"Only {len(X)} shoppers: too few to draw a map.", hint="Load more data.",
                          title="Too few shoppers")
    if not 2 <= n_neighbors <= 200 or not 0 <= min_dist <= 1:
        raise ConfigError("n_neighbors must be 2-200 and min_dist 0-1.",
                          hint="The defaults (15, 0.1) suit most data.", title="Invalid map settings")
