"""Item-kNN collaborative filtering: "shoppers who interacted with X also interacted with Y".

A thin layer over :mod:`implicit`'s item-item recommenders (cosine, BM25 or TF-IDF weighted
co-occurrence, top-K neighbours per item). Scores are the shopper's interaction weights
times the neighbour similarities, so every recommendation traces back to one of their items.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from implicit.nearest_neighbours import BM25Recommender, CosineRecommender, TFIDFRecommender

from analytics.errors import ConfigError
from analytics.recommend.base import Recommender, best_contributor
from analytics.recommend.catalogue import MODEL_CATALOGUE
from analytics.recommend.interactions import FloatArray, IntArray, Interactions, ItemCatalog
from analytics.recommend.mf import blas_single_thread, resolve_threads

SIMILARITIES = {"cosine": CosineRecommender, "bm25": BM25Recommender, "tfidf": TFIDFRecommender}


class ItemKNN(Recommender):
    """Item-to-item nearest neighbours on the interaction matrix (implicit).

    Parameters
    ----------
    neighbours : int
        Neighbours kept per item (implicit's ``K``).
    similarity : {"cosine", "bm25", "tfidf"}
        How co-occurrence is weighted.
    num_threads : int
        Threads for the fit; 0 picks up to 4 of this machine's cores.

    Examples
    --------
    >>> model = ItemKNN(neighbours=50).fit(inter, items)          # doctest: +SKIP
    >>> model.similar_items("i0006", n=5)                          # doctest: +SKIP
    """

    name = "item_knn"
    label = MODEL_CATALOGUE["item_knn"].label
    description = MODEL_CATALOGUE["item_knn"].description

    def __init__(self, *, neighbours: int = 50, similarity: str = "cosine", num_threads: int = 0,
                 exclude_purchased: bool = True, max_per_category: int | None = None,
                 cold_start_events: int = 2, random_state: int = 0) -> None:
        self.neighbours = neighbours
        self.similarity = similarity
        self.num_threads = num_threads
        self.exclude_purchased = exclude_purchased
        self.max_per_category = max_per_category
        self.cold_start_events = cold_start_events
        self.random_state = random_state

    def _fit(self, interactions: Interactions, items: ItemCatalog) -> None:
        if self.similarity not in SIMILARITIES:
            raise ConfigError(f"similarity={self.similarity!r} is not one of "
                              f"{', '.join(SIMILARITIES)}.", hint="Use cosine (the default).")
        with blas_single_thread():
            model = SIMILARITIES[self.similarity](K=self.neighbours,
                                                  num_threads=resolve_threads(self.num_threads))
            model.fit(interactions.matrix, show_progress=False)
        self.model_ = model
        self.similarity_ = sp.csr_matrix(model.similarity, dtype=np.float64)
        self._columns: sp.csc_matrix | None = None  # built on the first explanation

    def _column(self, item: int) -> FloatArray:
        if self._columns is None:
            self._columns = self.similarity_.tocsc()
        return np.asarray(self._columns[:, item].todense(), dtype=np.float64).ravel()

    def _scores(self, rows: IntArray) -> FloatArray:
        product = self.interactions_.matrix[rows] @ self.similarity_
        return np.asarray(product.todense(), dtype=np.float64)

    def _explain_row(self, row: int, item: int) -> str:
        inter = self.interactions_
        start, end = inter.matrix.indptr[row], inter.matrix.indptr[row + 1]
        mine = inter.matrix.indices[start:end]
        seen = np.flatnonzero(mine == item)
        if seen.size and not inter.purchased[row, item] > 0:
            # h15: an item the shopper looked at moments ago is a reminder, and says so.
            from analytics.labels import duration  # labels imports the recommend catalogue

            ago = duration(float(inter.last_age_days[start + seen[0]]) * 86_400)
            return f"because you viewed this item {ago} ago and have not bought it yet"
        column = self._column(item)
        source = best_contributor(inter.matrix.data[start:end] * column[mine], mine)
        if source is None:
            return self.cold_start_.explain(row, item)
        if inter.purchased[row, source] > 0:
            return f"bought together with {self.title(source)}"
        return f"because you viewed {self.title(source)}"

    def _similar(self, item: int) -> FloatArray:
        row = np.asarray(self.similarity_[item].todense(), dtype=np.float64).ravel()
        return np.maximum(row, self._column(item))
