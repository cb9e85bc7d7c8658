"""Popularity: best sellers overall, in the shopper's segment, and trending (recent, decayed).

Also the cold-start fallback every model uses for unknown or 1–2-event shoppers: popular in
their segment when it is known, else with shoppers on the same device, else trending.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from analytics.recommend.base import Recommender
from analytics.recommend.catalogue import MODEL_CATALOGUE
from analytics.recommend.interactions import FloatArray, IntArray, Interactions, ItemCatalog, ObjArray

# A group (segment, device) needs this many shoppers before its own popularity is trusted.
MIN_GROUP_USERS = 20
TRENDING_HALF_LIFE_DAYS = 7.0


def _normalised(vector: FloatArray) -> FloatArray:
    top = float(vector.max()) if vector.size else 0.0
    return vector / top if top > 0 else np.zeros_like(vector)


def _item_totals(matrix: sp.csr_matrix) -> FloatArray:
    return np.asarray(matrix.sum(axis=0), dtype=np.float64).ravel()


def trending_scores(inter: Interactions, half_life_days: float) -> FloatArray:
    """Item totals with each entry decayed by the age of its last interaction."""
    decayed = inter.raw.copy()
    decayed.data = decayed.data * np.power(0.5, inter.last_age_days / half_life_days)
    return _item_totals(decayed)


class GroupPopularity:
    """Per-group item popularity (one row per group label) from a label per shopper."""

    def __init__(self, labels: ObjArray, raw: sp.csr_matrix, min_users: int) -> None:
        known = np.array([label is not None for label in labels])
        names, codes = np.unique(labels[known].astype(str), return_inverse=True)
        members = sp.csr_matrix((np.ones(len(codes)), (codes, np.flatnonzero(known))),
                                shape=(len(names), raw.shape[0]))
        sizes = np.bincount(codes, minlength=len(names))
        self.names = names
        self.usable = sizes >= min_users
        self.table = np.asarray((members @ raw).todense(), dtype=np.float64)
        self.code = {name: i for i, name in enumerate(names)}

    def row(self, label: Any) -> FloatArray | None:
        code = self.code.get(str(label)) if label is not None else None
        if code is None or not self.usable[code]:
            return None
        return _normalised(self.table[code])


class ColdStart:
    """The fallback for shoppers a model cannot personalise for (no parameters)."""

    def fit_groups(self, inter: Interactions) -> ColdStart:
        self.inter_ = inter
        self.global_ = _normalised(_item_totals(inter.raw))
        self.trending_ = _normalised(trending_scores(inter, TRENDING_HALF_LIFE_DAYS))
        self.segments_ = GroupPopularity(inter.segments, inter.raw, MIN_GROUP_USERS)
        self.devices_ = GroupPopularity(inter.devices, inter.raw, MIN_GROUP_USERS)
        return self

    def _source(self, row: int) -> tuple[str, FloatArray]:
        if row >= 0:
            segment = self.inter_.segments[row]
            vector = self.segments_.row(segment)
            if vector is not None:
                return f"popular in your segment '{segment}'", vector
            device = self.inter_.devices[row]
            vector = self.devices_.row(device)
            if vector is not None:
                return f"popular with {device} shoppers", vector
        return "trending now", self.trending_

    def scores(self, rows: IntArray) -> FloatArray:
        # Blend in a little trending so that small groups still rank recent hits higher.
        return np.vstack([self._source(int(r))[1] + 0.1 * self.trending_ for r in rows]) \
            if len(rows) else np.zeros((0, len(self.global_)))

    def explain(self, row: int, item: int) -> str:
        return self._source(row)[0]


class Popularity(Recommender):
    """Best sellers across the shop (weighted interactions, no decay), same list for all.

    Examples
    --------
    >>> ids, scores = Popularity().fit(inter, items).recommend(["u1"], k=5)   # doctest: +SKIP
    """

    name = "popularity"
    label = MODEL_CATALOGUE["popularity"].label
    description = MODEL_CATALOGUE["popularity"].description

    def __init__(self, *, exclude_purchased: bool = True, max_per_category: int | None = None,
                 cold_start_events: int = 2, random_state: int = 0) -> None:
        self.exclude_purchased = exclude_purchased
        self.max_per_category = max_per_category
        self.cold_start_events = cold_start_events
        self.random_state = random_state

    def _fit(self, interactions: Interactions, items: ItemCatalog) -> None:
        self.scores_ = _normalised(_item_totals(interactions.raw))

    def _scores(self, rows: IntArray) -> FloatArray:
        return np.tile(self.scores_, (len(rows), 1))

    def _explain_row(self, row: int, item: int) -> str:
        return "popular across the shop (a best seller)"


class SegmentPopularity(Popularity):
    """What shoppers of the same segment interact with most (falls back to best sellers)."""

    name = "segment_popularity"
    label = MODEL_CATALOGUE["segment_popularity"].label
    description = MODEL_CATALOGUE["segment_popularity"].description

    def _fit(self, interactions: Interactions, items: ItemCatalog) -> None:
        super()._fit(interactions, items)
        self.groups_ = GroupPopularity(interactions.segments, interactions.raw, MIN_GROUP_USERS)

    def _row(self, row: int) -> FloatArray:
        vector = self.groups_.row(self.interactions_.segments[row])
        return vector if vector is not None else self.scores_

    def _scores(self, rows: IntArray) -> FloatArray:
        return np.vstack([self._row(int(r)) for r in rows])

    def _explain_row(self, row: int, item: int) -> str:
        segment = self.interactions_.segments[row]
        if self.groups_.row(segment) is not None:
            return f"popular in your segment '{segment}'"
        return "popular across the shop (a best seller)"


class Trending(Popularity):
    """What is popular lately: interactions decayed with a short half-life."""

    name = "trending"
    label = MODEL_CATALOGUE["trending"].label
    description = MODEL_CATALOGUE["trending"].description

    def __init__(self, *, half_life_days: float = TRENDING_HALF_LIFE_DAYS,
                 exclude_purchased: bool = True, max_per_category: int | None = None,
                 cold_start_events: int = 2, random_state: int = 0) -> None:
        super().__init__(exclude_purchased=exclude_purchased, max_per_category=max_per_category,
                         cold_start_events=cold_start_events, random_state=random_state)
        self.half_life_days = half_life_days

    def _fit(self, interactions: Interactions, items: ItemCatalog) -> None:
        self.scores_ = _normalised(trending_scores(interactions, self.half_life_days))

    def _explain_row(self, row: int, item: int) -> str:
        return "trending now"
