"""Sequential "next item": what shoppers view or buy right after an item.

Transitions between consecutive distinct items of one shopper (at most a couple of days
apart) are counted in DuckDB; here each item's row is normalised into next-item
probabilities, and a shopper's scores sum them over their last few items, the latest
weighing most.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from analytics.recommend.base import Recommender, best_contributor
from analytics.recommend.catalogue import MODEL_CATALOGUE
from analytics.recommend.interactions import FloatArray, IntArray, Interactions, ItemCatalog


class NextItem(Recommender):
    """First-order item transitions from browse-to-purchase sequences.

    Parameters
    ----------
    smoothing : float
        Added to every transition count's row total, so rare items do not get 100% links.

    Examples
    --------
    >>> NextItem().fit(inter, items).similar_items("i0006")          # doctest: +SKIP
    """

    name = "sequential"
    label = MODEL_CATALOGUE["sequential"].label
    description = MODEL_CATALOGUE["sequential"].description

    def __init__(self, *, smoothing: float = 5.0, exclude_purchased: bool = True,
                 max_per_category: int | None = None, cold_start_events: int = 2,
                 random_state: int = 0) -> None:
        self.smoothing = smoothing
        self.exclude_purchased = exclude_purchased
        self.max_per_category = max_per_category
        self.cold_start_events = cold_start_events
        self.random_state = random_state

    def _fit(self, interactions: Interactions, items: ItemCatalog) -> None:
        counts = sp.csr_matrix(interactions.transitions, dtype=np.float64)
        totals = np.asarray(counts.sum(axis=1)).ravel() + self.smoothing
        self.next_ = sp.csr_matrix(sp.diags(1.0 / np.maximum(totals, 1e-12)) @ counts)
        self.next_csc_ = self.next_.tocsc()

    def _scores(self, rows: IntArray) -> FloatArray:
        product = self.interactions_.recent[rows] @ self.next_
        return np.asarray(product.todense(), dtype=np.float64)

    def _explain_row(self, row: int, item: int) -> str:
        recent = self.interactions_.recent
        start, end = recent.indptr[row], recent.indptr[row + 1]
        mine = recent.indices[start:end]
        column = np.asarray(self.next_csc_[:, item].todense()).ravel()
        source = best_contributor(recent.data[start:end] * column[mine], mine)
        if source is None:
            return self.cold_start_.explain(row, item)
        return f"shoppers often go on to it after {self.title(source)}"

    def _similar(self, item: int) -> FloatArray:
        return np.asarray(self.next_[item].todense(), dtype=np.float64).ravel()
