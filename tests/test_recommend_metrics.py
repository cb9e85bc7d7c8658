"""Ranking metrics on hand-computable lists; NDCG cross-checked with scikit-learn."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import ndcg_score

from analytics.recommend import metrics

LIST = ["a", "b", "c", "d"]
RELEVANT = {"b", "d", "e"}


def test_precision_recall_hit_rate_by_hand():
    assert metrics.precision_at_k(LIST, RELEVANT, 4) == 0.5
    assert metrics.recall_at_k(LIST, RELEVANT, 4) == pytest.approx(2 / 3)
    assert metrics.hit_rate_at_k(LIST, RELEVANT, 4) == 1.0
    assert metrics.hit_rate_at_k(LIST, {"z"}, 4) == 0.0
    assert metrics.precision_at_k(LIST, RELEVANT, 1) == 0.0
    assert metrics.precision_at_k(["b"], RELEVANT, 4) == 0.25  # a short list still divides by k


def test_average_precision_by_hand():
    # hits at ranks 2 and 4: (1/2 + 2/4) / min(3 relevant, k=4) = 1/3
    assert metrics.average_precision_at_k(LIST, RELEVANT, 4) == pytest.approx(1 / 3)
    assert metrics.average_precision_at_k(["b", "d"], {"b", "d"}, 2) == 1.0
    assert metrics.average_precision_at_k(["x", "b"], {"b"}, 2) == 0.5


def test_ndcg_by_hand():
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    ideal = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert metrics.ndcg_at_k(LIST, RELEVANT, 4) == pytest.approx(dcg / ideal)
    assert metrics.ndcg_at_k(["b", "d", "e"], RELEVANT, 3) == pytest.approx(1.0)
    assert metrics.ndcg_at_k(["x", "y"], RELEVANT, 2) == 0.0


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("k", [1, 3, 10])
def test_ndcg_matches_scikit_learn(seed: int, k: int):
    rng = np.random.default_rng(seed)
    n_items = 30
    truth = (rng.random(n_items) < 0.2).astype(int)
    truth[rng.integers(n_items)] = 1
    scores = rng.permutation(n_items).astype(float)  # distinct: no tie handling differences
    ranked = list(np.argsort(-scores)[:k])
    ours = metrics.ndcg_at_k(ranked, set(np.flatnonzero(truth)), k)
    assert ours == pytest.approx(ndcg_score([truth], [scores], k=k))


def test_coverage_and_novelty():
    lists = [["a", "b"], ["a", "c"], ["a", None]]
    assert metrics.coverage(lists, 10) == 0.3
    popularity = {"a": 0.5, "b": 0.25, "c": 0.125}
    # -log2: a=1, b=2, c=3 -> mean over the 5 recommended = (1 + 2 + 1 + 3 + 1) / 5
    assert metrics.novelty(lists, popularity) == pytest.approx(8 / 5)


def test_vectorised_forms_agree_with_the_scalar_ones():
    hits = np.array([[False, True, False, True], [True, False, False, False]])
    n_relevant = np.array([3, 1])
    assert metrics.ndcg(hits, n_relevant)[0] == pytest.approx(metrics.ndcg_at_k(LIST, RELEVANT, 4))
    assert metrics.ndcg(hits, n_relevant)[1] == 1.0
    assert metrics.average_precision(hits, n_relevant).tolist() == pytest.approx([1 / 3, 1.0])
    assert metrics.recall(hits, n_relevant).tolist() == pytest.approx([2 / 3, 1.0])
