"""Hybrid: a weighted blend of the other models' scores, weights tuned on a validation split.

Each component's scores are scaled to 0..1 per shopper, then summed with weights. Unless
weights are given, they are tuned by coordinate ascent on NDCG@10 over a temporal
validation split of the training data: the (shopper, item) pairs first seen in the last
``validation_days`` are held out, the components are fitted on the rest, and the weights
that best rank the held-out purchases win. The components are then refitted on everything.
A reason comes from the component that contributed most to the item's blended score.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from analytics.errors import ConfigError
from analytics.recommend import metrics
from analytics.recommend.base import Recommender, minmax_rows, seen_matrix
from analytics.recommend.catalogue import MODEL_CATALOGUE
from analytics.recommend.content import ContentBased
from analytics.recommend.interactions import FloatArray, IntArray, Interactions, ItemCatalog, ObjArray
from analytics.recommend.knn import ItemKNN
from analytics.recommend.mf import ALS, BPR
from analytics.recommend.popularity import Popularity, SegmentPopularity, Trending
from analytics.recommend.repeat import BuyAgain
from analytics.recommend.sequential import NextItem

COMPONENTS: dict[str, type[Recommender]] = {
    cls.name: cls for cls in (Popularity, SegmentPopularity, Trending, ItemKNN, ALS, BPR,
                              ContentBased, NextItem, BuyAgain)
}
DEFAULT_COMPONENTS = ("item_knn", "als", "content", "sequential", "segment_popularity")
WEIGHT_GRID = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)
TUNE_K = 10
_MIN_VALIDATION_USERS = 20
_POOL_DEPTH = 50
_TUNE_CELLS = 30_000_000  # validation users × items × components held in memory at most


class Hybrid(Recommender):
    """Blend of normalised component scores.

    Parameters
    ----------
    components : sequence of model names
        Which models to blend (see ``COMPONENTS``).
    weights : mapping name -> weight, optional
        Fixed weights; default: tuned on a validation split.
    validation_days : float
        Pairs first seen in this many final days of the training data are the validation set.
    tune_users : int
        At most this many validation shoppers are scored while tuning.

    Examples
    --------
    >>> model = Hybrid(random_state=0).fit(inter, items)               # doctest: +SKIP
    >>> model.weights_                                                  # doctest: +SKIP
    {'item_knn': 2.0, 'als': 0.5, 'content': 0.25, 'sequential': 1.0, 'segment_popularity': 0.5}
    """

    name = "hybrid"
    label = MODEL_CATALOGUE["hybrid"].label
    description = MODEL_CATALOGUE["hybrid"].description

    def __init__(self, *, components: Sequence[str] = DEFAULT_COMPONENTS,
                 weights: Mapping[str, float] | None = None, validation_days: float = 30.0,
                 tune_users: int = 1000, exclude_purchased: bool = True,
                 max_per_category: int | None = None, cold_start_events: int = 2,
                 random_state: int = 0) -> None:
        self.components = components
        self.weights = weights
        self.validation_days = validation_days
        self.tune_users = tune_users
        self.exclude_purchased = exclude_purchased
        self.max_per_category = max_per_category
        self.cold_start_events = cold_start_events
        self.random_state = random_state

    def _make(self) -> dict[str, Recommender]:
        unknown = [c for c in self.components if c not in COMPONENTS]
        if unknown or not self.components:
            raise ConfigError(f"Unknown hybrid component(s): {', '.join(unknown) or '(none)'}.",
                              hint=f"Choose from {', '.join(COMPONENTS)}.")
        return {name: COMPONENTS[name](random_state=self.random_state)  # type: ignore[call-arg]
                for name in self.components}

    def _fit(self, interactions: Interactions, items: ItemCatalog) -> None:
        if self.weights is not None:
            self.weights_ = {c: float(self.weights.get(c, 0.0)) for c in self.components}
            self.tuning_ = {"tuned": False, "note": "weights given"}
        else:
            self.weights_, self.tuning_ = self._tune(interactions, items)
        self.models_ = {name: model.fit(interactions, items) for name, model in self._make().items()
                        if self.weights_[name] > 0}

    # -- tuning -----------------------------------------------------------------------------
    def _tune(self, inter: Interactions,
              items: ItemCatalog) -> tuple[dict[str, float], dict[str, Any]]:
        equal = {c: 1.0 for c in self.components}
        earlier, held = inter.without_recent(self.validation_days)
        targets = held.multiply(held >= 2).tocsr()
        if _users_with(targets) < _MIN_VALIDATION_USERS:
            targets = held
        if _users_with(targets) < _MIN_VALIDATION_USERS or earlier.matrix.nnz == 0:
            return equal, {"tuned": False, "note": "too little history for a validation split"}
        models = {n: m.fit(earlier, items) for n, m in self._make().items()}
        probe = next(iter(models.values()))
        rows = np.flatnonzero((np.diff(targets.indptr) > 0)
                              & ~probe.is_cold(np.arange(inter.n_users)))
        if len(rows) < _MIN_VALIDATION_USERS:
            return equal, {"tuned": False, "note": f"only {len(rows)} validation shoppers"}
        limit = max(_MIN_VALIDATION_USERS,
                    min(self.tune_users, _TUNE_CELLS // (inter.n_items * len(models))))
        rng = np.random.default_rng(self.random_state)
        rows = np.sort(rng.choice(rows, size=min(limit, len(rows)), replace=False))
        blocks = {n: minmax_rows(m._scores(rows)) for n, m in models.items()}
        weights, best = _coordinate_ascent(blocks, rows, seen_matrix(earlier, self.exclude_purchased),
                                           targets)
        return weights, {"tuned": True, "validation_users": int(len(rows)),
                         "validation_ndcg": best, "validation_days": self.validation_days}

    # -- scoring and reasons ----------------------------------------------------------------
    def _blocks(self, rows: IntArray) -> dict[str, FloatArray]:
        return {n: self.weights_[n] * minmax_rows(m._scores(rows)) for n, m in self.models_.items()}

    def _scores(self, rows: IntArray) -> FloatArray:
        return np.asarray(np.sum(list(self._blocks(rows).values()), axis=0), dtype=np.float64)

    def _reasons(self, rows: IntArray, top: IntArray, cold: bool) -> ObjArray:
        if cold:
            return super()._reasons(rows, top, cold)
        blocks = self._blocks(rows)
        names = list(blocks)
        stacked = np.stack([blocks[n] for n in names])  # components × rows × items
        out = np.full(top.shape, None, dtype=object)
        for i, row in enumerate(rows):
            for j, item in enumerate(top[i]):
                if item >= 0:
                    leader = names[int(np.argmax(stacked[:, i, item]))]
                    out[i, j] = self.models_[leader]._explain_row(int(row), int(item))
        return out

    def _explain_row(self, row: int, item: int) -> str:
        return str(self._reasons(np.array([row]), np.array([[item]]), False)[0, 0])

    def _similar(self, item: int) -> FloatArray | None:
        for name in ("item_knn", "content", "als"):
            if name in self.models_:
                return self.models_[name]._similar(item)
        return None


def _users_with(matrix: sp.csr_matrix) -> int:
    return int((np.diff(matrix.indptr) > 0).sum())


def _candidates(blocks: dict[str, FloatArray], truth: npt.NDArray[np.bool_]) -> IntArray:
    """Per validation shopper, the items worth ranking while tuning: each component's top
    items and the held-out ones (rows padded by repeating an entry). Other items cannot
    reach a blended top 10 in practice; leaving them out keeps tuning fast on big catalogues."""
    depth = min(_POOL_DEPTH, truth.shape[1])
    tops = [np.argpartition(-block, depth - 1, axis=1)[:, :depth] for block in blocks.values()]
    held = [np.flatnonzero(row) for row in truth]
    width = max(len(h) for h in held)
    padded = np.array([np.resize(h, width) if len(h) else np.resize(tops[0][i], width)
                       for i, h in enumerate(held)], dtype=np.int64)
    return np.sort(np.hstack([*tops, padded]), axis=1)


def _coordinate_ascent(blocks: dict[str, FloatArray], rows: IntArray,
                       purchased: sp.csr_matrix | None,
                       targets: sp.csr_matrix) -> tuple[dict[str, float], float]:
    """Weights from WEIGHT_GRID that maximise validation NDCG@TUNE_K, two passes."""
    names = list(blocks)
    truth = np.asarray((targets[rows] > 0).todense())
    n_relevant = truth.sum(axis=1)
    cand = _candidates(blocks, truth)
    stack = np.stack([np.take_along_axis(blocks[n], cand, axis=1) for n in names])
    excluded = np.zeros(cand.shape, dtype=bool)
    excluded[:, 1:] = cand[:, 1:] == cand[:, :-1]  # a repeated candidate counts once
    if purchased is not None:
        excluded |= np.take_along_axis(np.asarray(purchased[rows].todense()) > 0, cand, axis=1)
    relevant = np.take_along_axis(truth, cand, axis=1)
    k = min(TUNE_K, cand.shape[1])

    def objective(weights: dict[str, float]) -> float:
        if not any(weights.values()):
            return -1.0
        blend = np.tensordot(np.array([weights[n] for n in names]), stack, axes=1)
        blend[excluded] = -np.inf
        top = np.argsort(-blend, axis=1, kind="stable")[:, :k]
        hits = np.take_along_axis(relevant, top, axis=1) & np.isfinite(
            np.take_along_axis(blend, top, axis=1))
        return float(metrics.ndcg(hits, n_relevant).mean())

    weights = {n: 1.0 for n in names}
    best = objective(weights)
    for _ in range(2):
        for name in names:
            for value in WEIGHT_GRID:
                trial = {**weights, name: value}
                score = objective(trial)
                if score > best + 1e-9:
                    weights, best = trial, score
    return weights, best
