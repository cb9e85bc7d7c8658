""""Buy again": rank a shopper's own past purchases, and mix them with collaborative ideas.

In grocery and everyday retail most of what a shopper buys next is something they bought
before. The personal-top-frequency baseline that next-basket studies found hard to beat
(Li et al., "A Next Basket Recommendation Reality Check", 2023; Hu et al., TIFU-KNN, 2020)
ranks a shopper's items by how often they bought them, recent purchases weighing more.
:class:`BuyAgain` is that baseline: score = purchases × 0.5^(days since the last purchase /
half-life). :class:`RepeatHybrid` mixes it with a collaborative partner (popularity,
item-kNN or ALS: new items for the shopper), partner and mix tuned on a temporal validation
split of the training data.

Both only make sense with repeats allowed (``exclude_purchased="nothing"``); with bought
items excluded, buy-again has nothing of its own left and falls back to popularity — which
the evaluation shows, so that it can pick the exclusion per data set.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from analytics.errors import ConfigError, ShopperLensError
from analytics.recommend import metrics
from analytics.recommend.base import Recommender, minmax_rows, seen_matrix
from analytics.recommend.catalogue import MODEL_CATALOGUE
from analytics.recommend.interactions import (
    FloatArray,
    IntArray,
    Interactions,
    ItemCatalog,
    replace_entries,
)
from analytics.recommend.knn import ItemKNN
from analytics.recommend.mf import ALS
from analytics.recommend.popularity import Popularity

DEFAULT_HALF_LIFE_DAYS = 60.0
MIX_GRID = (0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0)
PARTNERS: dict[str, type[Recommender]] = {"popularity": Popularity, "item_knn": ItemKNN,
                                          "als": ALS}
TUNE_K = 10
# The validation window is at most this share of the training span (short clickstreams).
_MAX_WINDOW_SHARE = 0.2
_MIN_VALIDATION_USERS = 20
_TUNE_CELLS = 20_000_000  # validation shoppers × items × 2 blocks held at once at most


def repeat_scores(inter: Interactions, half_life_days: float,
                  counts: FloatArray | None = None,
                  ages: FloatArray | None = None) -> sp.csr_matrix:
    """Shopper × item: purchases × 0.5^(last purchase age / half-life), 0 when never bought.

    ``counts`` and ``ages`` (aligned with ``inter.matrix.data``) default to the interactions'
    own purchase counts and last-purchase ages.
    """
    counts = inter.purchases if counts is None else counts
    ages = inter.last_purchase_age_days if ages is None else ages
    if len(counts) != inter.matrix.nnz:
        raise ShopperLensError("These interactions carry no purchase counts, so buy-again "
                               "cannot rank repeat purchases.",
                               hint="Build them with analytics.recommend.build (the workspace).",
                               title="Buy-again not trained")
    out = inter.matrix.copy().astype(np.float64)
    bought = counts > 0
    out.data = np.where(bought, counts * np.power(0.5, np.nan_to_num(ages, nan=0.0)
                                                  / half_life_days), 0.0)
    out.eliminate_zeros()
    return out


def _days(age: float) -> str:
    days = int(round(age))
    return "today" if days == 0 else ("1 day ago" if days == 1 else f"{days} days ago")


class BuyAgain(Recommender):
    """Personal purchase frequency with recency decay (the next-basket baseline).

    Parameters
    ----------
    half_life_days : float
        A purchase this many days before the end of the data counts half.

    Examples
    --------
    >>> model = BuyAgain(exclude_purchased="nothing").fit(inter, items)   # doctest: +SKIP
    >>> model.explain("u000100", "i0042")                                 # doctest: +SKIP
    'you bought this 4 times, last 12 days ago'
    """

    name = "buy_again"
    label = MODEL_CATALOGUE["buy_again"].label
    description = MODEL_CATALOGUE["buy_again"].description

    def __init__(self, *, half_life_days: float = DEFAULT_HALF_LIFE_DAYS,
                 exclude_purchased: bool | str = True, max_per_category: int | None = None,
                 cold_start_events: int = 2, random_state: int = 0) -> None:
        self.half_life_days = half_life_days
        self.exclude_purchased = exclude_purchased
        self.max_per_category = max_per_category
        self.cold_start_events = cold_start_events
        self.random_state = random_state

    def _fit(self, interactions: Interactions, items: ItemCatalog) -> None:
        if self.half_life_days <= 0:
            raise ConfigError(f"half_life_days={self.half_life_days!r} must be positive.",
                              hint="Use e.g. 60 (a purchase two months old counts half).")
        self.repeat_ = repeat_scores(interactions, self.half_life_days)

    def _scores(self, rows: IntArray) -> FloatArray:
        # Items never bought score 0; the base class's popularity tie-break orders them.
        return np.asarray(self.repeat_[rows].todense(), dtype=np.float64)

    def _explain_row(self, row: int, item: int) -> str:
        inter = self.interactions_
        start, end = inter.matrix.indptr[row], inter.matrix.indptr[row + 1]
        hit = np.flatnonzero(inter.matrix.indices[start:end] == item)
        if len(hit) == 0 or inter.purchases[start + hit[0]] <= 0:
            return "popular with all shoppers"
        n = int(inter.purchases[start + hit[0]])
        age = float(inter.last_purchase_age_days[start + hit[0]])
        if n == 1:
            return f"you bought this once, {_days(age)}"
        when = "last one today" if round(age) == 0 else f"last {_days(age)}"
        return f"you bought this {n} times, {when}"


class RepeatHybrid(Recommender):
    """Buy-again mixed with a collaborative partner: ``mix`` × repeats + (1 − mix) × partner.

    Both are scaled to 0..1 per shopper first. Unless both are given, the partner (of
    ``partners``) and the mix are tuned on NDCG@10 over a temporal validation split: the
    purchases in the last ``validation_days`` of the training data (at most 20% of its span)
    are held out; the partner is refitted on the (shopper, item) pairs not touched in the
    window (so nothing of the window leaks in), and the repeat counts before the window are
    the counts minus the window's purchase, the previous purchase placed one average gap
    earlier (the interactions keep counts and last times, not every purchase — an
    approximation that only steers the mix).

    Parameters
    ----------
    mix : float in [0, 1], optional
        Weight of the repeat part; default tuned.
    partner : str, optional
        The collaborative model (popularity, item_knn or als); default tuned.
    partners : sequence of str
        The partners tried while tuning.
    half_life_days : float
        Buy-again's recency half-life.
    validation_days : float
        Longest validation window.
    tune_users : int
        At most this many validation shoppers are scored while tuning.
    """

    name = "buy_again_hybrid"
    label = MODEL_CATALOGUE["buy_again_hybrid"].label
    description = MODEL_CATALOGUE["buy_again_hybrid"].description

    def __init__(self, *, mix: float | None = None, partner: str | None = None,
                 partners: tuple[str, ...] = tuple(PARTNERS),
                 half_life_days: float = DEFAULT_HALF_LIFE_DAYS, validation_days: float = 30.0,
                 tune_users: int = 2000, exclude_purchased: bool | str = True,
                 max_per_category: int | None = None, cold_start_events: int = 2,
                 random_state: int = 0) -> None:
        self.mix = mix
        self.partner = partner
        self.partners = partners
        self.half_life_days = half_life_days
        self.validation_days = validation_days
        self.tune_users = tune_users
        self.exclude_purchased = exclude_purchased
        self.max_per_category = max_per_category
        self.cold_start_events = cold_start_events
        self.random_state = random_state

    def _partner(self, name: str) -> Recommender:
        return PARTNERS[name](exclude_purchased=False,  # type: ignore[call-arg]
                              random_state=self.random_state)

    def _fit(self, interactions: Interactions, items: ItemCatalog) -> None:
        if self.mix is not None and not 0.0 <= float(self.mix) <= 1.0:
            raise ConfigError(f"mix={self.mix!r} must be between 0 and 1.",
                              hint="0 = only the partner, 1 = only buy-again; leave empty to tune.")
        unknown = [p for p in (self.partner, *self.partners) if p is not None and p not in PARTNERS]
        if unknown or not (self.partner or self.partners):
            raise ConfigError(f"Unknown buy-again partner(s): {', '.join(unknown) or '(none)'}.",
                              hint=f"Choose from {', '.join(PARTNERS)}.")
        if self.mix is not None and self.partner is not None:
            self.mix_, self.partner_ = float(self.mix), self.partner
            self.tuning_: dict[str, Any] = {"tuned": False, "note": "mix and partner given"}
        else:
            self.partner_, self.mix_, self.tuning_ = self._tune(interactions, items)
        self.repeat_ = BuyAgain(half_life_days=self.half_life_days, exclude_purchased=False,
                                random_state=self.random_state).fit(interactions, items)
        self.collab_ = self._partner(self.partner_).fit(interactions, items)

    # -- tuning -----------------------------------------------------------------------------
    def _tune(self, inter: Interactions,
              items: ItemCatalog) -> tuple[str, float, dict[str, Any]]:
        names = [self.partner] if self.partner else list(self.partners)
        mixes = (float(self.mix),) if self.mix is not None else MIX_GRID
        default = (names[0], 0.5 if self.mix is None else float(self.mix))
        span = float(inter.first_age_days.max()) if len(inter.first_age_days) else 0.0
        window = min(self.validation_days, _MAX_WINDOW_SHARE * span)
        if window <= 0:
            return *default, {"tuned": False, "note": "no time span to validate on"}
        ages = inter.last_purchase_age_days
        held = inter.matrix.copy()
        held.data = np.where(inter.purchases > 0, (np.nan_to_num(ages, nan=np.inf) < window)
                             .astype(np.float64), 0.0)
        held.eliminate_zeros()
        earlier = replace_entries(inter, inter.last_age_days >= window)
        counts, before = _counts_before(inter, window)
        rows = np.flatnonzero((np.diff(held.indptr) > 0) & (np.diff(earlier.matrix.indptr) > 0))
        if len(rows) < _MIN_VALIDATION_USERS:
            return *default, {"tuned": False, "note": f"only {len(rows)} validation shoppers"}
        limit = max(_MIN_VALIDATION_USERS, min(self.tune_users, _TUNE_CELLS // (2 * inter.n_items)))
        rng = np.random.default_rng(self.random_state)
        rows = np.sort(rng.choice(rows, size=min(limit, len(rows)), replace=False))
        repeat_block = minmax_rows(np.asarray(
            repeat_scores(inter, self.half_life_days, counts, before)[rows].todense()))
        truth = np.asarray(held[rows].todense()) > 0
        seen = seen_matrix(earlier, self.exclude_purchased)
        excluded = np.asarray(seen[rows].todense()) > 0 if seen is not None else None
        scores: dict[tuple[str, float], float] = {}
        for name in names:
            block = minmax_rows(self._partner(name).fit(earlier, items)._scores(rows))
            for mix in mixes:
                scores[name, mix] = _ndcg(mix * repeat_block + (1 - mix) * block, truth, excluded)
        best = max(scores, key=lambda key: (round(scores[key], 9), -abs(key[1] - 0.5)))
        return best[0], best[1], {
            "tuned": True, "validation_users": int(len(rows)), "validation_days": round(window, 3),
            "validation_ndcg": {f"{n} mix {m}": round(v, 4) for (n, m), v in scores.items()}}

    # -- scoring and reasons ----------------------------------------------------------------
    def _blocks(self, rows: IntArray) -> tuple[FloatArray, FloatArray]:
        return (self.mix_ * minmax_rows(self.repeat_._scores(rows)),
                (1 - self.mix_) * minmax_rows(self.collab_._scores(rows)))

    def _scores(self, rows: IntArray) -> FloatArray:
        repeat, collab = self._blocks(rows)
        return repeat + collab

    def _explain_row(self, row: int, item: int) -> str:
        repeat, collab = self._blocks(np.array([row]))
        if repeat[0, item] >= collab[0, item] and repeat[0, item] > 0:
            return self.repeat_._explain_row(row, item)
        return self.collab_._explain_row(row, item)

    def _similar(self, item: int) -> FloatArray | None:
        return self.collab_._similar(item)


def _counts_before(inter: Interactions, window: float) -> tuple[FloatArray, FloatArray]:
    """Estimated purchase counts and last-purchase ages (from the window's start) before it."""
    counts = inter.purchases.astype(np.float64).copy()
    ages = np.nan_to_num(inter.last_purchase_age_days, nan=np.inf)
    first = inter.first_age_days
    inside = ages < window
    gap = np.where(counts > 1, (first - ages) / np.maximum(counts - 1, 1), 0.0)
    counts = np.where(inside, counts - 1, counts)
    counts = np.where(first < window, 0.0, counts)  # the whole entry is new in the window
    before = np.where(inside, ages + gap, ages) - window
    return np.maximum(counts, 0.0), np.maximum(np.where(np.isfinite(before), before, 0.0), 0.0)


def _ndcg(blend: FloatArray, truth: np.ndarray[Any, Any],
          excluded: np.ndarray[Any, Any] | None) -> float:
    blend = blend.copy()
    if excluded is not None:
        blend[excluded] = -np.inf
    k = min(TUNE_K, blend.shape[1])
    top = np.argpartition(-blend, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(blend, top, axis=1), axis=1, kind="stable")
    top = np.take_along_axis(top, order, axis=1)
    hits = np.take_along_axis(truth, top, axis=1) & np.isfinite(
        np.take_along_axis(blend, top, axis=1))
    return float(metrics.ndcg(hits, truth.sum(axis=1)).mean())
