"""The one place that names the recommendation models for people: label, one line, complexity.

Pages, the CLI and the model classes all read labels from here (never spell them twice), and
the evaluation uses ``complexity`` to break ties: when several models are statistically as
good as the best, the simplest (lowest rank: cheapest to fit, easiest to explain) is chosen.
Other catalogues of human labels import :data:`MODEL_CATALOGUE` for the models.
No imports from the rest of the package, so anything can import it cheaply.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelInfo:
    """A model's human label, what it does in one line, and its complexity rank (0 simplest)."""

    label: str
    description: str
    complexity: int


MODEL_CATALOGUE: dict[str, ModelInfo] = {
    "popularity": ModelInfo(
        "Popularity",
        "The shop's best sellers (weighted views, carts and purchases); same for all.", 0),
    "trending": ModelInfo(
        "Trending",
        "Items gaining interest lately (interactions decayed with a short half-life).", 1),
    "segment_popularity": ModelInfo(
        "Segment popularity",
        "Best sellers within the shopper's segment (latest segmentation or RFM).", 2),
    "buy_again": ModelInfo(
        "Buy again",
        "The shopper's own purchases, by how often and how recently they bought each.", 3),
    "sequential": ModelInfo(
        "Next item", "What shoppers go on to view or buy after the shopper's latest items.", 4),
    "item_knn": ModelInfo(
        "Item-kNN",
        "Items bought or viewed together with the shopper's items (implicit, cosine).", 5),
    "content": ModelInfo(
        "Content-based",
        "Items like the shopper's items by title words, category, brand and price band.", 6),
    "als": ModelInfo("ALS", "Matrix factorisation (alternating least squares, implicit).", 7),
    # h13: the same factorisation on Spark MLlib (extra shopper-lens[spark]; needs Java).
    "als_spark": ModelInfo(
        "ALS (Spark)",
        "Matrix factorisation (alternating least squares) on Spark MLlib, implicit feedback.", 7),
    "bpr": ModelInfo(
        "BPR",
        "Matrix factorisation trained to rank (Bayesian personalised ranking, implicit).", 8),
    "buy_again_hybrid": ModelInfo(
        "Buy again + collaborative",
        "The shopper's repeat purchases mixed with new items from popularity, item-kNN or ALS "
        "(partner and mix tuned on a validation split).", 9),
    "hybrid": ModelInfo(
        "Hybrid",
        "A tuned blend of item-kNN, ALS, content, next-item and segment popularity.", 10),
}
_UNKNOWN_RANK = 100


def model_label(name: str) -> str:
    """The human label of a model (the name itself if the catalogue does not know it)."""
    info = MODEL_CATALOGUE.get(name)
    return info.label if info else name


def model_description(name: str) -> str:
    info = MODEL_CATALOGUE.get(name)
    return info.description if info else ""


def complexity(name: str) -> int:
    """Rank used to prefer the simpler of tied models; unknown models count as most complex."""
    info = MODEL_CATALOGUE.get(name)
    return info.complexity if info else _UNKNOWN_RANK
