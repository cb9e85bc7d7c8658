"""Ranking metrics for top-k lists: precision, recall, NDCG, MAP, hit rate, coverage, novelty.

Relevance is binary (the shopper did interact with the item in the test period). The
vectorised forms take a hits matrix (users × k, True where the i-th recommendation is
relevant) and the number of relevant items per user; the scalar forms wrap them for one list.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


def _discounts(k: int) -> FloatArray:
    return 1.0 / np.log2(np.arange(2, k + 2))


def precision(hits: BoolArray) -> FloatArray:
    """Share of the k recommendations that are relevant (k = width of ``hits``)."""
    return np.asarray(hits.sum(axis=1) / hits.shape[1], dtype=np.float64)


def recall(hits: BoolArray, n_relevant: npt.NDArray[Any]) -> FloatArray:
    """Share of the relevant items found in the top k."""
    return np.asarray(hits.sum(axis=1) / np.maximum(n_relevant, 1), dtype=np.float64)


def hit_rate(hits: BoolArray) -> FloatArray:
    """1 when at least one of the top k is relevant."""
    return np.asarray(hits.any(axis=1), dtype=np.float64)


def ndcg(hits: BoolArray, n_relevant: npt.NDArray[Any]) -> FloatArray:
    """DCG of the list over the DCG of a perfect list of min(relevant, k) hits."""
    k = hits.shape[1]
    discounts = _discounts(k)
    ideal = np.cumsum(discounts)[np.clip(n_relevant, 1, k) - 1]
    return np.asarray((hits * discounts).sum(axis=1) / ideal, dtype=np.float64)


def average_precision(hits: BoolArray, n_relevant: npt.NDArray[Any]) -> FloatArray:
    """Mean of precision@i at each relevant position i, over min(relevant, k) (MAP@k per user)."""
    k = hits.shape[1]
    precision_at_i = np.cumsum(hits, axis=1) / np.arange(1, k + 1)
    return np.asarray((precision_at_i * hits).sum(axis=1) / np.clip(n_relevant, 1, k),
                      dtype=np.float64)


def coverage(recommended: Sequence[Sequence[Any]], catalogue_size: int) -> float:
    """Share of the catalogue that appears in at least one list."""
    seen = {item for row in recommended for item in row if item is not None}
    return len(seen) / catalogue_size if catalogue_size else 0.0


def novelty(recommended: Sequence[Sequence[Any]], popularity: dict[Any, float]) -> float:
    """Mean self-information -log2(p) of recommended items, p = share of shoppers who had them.

    Higher means less obvious items; items nobody had count as p = 1 / (shoppers + 1).
    """
    floor = min(popularity.values(), default=1.0)
    values = [-np.log2(max(popularity.get(item, floor), 1e-12))
              for row in recommended for item in row if item is not None]
    return float(np.mean(values)) if values else 0.0


def hits_for(recommended: Sequence[Any], relevant: Collection[Any], k: int) -> BoolArray:
    """The hits row of one list (padded with misses to k)."""
    row = [item in relevant for item in list(recommended)[:k]]
    return np.array([row + [False] * (k - len(row))], dtype=bool)


def precision_at_k(recommended: Sequence[Any], relevant: Collection[Any], k: int) -> float:
    return float(precision(hits_for(recommended, relevant, k))[0])


def recall_at_k(recommended: Sequence[Any], relevant: Collection[Any], k: int) -> float:
    return float(recall(hits_for(recommended, relevant, k), np.array([len(relevant)]))[0])


def ndcg_at_k(recommended: Sequence[Any], relevant: Collection[Any], k: int) -> float:
    return float(ndcg(hits_for(recommended, relevant, k), np.array([len(relevant)]))[0])


def average_precision_at_k(recommended: Sequence[Any], relevant: Collection[Any], k: int) -> float:
    return float(average_precision(hits_for(recommended, relevant, k),
                                   np.array([len(relevant)]))[0])


def hit_rate_at_k(recommended: Sequence[Any], relevant: Collection[Any], k: int) -> float:
    return float(hit_rate(hits_for(recommended, relevant, k))[0])
