"""Recommendations: interactions, models behind one interface, reasons, offline evaluation.

Entry points: :func:`train` (fit models on a workspace), :func:`preview` (one shopper's lists
from several models with reasons; Shopper 360 uses it), :func:`recommendations_table` (batch
top-k), :func:`similar_items`, and :func:`analytics.recommend.evaluate.evaluate`.
"""

from analytics.recommend.base import Recommender
from analytics.recommend.engine import (
    DEFAULT_MODEL,
    MODELS,
    RecommendationRow,
    TrainedModels,
    TrainingOptions,
    UserRecommendations,
    check_user,
    make_model,
    preview,
    recommendations_table,
    similar_items,
    train,
)
from analytics.recommend.interactions import Interactions, ItemCatalog, build

__all__ = [
    "DEFAULT_MODEL", "MODELS", "Interactions", "ItemCatalog", "RecommendationRow", "Recommender",
    "TrainedModels", "TrainingOptions", "UserRecommendations", "build", "check_user",
    "make_model", "preview", "recommendations_table", "similar_items", "train",
]
