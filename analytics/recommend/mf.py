"""Matrix factorisation with :mod:`implicit`: ALS (confidence-weighted) and BPR (pairwise ranking).

Shoppers and items get latent factor vectors; a score is their dot product. Reasons point at
the shopper's own item whose factors are closest to the recommended item's.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import threadpoolctl
from implicit.cpu.als import AlternatingLeastSquares
from implicit.cpu.bpr import BayesianPersonalizedRanking
from implicit.utils import ParameterWarning

from analytics.recommend.base import Recommender, best_contributor
from analytics.recommend.catalogue import MODEL_CATALOGUE
from analytics.recommend.interactions import FloatArray, IntArray, Interactions, ItemCatalog

MAX_DEFAULT_THREADS = 4


def resolve_threads(num_threads: int) -> int:
    """0 means "use the machine": up to MAX_DEFAULT_THREADS cores (the server is shared)."""
    return num_threads if num_threads > 0 else min(MAX_DEFAULT_THREADS, os.cpu_count() or 1)


@contextmanager
def blas_single_thread() -> Iterator[None]:
    """implicit's own threads do the work; a BLAS thread pool on top only slows it down.

    Also silences implicit's notice that it converted a matrix to CSR internally.
    """
    with threadpoolctl.threadpool_limits(1, "blas"), warnings.catch_warnings():
        warnings.simplefilter("ignore", ParameterWarning)
        yield


class _Factorisation(Recommender):
    """Shared scoring and reasons for factor models (``model_`` has user/item factors)."""

    model_: Any

    def _fit_model(self, make: Callable[[], Any], interactions: Interactions) -> None:
        with blas_single_thread():
            model = make()
            model.fit(interactions.matrix.astype(np.float32, copy=False), show_progress=False)
        self.model_ = model
        self.user_factors_ = np.asarray(model.user_factors, dtype=np.float64)
        self.item_factors_ = np.asarray(model.item_factors, dtype=np.float64)
        norms = np.linalg.norm(self.item_factors_, axis=1, keepdims=True)
        self.unit_items_ = self.item_factors_ / np.where(norms > 0, norms, 1.0)

    def _scores(self, rows: IntArray) -> FloatArray:
        return self.user_factors_[rows] @ self.item_factors_.T

    def _explain_row(self, row: int, item: int) -> str:
        inter = self.interactions_
        start, end = inter.matrix.indptr[row], inter.matrix.indptr[row + 1]
        mine = inter.matrix.indices[start:end]
        closeness = self.unit_items_[mine] @ self.unit_items_[item]
        source = best_contributor(closeness * np.sqrt(inter.matrix.data[start:end]), mine)
        if source is None:
            return "picked for your taste profile"
        if inter.purchased[row, source] > 0:
            return f"because you bought {self.title(source)}"
        return f"because you viewed {self.title(source)}"

    def _similar(self, item: int) -> FloatArray:
        return np.asarray(self.unit_items_ @ self.unit_items_[item], dtype=np.float64)


class ALS(_Factorisation):
    """Alternating least squares for implicit feedback (implicit, CPU).

    Parameters
    ----------
    factors, regularization, alpha, iterations : as in implicit's AlternatingLeastSquares
    num_threads : int
        0 picks up to 4 cores; results do not depend on it.

    Examples
    --------
    >>> ALS(factors=32, random_state=0).fit(inter, items).recommend(["u1"], 10)   # doctest: +SKIP
    """

    name = "als"
    label = MODEL_CATALOGUE["als"].label
    description = MODEL_CATALOGUE["als"].description

    def __init__(self, *, factors: int = 32, regularization: float = 0.05, alpha: float = 2.0,
                 iterations: int = 15, num_threads: int = 0, exclude_purchased: bool = True,
                 max_per_category: int | None = None, cold_start_events: int = 2,
                 random_state: int = 0) -> None:
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.num_threads = num_threads
        self.exclude_purchased = exclude_purchased
        self.max_per_category = max_per_category
        self.cold_start_events = cold_start_events
        self.random_state = random_state

    def _fit(self, interactions: Interactions, items: ItemCatalog) -> None:
        self._fit_model(lambda: AlternatingLeastSquares(
            factors=self.factors, regularization=self.regularization, alpha=self.alpha,
            iterations=self.iterations, num_threads=resolve_threads(self.num_threads),
            random_state=self.random_state), interactions)


class BPR(_Factorisation):
    """Bayesian personalised ranking (implicit, CPU).

    ``num_threads`` defaults to 1: implicit's BPR updates factors lock-free across threads,
    so more threads are faster but no longer give the same factors for the same seed.
    """

    name = "bpr"
    label = MODEL_CATALOGUE["bpr"].label
    description = MODEL_CATALOGUE["bpr"].description

    def __init__(self, *, factors: int = 32, learning_rate: float = 0.05,
                 regularization: float = 0.01, iterations: int = 60, num_threads: int = 1,
                 exclude_purchased: bool = True, max_per_category: int | None = None,
                 cold_start_events: int = 2, random_state: int = 0) -> None:
        self.factors = factors
        self.learning_rate = learning_rate
        self.regularization = regularization
        self.iterations = iterations
        self.num_threads = num_threads
        self.exclude_purchased = exclude_purchased
        self.max_per_category = max_per_category
        self.cold_start_events = cold_start_events
        self.random_state = random_state

    def _fit(self, interactions: Interactions, items: ItemCatalog) -> None:
        self._fit_model(lambda: BayesianPersonalizedRanking(
            factors=self.factors, learning_rate=self.learning_rate,
            regularization=self.regularization, iterations=self.iterations,
            num_threads=resolve_threads(self.num_threads), random_state=self.random_state),
            interactions)
