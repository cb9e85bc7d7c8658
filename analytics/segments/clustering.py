"""Clustering methods behind one estimator, and the sweep that chooses the number of segments.

:class:`Clusterer` wraps scikit-learn's K-Means (MiniBatchKMeans for large populations),
Gaussian mixtures (soft membership), Ward hierarchical clustering (two nested levels) and
HDBSCAN (noise kept as its own group), so that runs, refreshes and stability checks treat
every method alike: ``fit`` then ``predict`` on new shoppers without refitting.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, replace
from typing import Any, Self

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.cluster import HDBSCAN, KMeans, MiniBatchKMeans
from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score, silhouette_score
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import KNeighborsClassifier
from threadpoolctl import ThreadpoolController

from analytics.errors import ConfigError
from analytics.segments import autok
from analytics.segments.autok import DEFAULT_KS

Array = np.ndarray[Any, Any]

METHODS: dict[str, str] = {
    "kmeans": "K-Means: compact, similar-sized segments (MiniBatch K-Means above 50,000 shoppers)",
    "gmm": "Gaussian mixture: soft membership, a probability per shopper and segment",
    "hierarchical": "Ward hierarchical: nested broad and niche segments",
    "hdbscan": "HDBSCAN: finds dense groups of any shape, leaves outliers as noise",
}
NOISE = -1
MINIBATCH_ABOVE = 50_000
# Ward needs a pairwise merge tree; above this many shoppers it is fitted on a sample and the
# rest join the segment of the nearest centre.
WARD_MAX = 8_000
HDBSCAN_MAX = 20_000


@dataclass(frozen=True)
class SweepRow:
    k: int
    silhouette: float
    davies_bouldin: float
    calinski_harabasz: float
    bic: float | None
    min_share: float = float("nan")
    max_share: float = float("nan")
    stability: float | None = None  # mean bootstrap ARI of refits on subsamples
    rejected: str | None = None  # why the sizes are unusable (a segment < 1% or > 80%)


@dataclass(frozen=True)
class Sweep:
    """Quality of each k and the k chosen (see :mod:`analytics.segments.autok`).

    BIC is reported for mixtures but not used to choose: on long-tailed behavioural data it
    keeps falling as k grows, splitting real segments into near-copies.
    """

    method: str
    rows: tuple[SweepRow, ...]
    best_k: int
    criterion: str
    sample_size: int
    fitted_on: int = 0
    reason: str = ""
    structure: str = ""  # "none" | "weak" | "clear"
    structure_note: str = ""
    null_silhouette: float | None = None  # best k refitted on column-shuffled data

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "rows": [asdict(r) for r in self.rows]}


class Clusterer(BaseEstimator, ClusterMixin):  # type: ignore[misc]
    """One of :data:`METHODS`, fitted on scaled features.

    Parameters
    ----------
    method : {"kmeans", "gmm", "hierarchical", "hdbscan"}
    n_clusters : int
        Segments (niche level for hierarchical; ignored by HDBSCAN).
    n_broad : int or None
        Hierarchical only: the coarser cut, so each niche segment sits inside a broad one.
    min_cluster_size : int or None
        HDBSCAN only (default: 1% of shoppers, at least 10).
    random_state : int

    Attributes
    ----------
    labels_ : ndarray of shape (n,)  segment per fitted row (``-1`` = HDBSCAN noise)
    probabilities_ : ndarray of shape (n, k) or None  GMM membership probabilities
    broad_labels_ : ndarray or None  hierarchical broad segment per row
    n_clusters_ : int  segments found (noise excluded)

    Examples
    --------
    >>> X = np.r_[np.zeros((20, 2)), np.ones((20, 2)) * 5]
    >>> Clusterer("kmeans", n_clusters=2).fit(X).n_clusters_
    2
    """

    def __init__(self, method: str = "kmeans", n_clusters: int = 5, n_broad: int | None = None,
                 min_cluster_size: int | None = None, random_state: int = 0) -> None:
        self.method = method
        self.n_clusters = n_clusters
        self.n_broad = n_broad
        self.min_cluster_size = min_cluster_size
        self.random_state = random_state

    def fit(self, X: Array, y: object = None) -> Self:
        check_method(self.method)
        n = len(X)
        if self.method != "hdbscan":
            check_k(self.n_clusters, n)
        self.probabilities_: Array | None = None
        self.broad_labels_: Array | None = None
        self.broad_of_: dict[int, int] = {}
        fit = {"kmeans": self._fit_kmeans, "gmm": self._fit_gmm,
               "hierarchical": self._fit_ward, "hdbscan": self._fit_hdbscan}[self.method]
        with single_thread():
            fit(X)
        self.n_clusters_ = int(len(set(self.labels_.tolist()) - {NOISE}))
        return self

    def predict(self, X: Array) -> Array:
        with single_thread():
            return np.asarray(self.model_.predict(X))

    def predict_proba(self, X: Array) -> Array | None:
        """Membership probabilities (GMM), else None."""
        return np.asarray(self.model_.predict_proba(X)) if self.method == "gmm" else None

    def _fit_kmeans(self, X: Array) -> None:
        if len(X) > MINIBATCH_ABOVE:
            self.model_: Any = MiniBatchKMeans(self.n_clusters, n_init=3, batch_size=4096,
                                               random_state=self.random_state)
        else:
            self.model_ = KMeans(self.n_clusters, n_init=4, random_state=self.random_state)
        self.labels_ = np.asarray(self.model_.fit_predict(X))

    def _fit_gmm(self, X: Array) -> None:
        self.model_ = GaussianMixture(self.n_clusters, covariance_type="full", reg_covar=1e-4,
                                      random_state=self.random_state).fit(X)
        self.probabilities_ = np.asarray(self.model_.predict_proba(X))
        self.labels_ = self.probabilities_.argmax(axis=1)

    def _fit_ward(self, X: Array) -> None:
        rows = _sample_rows(len(X), WARD_MAX, self.random_state)
        self.tree_ = linkage(X[rows], method="ward")
        niche = fcluster(self.tree_, t=self.n_clusters, criterion="maxclust") - 1
        self.model_ = _NearestCentre(X[rows], niche)
        self.labels_ = self.model_.predict(X)
        if self.n_broad:
            broad = fcluster(self.tree_, t=min(self.n_broad, self.n_clusters), criterion="maxclust") - 1
            self.broad_of_ = {int(a): int(b) for a, b in zip(niche, broad, strict=True)}
            self.broad_labels_ = np.array([self.broad_of_[int(label)] for label in self.labels_])

    def _fit_hdbscan(self, X: Array) -> None:
        rows = _sample_rows(len(X), HDBSCAN_MAX, self.random_state)
        size = self.min_cluster_size or max(10, len(rows) // 100)
        fitted = HDBSCAN(min_cluster_size=size, copy=True).fit(X[rows])
        labels = np.asarray(fitted.labels_)
        if (labels != NOISE).sum() == 0:
            raise ConfigError(f"HDBSCAN found no dense group with min_cluster_size={size}: every "
                              "shopper is noise.", hint="Lower the minimum cluster size or use "
                              "K-Means.", title="No clusters found")
        self.model_ = _NearestCentre(X[rows], labels, neighbours=15)
        self.labels_ = self.model_.predict(X)
        self.labels_[rows] = labels


def single_thread() -> Any:
    """One BLAS and one OpenMP thread for fitting and scoring.

    Multi-threaded BLAS on these small matrices is up to 40x slower on a busy 2-core machine
    (threads fight over cores), and so is scikit-learn's OpenMP Lloyd loop: measured here with
    other work running, K-Means (k = 5, 1,500 x 6) took 3.0 s with BLAS alone limited and
    0.09 s with both limited.
    """
    global _CONTROLLER
    if _CONTROLLER is None:  # finding the libraries costs ~12 ms; do it once per process
        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER.limit(limits=1)


_CONTROLLER: ThreadpoolController | None = None


class _NearestCentre:
    """Assign new rows like their nearest fitted neighbours (Ward, HDBSCAN have no predict)."""

    def __init__(self, X: Array, labels: Array, neighbours: int = 1) -> None:
        self.centres = {int(k): X[labels == k].mean(axis=0) for k in np.unique(labels) if k != NOISE}
        self.knn = (KNeighborsClassifier(n_neighbors=min(neighbours, len(X))).fit(X, labels)
                    if neighbours > 1 else None)

    def predict(self, X: Array) -> Array:
        if self.knn is not None:
            return np.asarray(self.knn.predict(X))
        keys = np.array(sorted(self.centres))
        centres = np.stack([self.centres[k] for k in keys])
        distances = ((X[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
        return np.asarray(keys[distances.argmin(axis=1)])


def check_method(method: str) -> None:
    if method not in METHODS:
        raise ConfigError(f"Unknown clustering method {method!r}.",
                          hint=f"Use one of: {', '.join(METHODS)} (or rules).", title="Invalid method")


def check_k(k: int, n: int) -> None:
    if k < 2:
        raise ConfigError(f"k = {k}: at least 2 segments are needed.", hint="Choose k of 2 or more.",
                          title="Invalid number of segments")
    if k >= n:
        raise ConfigError(f"k = {k} segments, but only {n} shoppers have a profile.",
                          hint=f"Choose k below {n}, or load more data.",
                          title="Too many segments")


SWEEP_FIT_MAX = 10_000
STABILITY_RESAMPLES = 2
STABILITY_FRACTION = 0.7
STABILITY_MAX = 4_000  # refits for stability use at most this many shoppers
# Silhouette is O(n^2): the sweep compares k on 2,000 shoppers (standard error of the mean
# silhouette about 0.005 there); the final run is scored on ``sample_size``.
SWEEP_SILHOUETTE_MAX = 2_000
CRITERION = "silhouette among non-degenerate, stable k"


def sweep_k(X: Array, method: str = "kmeans", ks: Iterable[int] = DEFAULT_KS,
            sample_size: int = 5_000, random_state: int = 0,
            progress: Callable[[float, str], None] | None = None,
            fit_max: int = SWEEP_FIT_MAX) -> Sweep:
    """Fit and score each k, reject degenerate sizes, measure stability, and choose.

    Silhouette is O(n^2), so it is computed on ``sample_size`` shoppers (stated in the result).
    Above ``fit_max`` shoppers the sweep fits on a random sample of that size: the choice of k
    does not need everyone, and the final model is then fitted on all.
    """
    X = X[_sample_rows(len(X), fit_max, random_state)]
    check_method(method)
    if method == "hdbscan":
        raise ConfigError("HDBSCAN chooses the number of segments itself; there is no k to sweep.",
                          hint="Tune the minimum cluster size instead.", title="No k sweep")
    ks = [k for k in ks if 2 <= k < len(X)]
    if not ks:
        raise ConfigError(f"Only {len(X)} shoppers: too few to compare numbers of segments.",
                          hint="Load more data.", title="Too few shoppers")
    rows = []
    for i, k in enumerate(ks):
        if progress:
            progress(0.9 * i / len(ks), f"Fitting k = {k}")
        rows.append(_sweep_row(X, method, k, min(sample_size, SWEEP_SILHOUETTE_MAX), random_state))
    choice = autok.choose(rows)
    reference = _shuffled_silhouette(X, method, choice.k, min(sample_size, SWEEP_SILHOUETTE_MAX),
                                     random_state)
    chosen = next(r for r in rows if r.k == choice.k)
    verdict, note = autok.structure(chosen.silhouette, reference)
    return Sweep(method, tuple(rows), choice.k, CRITERION,
                 min(sample_size, SWEEP_SILHOUETTE_MAX, len(X)), len(X),
                 choice.reason, verdict, note, reference)


def _sweep_row(X: Array, method: str, k: int, sample_size: int, random_state: int) -> SweepRow:
    model = Clusterer(method, n_clusters=k, random_state=random_state).fit(X)
    row = score(X, model, sample_size, random_state)
    low, high = autok.shares(model.labels_)
    return replace(row, k=k, min_share=low, max_share=high, rejected=autok.size_problem(model.labels_),
                   stability=_stability(X, method, k, random_state))


def _stability(X: Array, method: str, k: int, random_state: int) -> float:
    """Mean ARI between the fit on a sample and refits on subsamples of it (all predicting it)."""
    rows = _sample_rows(len(X), STABILITY_MAX, random_state + 1)
    sample = X[rows]
    base = Clusterer(method, n_clusters=k, random_state=random_state).fit(sample).labels_
    rng = np.random.default_rng(random_state)
    size = max(k + 1, int(len(sample) * STABILITY_FRACTION))
    scores = []
    for i in range(STABILITY_RESAMPLES):
        part = rng.choice(len(sample), size=size, replace=False)
        refit = Clusterer(method, n_clusters=k, random_state=random_state + i + 1).fit(sample[part])
        scores.append(autok.agreement(base, refit.predict(sample)))
    return round(float(np.mean(scores)), 4)


def _shuffled_silhouette(X: Array, method: str, k: int, sample_size: int, random_state: int) -> float:
    shuffled = autok.column_shuffled(X, random_state)
    model = Clusterer(method, n_clusters=k, random_state=random_state).fit(shuffled)
    return score(shuffled, model, sample_size, random_state).silhouette


def score(X: Array, model: Clusterer, sample_size: int = 5_000, random_state: int = 0) -> SweepRow:
    """Silhouette (sampled), Davies-Bouldin, Calinski-Harabasz and BIC (mixtures) of a fit."""
    labels = model.labels_
    keep = labels != NOISE
    Xk, lk = X[keep], labels[keep]
    if len(set(lk.tolist())) < 2:
        return SweepRow(model.n_clusters_, float("nan"), float("nan"), float("nan"), None)
    sample = min(sample_size, len(Xk))
    with single_thread():
        return _score(X, Xk, lk, model, sample, random_state)


def _score(X: Array, Xk: Array, lk: Array, model: Clusterer, sample: int, random_state: int) -> SweepRow:
    bic = float(model.model_.bic(X)) if model.method == "gmm" else None
    return SweepRow(
        k=model.n_clusters_,
        silhouette=float(silhouette_score(Xk, lk, sample_size=sample, random_state=random_state)),
        davies_bouldin=float(davies_bouldin_score(Xk, lk)),
        calinski_harabasz=float(calinski_harabasz_score(Xk, lk)),
        bic=bic)


def _sample_rows(n: int, limit: int, random_state: int) -> Array:
    if n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng(random_state).choice(n, size=limit, replace=False))
