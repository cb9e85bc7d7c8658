"""One interface for every recommender, and the product rules they all share.

A model only says how much each item suits a shopper (:meth:`Recommender._scores`) and why
(:meth:`Recommender._explain_row`). This base class does the rest the same way for all of
them: cold-start fallback for unknown or 1–2-event shoppers, leaving out items already bought
(switchable, for repeat-purchase shops), a per-category cap for diversity, top-k selection,
and readable reasons.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from analytics.errors import ConfigError, NotFoundError, ShopperLensError
from analytics.recommend.interactions import FloatArray, IntArray, Interactions, ItemCatalog, ObjArray

# What a list leaves out: items the shopper bought, items they interacted with in any way
# (viewed, rated, carted...), or nothing (repeat-purchase shops).
EXCLUDE_PURCHASED, EXCLUDE_ANY, EXCLUDE_NOTHING = "purchased", "any", "nothing"
EXCLUSIONS = (EXCLUDE_PURCHASED, EXCLUDE_ANY, EXCLUDE_NOTHING)
EXCLUSION_LABELS = {EXCLUDE_PURCHASED: "exclude purchased", EXCLUDE_ANY: "exclude any interaction",
                    EXCLUDE_NOTHING: "repeats allowed"}
# Rows scored at once: bounds the dense (rows × items) score block to ~32 MB.
_BLOCK_CELLS = 4_000_000
# Candidates looked at per requested slot when a category cap is on.
_CAP_POOL = 5


class Recommender(ABC):
    """Base class: ``fit(interactions, items)``, ``recommend(user_ids, k)``, ``explain``.

    Shared parameters (every subclass takes them as keywords):

    exclude_purchased : bool or str
        What to leave out of a shopper's list: ``"purchased"`` (or True) items they bought,
        ``"any"`` items they interacted with at all, ``"nothing"`` (or False) for
        repeat-purchase shops. The evaluation measures each and picks one per data set.
    max_per_category : int or None
        Diversity: at most this many items of one category in a list.
    cold_start_events : int
        Shoppers with at most this many events (or no item interactions) get the cold-start
        fallback: popular in their segment, else with their device, else trending.
    random_state : int
        Seed for anything random, so refits give the same lists.
    """

    name: ClassVar[str] = ""
    label: ClassVar[str] = ""
    description: ClassVar[str] = ""

    exclude_purchased: bool | str
    max_per_category: int | None
    cold_start_events: int
    random_state: int

    # -- what a model implements --------------------------------------------------------
    @abstractmethod
    def _fit(self, interactions: Interactions, items: ItemCatalog) -> None:
        """Learn from the interactions (set attributes ending in ``_``)."""

    @abstractmethod
    def _scores(self, rows: IntArray) -> FloatArray:
        """Dense scores (len(rows) × n_items) for known, warm shopper rows; higher is better."""

    @abstractmethod
    def _explain_row(self, row: int, item: int) -> str:
        """Why ``item`` suits the shopper at ``row`` (a sentence naming an item or a group)."""

    def _similar(self, item: int) -> FloatArray | None:
        """Item-to-item similarity of ``item`` to every item, or None if the model has none."""
        return None

    # -- the shared contract -----------------------------------------------------------------
    def fit(self, interactions: Interactions, items: ItemCatalog | None = None) -> Self:
        """Learn from ``interactions``; ``items`` gives titles and categories (default: ids)."""
        from analytics.recommend.popularity import ColdStart

        if interactions.n_items < 2:
            raise ShopperLensError("Recommendations need at least two items; the data has "
                                   f"{interactions.n_items}.", hint="Load more events or the "
                                   "catalogue.", title="Too few items")
        if interactions.matrix.nnz == 0:
            raise NotFoundError("No shopper interacted with any item.",
                                hint="Load events that carry item ids.")
        exclusion_mode(self.exclude_purchased)
        if self.max_per_category is not None and self.max_per_category < 1:
            raise ConfigError(f"max_per_category={self.max_per_category} must be at least 1.",
                              hint="Use e.g. 3, or leave it empty for no cap.")
        self.interactions_ = interactions
        self.items_ = items if items is not None else _bare_catalog(interactions)
        self.cold_start_ = ColdStart().fit_groups(interactions)
        self._fit(interactions, self.items_)
        return self

    def recommend(self, user_ids: Sequence[Any], k: int = 10) -> tuple[ObjArray, FloatArray]:
        """Top-``k`` item ids and scores per shopper, best first.

        Returns arrays of shape ``(len(user_ids), min(k, n_items))``; when rules leave fewer
        candidates, the rest of a row is ``None`` with score NaN.
        """
        ids, scores, _ = self.recommend_with_reasons(user_ids, k, reasons=False)
        return ids, scores

    def recommend_with_reasons(self, user_ids: Sequence[Any], k: int = 10, *,
                               reasons: bool = True) -> tuple[ObjArray, FloatArray, ObjArray]:
        """Like :meth:`recommend`, plus a reason string per recommended item."""
        self._check_fitted()
        if k < 1:
            raise ConfigError(f"k={k} must be at least 1.", hint="Ask for e.g. 10 items.")
        inter = self.interactions_
        width = min(k, inter.n_items)
        rows = inter.rows(user_ids)
        cold = self.is_cold(rows)
        ids = np.full((len(rows), width), None, dtype=object)
        scores = np.full((len(rows), width), np.nan)
        why = np.full((len(rows), width), None, dtype=object)
        for positions, is_cold in ((np.flatnonzero(~cold), False), (np.flatnonzero(cold), True)):
            step = max(1, _BLOCK_CELLS // inter.n_items)
            for start in range(0, len(positions), step):
                chunk = positions[start:start + step]
                top, top_scores = self._top(rows[chunk], width, is_cold)
                valid = top >= 0
                ids[chunk] = inter.item_ids[np.maximum(top, 0)]
                ids[chunk] = np.where(valid, ids[chunk], None)  # type: ignore[call-overload]
                scores[chunk] = np.where(valid, top_scores, np.nan)
                if reasons:
                    why[chunk] = self._reasons(rows[chunk], top, is_cold)
        return ids, scores, why

    def explain(self, user_id: Any, item_id: Any) -> str:
        """Why ``item_id`` would be shown to ``user_id``, in words a marketer can read."""
        self._check_fitted()
        item = self.interactions_.item_index.get(str(item_id))
        if item is None:
            raise NotFoundError(f"Item {item_id!r} is not in the catalogue.",
                                hint="Check the item id (items table or events).")
        rows = self.interactions_.rows([user_id])
        cold = bool(self.is_cold(rows)[0])
        return str(self._reasons(rows, np.array([[item]]), cold)[0, 0])

    def is_cold(self, rows: IntArray) -> npt.NDArray[np.bool_]:
        """True for unknown shoppers (row -1) and those with too little history."""
        inter = self.interactions_
        safe = np.maximum(rows, 0)
        cold = (rows < 0) | (inter.events[safe] <= self.cold_start_events) | (
            inter.items_per_user[safe] == 0)
        return np.asarray(cold, dtype=bool)

    def similar_items(self, item_id: Any, n: int = 10) -> list[tuple[str, float]]:
        """Items most like ``item_id`` by this model's notion of similarity."""
        self._check_fitted()
        item = self.interactions_.item_index.get(str(item_id))
        if item is None:
            raise NotFoundError(f"Item {item_id!r} is not in the catalogue.",
                                hint="Pick an item from the list.")
        similarity = self._similar(item)
        if similarity is None:
            raise ConfigError(f"The {self.label} model has no item-to-item similarity.",
                              hint="Use item-kNN, content, ALS or next-item for similar items.")
        similarity = np.asarray(similarity, dtype=np.float64).copy()
        similarity[item] = -np.inf
        order = np.argsort(-similarity, kind="stable")[:n]
        return [(str(self.interactions_.item_ids[j]), float(similarity[j]))
                for j in order if np.isfinite(similarity[j]) and similarity[j] > 0]

    # -- helpers ---------------------------------------------------------------------------
    def _top(self, rows: IntArray, width: int, cold: bool) -> tuple[IntArray, FloatArray]:
        scores = (self.cold_start_.scores(rows) if cold else self._scores(rows)).astype(np.float64)
        scores = scores + 1e-9 * self.cold_start_.global_  # popularity breaks ties, stably
        seen = self.seen(rows)
        if seen is not None:
            known = rows >= 0
            mask = seen[np.flatnonzero(known)].tocoo()
            scores[np.flatnonzero(known)[mask.row], mask.col] = -np.inf
        if self.max_per_category is None:
            return _top_k(scores, width)
        return _capped_top_k(scores, width, self.items_.categories, self.max_per_category)

    def seen(self, rows: IntArray) -> sp.csr_matrix | None:
        """The (rows × items) entries this model's exclusion leaves out, or None (nothing)."""
        source = seen_matrix(self.interactions_, self.exclude_purchased)
        return None if source is None else source[np.maximum(rows, 0)].tocsr()

    def _reasons(self, rows: IntArray, top: IntArray, cold: bool) -> ObjArray:
        out = np.full(top.shape, None, dtype=object)
        for i, row in enumerate(rows):
            for j, item in enumerate(top[i]):
                if item >= 0:
                    out[i, j] = (self.cold_start_.explain(int(row), int(item)) if cold
                                 else self._explain_row(int(row), int(item)))
        return out

    def _check_fitted(self) -> None:
        if not hasattr(self, "interactions_"):
            raise ShopperLensError(f"The {self.label or type(self).__name__} model is not trained.",
                                   hint="Call fit(interactions, items) first.",
                                   title="Model not trained")

    def title(self, item: int) -> str:
        return f"'{self.items_.title(item)}'"

    def get_params(self) -> dict[str, Any]:
        """The constructor parameters (scikit-learn style)."""
        import inspect

        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        return {name: getattr(self, name) for name in names}

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"


def exclusion_mode(value: bool | str) -> str:
    """``"purchased"`` / ``"any"`` / ``"nothing"`` from a bool (True = purchased) or name."""
    if isinstance(value, bool | np.bool_):
        return EXCLUDE_PURCHASED if value else EXCLUDE_NOTHING
    if value in EXCLUSIONS:
        return str(value)
    raise ConfigError(f"Unknown exclusion {value!r}.",
                      hint=f"Choose {', '.join(EXCLUSIONS)} (what a list leaves out).")


def seen_matrix(inter: Interactions, exclude: bool | str) -> sp.csr_matrix | None:
    """Shopper × item entries that ``exclude`` leaves out of lists (None for nothing)."""
    mode = exclusion_mode(exclude)
    if mode == EXCLUDE_NOTHING:
        return None
    return inter.purchased if mode == EXCLUDE_PURCHASED else inter.matrix


def _top_k(scores: FloatArray, width: int) -> tuple[IntArray, FloatArray]:
    """Column positions of the ``width`` best finite scores per row, best first (-1 pads)."""
    if width < scores.shape[1]:
        part = np.argpartition(-scores, width - 1, axis=1)[:, :width]
    else:
        part = np.tile(np.arange(scores.shape[1]), (scores.shape[0], 1))
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -part_scores), axis=1) if part.size else part
    top = np.take_along_axis(part, order, axis=1)
    top_scores = np.take_along_axis(part_scores, order, axis=1)
    top = np.where(np.isfinite(top_scores), top, -1)
    return top.astype(np.int64), top_scores


def _capped_top_k(scores: FloatArray, width: int, categories: ObjArray,
                  cap: int) -> tuple[IntArray, FloatArray]:
    """Greedy top-k that skips an item once its category already has ``cap`` picks."""
    pool, pool_scores = _top_k(scores, min(scores.shape[1], width * _CAP_POOL))
    top = np.full((scores.shape[0], width), -1, dtype=np.int64)
    top_scores = np.full((scores.shape[0], width), -np.inf)
    for r in range(scores.shape[0]):
        counts: dict[Any, int] = {}
        filled = 0
        for item, score in zip(pool[r], pool_scores[r], strict=True):
            if item < 0 or filled == width:
                break
            category = categories[item]
            if category is not None and counts.get(category, 0) >= cap:
                continue
            counts[category] = counts.get(category, 0) + 1
            top[r, filled], top_scores[r, filled] = item, score
            filled += 1
    return top, top_scores


def _bare_catalog(inter: Interactions) -> ItemCatalog:
    n = inter.n_items
    return ItemCatalog(item_ids=inter.item_ids, titles=inter.item_ids.copy(),
                       categories=np.full(n, None, dtype=object),
                       brands=np.full(n, None, dtype=object), prices=np.full(n, np.nan))


def minmax_rows(scores: FloatArray) -> FloatArray:
    """Scale every row to 0..1 (a constant row becomes 0), so models can be blended."""
    low = scores.min(axis=1, keepdims=True)
    span = scores.max(axis=1, keepdims=True) - low
    return np.asarray(np.divide(scores - low, span, out=np.zeros_like(scores), where=span > 0),
                      dtype=np.float64)


def best_contributor(weights: FloatArray, items: IntArray) -> int | None:
    """The item with the largest positive contribution, or None."""
    if len(items) == 0 or float(np.max(weights)) <= 0:
        return None
    return int(items[int(np.argmax(weights))])
