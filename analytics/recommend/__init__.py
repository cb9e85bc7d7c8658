"""Recommendations: interactions, models behind one interface, reasons, offline evaluation.

Entry points: :func:`train` (fit models on a workspace), :func:`preview` (one shopper's lists
from several models with reasons; Shopper 360 uses it), :func:`recommendations_table` (batch
top-k), :func:`similar_items`, and :func:`analytics.recommend.evaluate.evaluate`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from analytics.lazy import home_of, loader

if TYPE_CHECKING:
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

# Loaded on first use: the model catalogue (analytics.recommend.catalogue, read by the labels
# every page shows) must not load scikit-learn and scipy, ~1.5 s of the dashboard's first page.
_HOMES = {
    "base": ("Recommender",),
    "engine": ("DEFAULT_MODEL", "MODELS", "RecommendationRow", "TrainedModels", "TrainingOptions",
               "UserRecommendations", "check_user", "make_model", "preview",
               "recommendations_table", "similar_items", "train"),
    "interactions": ("Interactions", "ItemCatalog", "build"),
}
_HOME_OF = home_of(_HOMES)

__all__ = [
    "DEFAULT_MODEL", "MODELS", "Interactions", "ItemCatalog", "RecommendationRow", "Recommender",
    "TrainedModels", "TrainingOptions", "UserRecommendations", "build", "check_user",
    "make_model", "preview", "recommendations_table", "similar_items", "train",
]

__getattr__ = loader(__name__, _HOME_OF)
