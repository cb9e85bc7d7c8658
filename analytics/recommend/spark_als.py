"""ALS on Spark MLlib (``implicitPrefs=True``), behind the same recommender interface.

Only the factorisation runs on Spark: the shopper × item interactions (the same weighted,
time-decayed matrix every model learns from) go to MLlib's ALS as (user, item, weight)
rows, and the learnt factors come back as NumPy arrays. Everything after that is the shared
:class:`~analytics.recommend.base.Recommender` contract — cold start, exclusions, the
category cap, top-k and the reason format ("because you bought …") of the implicit ALS — so
the temporal evaluation (:mod:`analytics.recommend.evaluate`) scores both on equal terms, and
the fitted model is stored with the others (:mod:`analytics.recommend.store`) without Spark.

Spark's ALS weighs a shopper's regularisation by their number of interactions (ALS-WR) where
implicit does not, so the same ``regularization`` number means something else: the default
here was measured on the demo shop (README, "Scale-out on Spark").
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from analytics.recommend.catalogue import MODEL_CATALOGUE
from analytics.recommend.interactions import Interactions, ItemCatalog
from analytics.recommend.mf import _Factorisation


def active_session() -> Any:
    """The running Spark session (the CLI and tests start one), else a local[2] one."""
    from pyspark.sql import SparkSession

    from analytics.engines.spark import configure, session

    spark = SparkSession.getActiveSession()
    if spark is None:
        return session("local[2]")
    configure(spark)
    return spark


class SparkALS(_Factorisation):
    """Alternating least squares for implicit feedback on Spark MLlib.

    Parameters
    ----------
    factors : int
        MLlib ``rank``.
    regularization : float
        MLlib ``regParam`` (scaled per shopper and item by their interaction counts).
    alpha : float
        Confidence ``1 + alpha * weight`` of an interaction.
    iterations : int
        MLlib ``maxIter``.
    """

    name = "als_spark"
    label = MODEL_CATALOGUE["als_spark"].label
    description = MODEL_CATALOGUE["als_spark"].description

    def __init__(self, *, factors: int = 32, regularization: float = 0.05, alpha: float = 2.0,
                 iterations: int = 15, exclude_purchased: bool = True,
                 max_per_category: int | None = None, cold_start_events: int = 2,
                 random_state: int = 0) -> None:
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.exclude_purchased = exclude_purchased
        self.max_per_category = max_per_category
        self.cold_start_events = cold_start_events
        self.random_state = random_state

    def _fit(self, interactions: Interactions, items: ItemCatalog) -> None:
        from pyspark.ml.recommendation import ALS

        spark = active_session()
        coo = interactions.matrix.tocoo()
        ratings = spark.createDataFrame(pd.DataFrame({
            "user": coo.row.astype("int32"), "item": coo.col.astype("int32"),
            "weight": coo.data.astype("float64")}))
        model = ALS(rank=self.factors, maxIter=self.iterations, regParam=self.regularization,
                    alpha=self.alpha, implicitPrefs=True, seed=self.random_state,
                    userCol="user", itemCol="item", ratingCol="weight",
                    coldStartStrategy="nan").fit(ratings)
        n_users, n_items = interactions.matrix.shape
        self.user_factors_ = _factors(model.userFactors, n_users, self.factors)
        self.item_factors_ = _factors(model.itemFactors, n_items, self.factors)
        norms = np.linalg.norm(self.item_factors_, axis=1, keepdims=True)
        self.unit_items_ = self.item_factors_ / np.where(norms > 0, norms, 1.0)
        self.spark_version_ = spark.version
        self.spark_master_ = spark.sparkContext.master


def _factors(frame: Any, n: int, rank: int) -> np.ndarray[Any, np.dtype[np.float64]]:
    """MLlib's (id, features) rows as an (n, rank) array; rows it never saw stay zero."""
    local = frame.toPandas()
    out = np.zeros((n, rank), dtype=np.float64)
    if len(local):
        out[local["id"].to_numpy(dtype=int)] = np.vstack(local["features"].to_numpy())
    return out


__all__ = ["SparkALS", "active_session"]
