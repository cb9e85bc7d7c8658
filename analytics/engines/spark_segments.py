"""Segmentation on Spark MLlib: the scikit-learn path's encoding, k-means‖, mixtures, bisecting.

The profiles are handed to Spark as Parquet (as the events are for ``profiles --engine spark``)
and encoded there exactly as :func:`analytics.segments.features.preprocessor` encodes them:
the category mix decoded into one share column per top category (ties by name), empty cells
filled (0; the median for price-like features; past the maximum for recency), then winsor
clipping at the exact 1st/99th percentiles, a signed ``log1p`` and standardisation with the
population standard deviation (scikit-learn's ``StandardScaler``); or ``robust`` (exact median
and quartiles), ``quantile`` (exact percentiles, see :func:`_quantile` for where it cannot equal
scikit-learn's), and optionally PCA (MLlib's, centred and sign-fixed as scikit-learn's).
The clustering is Spark MLlib's (``KMeans`` with k-means‖ initialisation, ``GaussianMixture``,
``BisectingKMeans``) and the silhouette is ``ClusteringEvaluator``'s, which is the silhouette
of *squared* Euclidean distances (scikit-learn's ``metric="sqeuclidean"``, not its default Euclidean one).

The membership is recorded as an ordinary segment run (:mod:`analytics.segments.runs`) so the
dashboard shows it; the stored model is :class:`SparkClusterModel`, plain NumPy arrays of the
fitted centres (or mixture components), so a later refresh re-scores shoppers without Spark.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score

from analytics.engines import outputs, spark_out
from analytics.errors import ConfigError
from analytics.profiles import load_profiles
from analytics.segments import autok
from analytics.segments.clustering import (
    CRITERION,
    STABILITY_FRACTION,
    STABILITY_MAX,
    STABILITY_RESAMPLES,
    SWEEP_FIT_MAX,
    Sweep,
    SweepRow,
    _sample_rows,
    check_k,
)
from analytics.segments.features import (
    _FILL_MAX,
    _FILL_MEDIAN,
    CATEGORY_SHARES,
    SHARE_PREFIX,
    check_pca,
    preprocessor,
)
from analytics.segments.runs import SegmentRun, SegmentSpec, _record, usable_features
from analytics.workspace import Workspace

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

Array = np.ndarray[Any, Any]

SPARK_METHODS: dict[str, str] = {
    "kmeans": "K-Means on Spark MLlib (k-means‖ initialisation)",
    "gmm": "Gaussian mixture on Spark MLlib: a probability per shopper and segment",
    "bisecting_kmeans": "Bisecting K-Means on Spark MLlib: top-down splits, a segment tree",
}
_LABELS = {"kmeans": "K-Means", "gmm": "Gaussian mixture", "bisecting_kmeans": "Bisecting K-Means"}
#: Every scaling of analytics.segments.features.SCALINGS (quantile: see _quantile).
SPARK_SCALINGS = ("winsor", "log1p", "standard", "robust", "quantile")
QUANTILES = 500  # as analytics.segments.features.scaler's QuantileTransformer
QUANTILE_BOUND = 1e-7  # scikit-learn's BOUNDS_THRESHOLD
WINSOR = (0.01, 0.99)  # as analytics.segments.features.Winsorizer
MAX_ITER = 100
BISECT_SHIFT = 10.0  # see _Shifted
FEATURES_COL = "features"


@dataclass(frozen=True)
class Encoding:
    """What the Spark encoding learnt: column names, categories, fills and scaling."""

    columns: tuple[str, ...]
    categories: tuple[str, ...]
    fill: dict[str, float]
    bounds: dict[str, tuple[float, float]]
    mean: dict[str, float]  # the centre taken off (the median for robust)
    scale: dict[str, float]
    quantiles: dict[str, tuple[float, ...]] = field(default_factory=dict)  # quantile scaling
    components: tuple[tuple[float, ...], ...] = ()  # PCA loadings, one row per component
    centre: tuple[float, ...] = ()  # the scaled columns' means PCA took off

    @property
    def width(self) -> int:
        """How many columns the encoded matrix has (components, with PCA)."""
        return len(self.components) or len(self.columns)


class SparkClusterModel:
    """A Spark-fitted clustering as NumPy arrays: ``predict``/``predict_proba`` without Spark.

    K-Means labels are the nearest centre (Spark's rule). Bisecting K-Means is scored by the
    nearest leaf centre, which can differ from Spark's descent of its split tree for shoppers
    on a border. Mixtures use the fitted weights, means and covariances.
    """

    def __init__(self, method: str, k: int, random_state: int, centres: Array,
                 weights: Array | None = None, covariances: Array | None = None) -> None:
        self.method = method
        self.n_clusters = k
        self.random_state = random_state
        self.centres = centres
        self.weights = weights
        self.covariances = covariances

    def predict(self, X: Array) -> Array:
        if self.method == "gmm":
            return np.asarray(self._log_density(X).argmax(axis=1))
        distances = ((X[:, None, :] - self.centres[None, :, :]) ** 2).sum(axis=2)
        return np.asarray(distances.argmin(axis=1))

    def predict_proba(self, X: Array) -> Array | None:
        if self.method != "gmm":
            return None
        log = self._log_density(X)
        log -= log.max(axis=1, keepdims=True)
        p = np.exp(log)
        return np.asarray(p / p.sum(axis=1, keepdims=True))

    def _log_density(self, X: Array) -> Array:
        from scipy.stats import multivariate_normal

        assert self.weights is not None and self.covariances is not None
        return np.column_stack([
            np.log(max(float(w), 1e-300)) + multivariate_normal(m, c, allow_singular=True).logpdf(X)
            for w, m, c in zip(self.weights, self.centres, self.covariances, strict=True)])

    def get_params(self) -> dict[str, Any]:
        """Clusterer parameters, so the stability check can refit (with scikit-learn)."""
        return {"method": self.method, "n_clusters": self.n_clusters,
                "random_state": self.random_state}


# -- encoding -------------------------------------------------------------------------------

def encode(frame: DataFrame, features: Sequence[str], scaling: str = "winsor",
           top_categories: int = 8, pca_components: int | None = None
           ) -> tuple[DataFrame, Encoding]:
    """``user_id`` and the scaled feature columns, as the scikit-learn preprocessor makes them
    (with ``pca_components``: that many principal components, as its ``PCA`` step)."""
    from pyspark.sql import functions as F

    check_scaling(scaling)
    plain = [f for f in features if f != CATEGORY_SHARES]
    columns = {f: F.col(f).cast("double") for f in plain}
    categories: list[str] = []
    if CATEGORY_SHARES in features:
        mix = F.from_json(F.nullif(F.trim(F.col(CATEGORY_SHARES)), F.lit("")), "map<string,double>")
        frame = frame.withColumn("_mix", mix)
        categories = _top_categories(frame, top_categories)
        columns |= {f"{SHARE_PREFIX}{c}": F.coalesce(F.col("_mix")[c], F.lit(0.0))
                    for c in categories}
    names = list(columns)
    check_pca(pca_components, len(names))
    safe = {n: f"c{i}" for i, n in enumerate(names)}  # share names hold spaces and punctuation
    raw = frame.select("user_id", *[columns[n].alias(safe[n]) for n in names])
    fill = _fill_values(raw, names, safe)
    filled = raw.select("user_id", *[F.coalesce(F.col(safe[n]), F.lit(fill[n])).alias(safe[n])
                                     for n in names]).cache()
    encoding = Encoding(tuple(names), tuple(categories), fill, {}, {}, {})
    if scaling == "robust":
        scaled, encoding = _robust(filled, names, safe, encoding)
    elif scaling == "quantile":
        scaled, encoding = _quantile(filled, names, safe, encoding)
    else:
        scaled, encoding = _standardised(filled, names, safe, scaling, encoding)
    if pca_components:
        scaled, encoding = _pca(scaled, pca_components, encoding)
    return scaled, encoding


def _standardised(filled: DataFrame, names: list[str], safe: dict[str, str], scaling: str,
                  encoding: Encoding) -> tuple[DataFrame, Encoding]:
    """winsor (clip to the 1st/99th percentiles), log1p (signed), then StandardScaler."""
    from pyspark.sql import functions as F

    bounds: dict[str, tuple[float, float]] = {}
    current = filled
    if scaling == "winsor":
        bounds = _bounds(filled, names, safe)
        current = current.select("user_id", *[
            F.least(F.greatest(F.col(safe[n]), F.lit(bounds[n][0])), F.lit(bounds[n][1])).alias(safe[n])
            for n in names])
    if scaling in ("winsor", "log1p"):
        current = current.select("user_id", *[
            (F.signum(F.col(safe[n])) * F.log1p(F.abs(F.col(safe[n])))).alias(safe[n]) for n in names])
    stats = current.agg(*[F.avg(safe[n]).alias(f"m{i}") for i, n in enumerate(names)],
                        *[F.stddev_pop(safe[n]).alias(f"s{i}") for i, n in enumerate(names)]
                        ).collect()[0]
    mean = {n: float(stats[f"m{i}"]) for i, n in enumerate(names)}
    # scikit-learn leaves a constant column unscaled (scale 1) rather than dividing by zero.
    scale = {n: float(stats[f"s{i}"]) or 1.0 for i, n in enumerate(names)}
    return _affine(current, names, safe, mean, scale), replace(encoding, bounds=bounds,
                                                                mean=mean, scale=scale)


def _affine(frame: DataFrame, names: list[str], safe: dict[str, str], centre: dict[str, float],
            scale: dict[str, float]) -> DataFrame:
    from pyspark.sql import functions as F

    return frame.select("user_id", *[((F.col(safe[n]) - centre[n]) / scale[n]).alias(safe[n])
                                     for n in names])


def _robust(filled: DataFrame, names: list[str], safe: dict[str, str], encoding: Encoding
            ) -> tuple[DataFrame, Encoding]:
    """scikit-learn's ``RobustScaler``: minus the median, over the interquartile range.

    The quartiles are Spark's exact ``percentile`` (linear interpolation, NumPy's
    ``nanpercentile``), not ``pyspark.ml.feature.RobustScaler``, whose quantiles are
    approximate (relative error 0.001): with them the matrix would not equal scikit-learn's.
    """
    quartiles = _percentiles(filled, names, safe, (0.25, 0.5, 0.75))
    centre = {n: quartiles[n][1] for n in names}
    # scikit-learn's _handle_zeros_in_scale: a (near-)constant range scales by 1.
    spread = {n: quartiles[n][2] - quartiles[n][0] for n in names}
    scale = {n: s if s >= 10 * np.finfo(float).eps else 1.0 for n, s in spread.items()}
    return _affine(filled, names, safe, centre, scale), replace(encoding, mean=centre, scale=scale)


def _percentiles(frame: DataFrame, names: list[str], safe: dict[str, str],
                 levels: Sequence[float]) -> dict[str, tuple[float, ...]]:
    """Exact percentiles of every column, one pass (Spark's ``percentile``)."""
    from pyspark.sql import functions as F

    wanted = F.array(*[F.lit(float(q)) for q in levels])
    row = frame.agg(*[F.percentile(F.col(safe[n]), wanted).alias(safe[n]) for n in names]
                    ).collect()[0]
    return {n: tuple(float(v) for v in row[safe[n]]) for n in names}


def _quantile(filled: DataFrame, names: list[str], safe: dict[str, str], encoding: Encoding
              ) -> tuple[DataFrame, Encoding]:
    """scikit-learn's ``QuantileTransformer(output_distribution="normal", n_quantiles=500)``.

    The reference quantiles are Spark's exact percentiles of *every* shopper; the mapping
    (interpolating the rank both ways, clipping, the normal quantile function) runs on the
    executors, per partition, with scikit-learn's arithmetic — in Python workers (Spark SQL has
    no inverse normal CDF), so the executors need NumPy, SciPy and pandas (a local session
    runs them with the driver's interpreter: :func:`analytics.engines.spark.session`).
    Not equal to scikit-learn's matrix, close: Spark's ``percentile`` interpolates between
    order statistics with another formula than NumPy's, so a knot can sit a last bit away from
    a shopper's value and move that shopper to the neighbouring interval (measured on 300
    shoppers: most cells equal, at most 0.0057 apart). Above 10,000 shoppers scikit-learn fits
    on a random sample of 10,000 (its ``subsample``), so the two also differ by that sample's
    quantile error, Spark's being the exact one (README, "Scale-out on Spark", gives the measured difference).
    """
    n = filled.count()
    levels = np.linspace(0, 1, max(1, min(QUANTILES, n)), endpoint=True)
    quantiles = _percentiles(filled, names, safe, levels.tolist())
    table = {safe[c]: np.asarray(quantiles[c]) for c in names}
    references = levels

    def transform(batches: Any) -> Any:
        for batch in batches:
            for column, q in table.items():
                batch[column] = _normal_scores(batch[column].to_numpy(dtype=float), q, references)
            yield batch

    scaled = filled.mapInPandas(transform, schema=filled.schema)
    return scaled, replace(encoding, quantiles={c: quantiles[c] for c in names})


def _normal_scores(x: Array, quantiles: Array, references: Array) -> Array:
    """QuantileTransformer._transform_col (forward, normal output) for one column."""
    from scipy import stats

    lower = x - QUANTILE_BOUND < quantiles[0]
    upper = x + QUANTILE_BOUND > quantiles[-1]
    out = 0.5 * (np.interp(x, quantiles, references)
                 - np.interp(-x, -quantiles[::-1], -references[::-1]))
    out[upper] = 1.0
    out[lower] = 0.0
    out = stats.norm.ppf(out)
    clip = QUANTILE_BOUND - np.spacing(1)
    return np.asarray(np.clip(out, stats.norm.ppf(clip), stats.norm.ppf(1 - clip)))


def _pca(scaled: DataFrame, components: int, encoding: Encoding) -> tuple[DataFrame, Encoding]:
    """``pyspark.ml.feature.PCA`` on the centred matrix, signs as scikit-learn's ``PCA``.

    MLlib's PCA projects without centring, so the columns' means are taken off first (the
    covariance, hence the components, is the same); each component's sign is flipped so its
    largest loading is positive (scikit-learn's ``svd_flip(u_based_decision=False)``), then
    the projection is computed as column expressions.
    """
    from pyspark.ml.feature import PCA
    from pyspark.sql import functions as F

    inputs = [f"c{i}" for i in range(len(encoding.columns))]
    row = scaled.agg(*[F.avg(c).alias(c) for c in inputs]).collect()[0]
    centre = [float(row[c]) for c in inputs]
    centred = scaled.select("user_id", *[(F.col(c) - m).alias(c)
                                         for c, m in zip(inputs, centre, strict=True)])
    vectors = assembled(centred, encoding)
    loadings = np.array(PCA(k=components, inputCol=FEATURES_COL, outputCol="pcs")
                        .fit(vectors).pc.toArray(), dtype=float).T.copy()  # components x features
    biggest = np.abs(loadings).argmax(axis=1)
    loadings *= np.sign(loadings[np.arange(len(loadings)), biggest])[:, None]
    projected = centred.select("user_id", *[
        sum((F.col(c) * float(w) for c, w in zip(inputs, weights, strict=True)), F.lit(0.0))
        .alias(f"c{j}") for j, weights in enumerate(loadings)])
    return projected, replace(encoding, components=tuple(tuple(float(w) for w in r) for r in loadings),
                              centre=tuple(centre))


def _top_categories(frame: DataFrame, top: int) -> list[str]:
    """The ``top`` categories by total share, ties by name (as the DuckDB decoding orders them)."""
    from pyspark.sql import functions as F

    if top <= 0:
        return []
    entries = frame.select(F.explode("_mix").alias("key", "value")).where(F.col("key").isNotNull())
    rows = (entries.groupBy("key").agg(F.sum(F.coalesce("value", F.lit(0.0))).alias("total"))
            .orderBy(F.desc("total"), F.asc("key")).limit(top).collect())
    return [str(r["key"]) for r in rows]


def _fill_values(raw: DataFrame, names: list[str], safe: dict[str, str]) -> dict[str, float]:
    """ProfileEncoder's fills: 0; the median for price-like features; max + 1 for recency."""
    from pyspark.sql import functions as F

    aggregates = []
    for n in names:
        column = F.col(safe[n])
        aggregates += [F.count(column).alias(f"n_{safe[n]}"), F.max(column).alias(f"x_{safe[n]}"),
                       F.percentile(column, F.lit(0.5)).alias(f"q_{safe[n]}")]
    row = raw.agg(*aggregates).collect()[0]
    fill = {}
    for n in names:
        if not row[f"n_{safe[n]}"]:
            fill[n] = 0.0
        elif n in _FILL_MAX:
            fill[n] = float(row[f"x_{safe[n]}"]) + 1.0
        elif n in _FILL_MEDIAN:
            fill[n] = float(row[f"q_{safe[n]}"])
        else:
            fill[n] = 0.0
    return fill


def _bounds(filled: DataFrame, names: list[str], safe: dict[str, str]) -> dict[str, tuple[float, float]]:
    """The exact 1st and 99th percentiles (linear interpolation, as NumPy's nanquantile)."""
    from pyspark.sql import functions as F

    row = filled.agg(*[F.percentile(F.col(safe[n]), F.array(F.lit(WINSOR[0]), F.lit(WINSOR[1])))
                       .alias(safe[n]) for n in names]).collect()[0]
    return {n: (float(row[safe[n]][0]), float(row[safe[n]][1])) for n in names}


def assembled(frame: DataFrame, encoding: Encoding) -> DataFrame:
    """``user_id`` and one ``features`` vector column (MLlib's input)."""
    from pyspark.ml.feature import VectorAssembler

    inputs = [f"c{i}" for i in range(encoding.width)]
    return VectorAssembler(inputCols=inputs, outputCol=FEATURES_COL).transform(frame).select(
        "user_id", FEATURES_COL)


def matrix_frame(spark: SparkSession, X: Array) -> DataFrame:
    """A NumPy matrix as an MLlib frame (row number as ``user_id``): for sweep samples."""
    from pyspark.ml.linalg import Vectors

    rows = [(i, Vectors.dense(row.tolist())) for i, row in enumerate(np.asarray(X, dtype=float))]
    return spark.createDataFrame(rows, ["user_id", FEATURES_COL])


# -- fitting --------------------------------------------------------------------------------

def fit(frame: DataFrame, method: str, k: int, random_state: int = 0) -> Any:
    """A fitted MLlib model of ``method`` with ``k`` segments."""
    from pyspark.ml.clustering import BisectingKMeans, GaussianMixture, KMeans

    check_method(method)
    estimator: Any
    if method == "kmeans":
        estimator = KMeans(k=k, seed=random_state, initMode="k-means||", maxIter=MAX_ITER)
    elif method == "gmm":
        estimator = GaussianMixture(k=k, seed=random_state, maxIter=MAX_ITER)
    else:
        estimator = BisectingKMeans(k=k, seed=random_state, maxIter=MAX_ITER)
        return _Shifted(estimator.setFeaturesCol(FEATURES_COL))._fit(frame)
    return estimator.setFeaturesCol(FEATURES_COL).fit(frame)


class _Shifted:
    """Bisecting K-Means on the features moved by :data:`BISECT_SHIFT` in every column.

    MLlib splits a cluster by nudging its centre by a multiple of the centre's norm; on
    standardised data the root centre is 0, so it never splits (measured: k = 3 asked, one
    cluster returned). Distances, labels and silhouettes do not change under a translation.
    """

    def __init__(self, estimator: Any) -> None:
        self.estimator = estimator

    def _fit(self, frame: DataFrame) -> _Shifted:
        self.model = self.estimator.fit(_shift(frame, BISECT_SHIFT))
        return self

    def transform(self, frame: DataFrame) -> DataFrame:
        return self.model.transform(_shift(frame, BISECT_SHIFT))  # type: ignore[no-any-return]

    def clusterCenters(self) -> list[Array]:  # noqa: N802 (MLlib's name)
        return [np.asarray(c, dtype=float) - BISECT_SHIFT for c in self.model.clusterCenters()]


def _shift(frame: DataFrame, by: float) -> DataFrame:
    from pyspark.ml.functions import array_to_vector, vector_to_array
    from pyspark.sql import functions as F

    moved = F.transform(vector_to_array(F.col(FEATURES_COL)), lambda x: x + F.lit(by))
    return frame.withColumn(FEATURES_COL, array_to_vector(moved))


def labels_of(model: Any, frame: DataFrame, order: Sequence[Any] | None = None
              ) -> tuple[DataFrame, Array, Array | None]:
    """(predictions, label per row, best probability or None), rows in ``order`` of user ids
    (default: ascending ``user_id``)."""
    from pyspark.ml.functions import vector_to_array
    from pyspark.sql import functions as F

    predictions = model.transform(frame)
    columns = [F.col("user_id"), F.col("prediction")]
    gmm = "probability" in predictions.columns
    if gmm:
        columns.append(F.array_max(vector_to_array(F.col("probability"))).alias("best"))
    local = predictions.select(*columns).orderBy("user_id").toPandas()
    if order is not None:
        local = local.set_index("user_id")
        if len(local) != len(order) or not local.index.isin(order).all():
            raise ConfigError("The profiles Spark read do not match the workspace's.",
                              hint="Rebuild the profiles, then segment again.",
                              title="Profiles changed")
        local = local.loc[list(order)]
    return (predictions, local["prediction"].to_numpy(dtype=int),
            local["best"].to_numpy(dtype=float) if gmm else None)


def silhouette(predictions: DataFrame) -> float:
    """``ClusteringEvaluator``'s silhouette (squared Euclidean), on every row given."""
    from pyspark.ml.evaluation import ClusteringEvaluator

    if predictions.select("prediction").distinct().count() < 2:
        return float("nan")
    return float(ClusteringEvaluator(featuresCol=FEATURES_COL, predictionCol="prediction",
                                     metricName="silhouette",
                                     distanceMeasure="squaredEuclidean").evaluate(predictions))


def stored_model(model: Any, method: str, k: int, random_state: int) -> SparkClusterModel:
    """The fitted MLlib model as :class:`SparkClusterModel` (NumPy only)."""
    if method == "gmm":
        gaussians = model.gaussians
        return SparkClusterModel(method, k, random_state,
                                 np.array([g.mean.toArray() for g in gaussians]),
                                 np.asarray(model.weights, dtype=float),
                                 np.array([g.cov.toArray() for g in gaussians]))
    return SparkClusterModel(method, k, random_state,
                             np.array([np.asarray(c, dtype=float) for c in model.clusterCenters()]))


def check_scaling(scaling: str) -> None:
    if scaling not in SPARK_SCALINGS:
        raise ConfigError(f"The Spark engine has no {scaling!r} scaling.",
                          hint=f"Use one of: {', '.join(SPARK_SCALINGS)} (or the DuckDB engine).",
                          title="Invalid scaling")


def check_method(method: str) -> None:
    if method not in SPARK_METHODS:
        raise ConfigError(f"The Spark engine has no clustering method {method!r}.",
                          hint=f"Use one of: {', '.join(SPARK_METHODS)}, or rules (or the DuckDB "
                          "engine for hierarchical and HDBSCAN).", title="Invalid method")


# -- the k sweep ------------------------------------------------------------------------------

def sweep_k_spark(spark: SparkSession, X: Array, method: str, ks: Sequence[int],
                  random_state: int = 0, fit_max: int = SWEEP_FIT_MAX) -> Sweep:
    """:func:`analytics.segments.clustering.sweep_k` with every fit on Spark MLlib.

    The sweep works on the same sample of at most ``fit_max`` shoppers as the scikit-learn
    sweep (choosing k does not need everyone); silhouettes are ClusteringEvaluator's on that
    whole sample (its squared-Euclidean silhouette is linear in the rows, so no sub-sample),
    Davies-Bouldin and Calinski-Harabasz are computed on the driver from Spark's labels.
    """
    check_method(method)
    sample = X[_sample_rows(len(X), fit_max, random_state)]
    ks = [k for k in ks if 2 <= k < len(sample)]
    if not ks:
        raise ConfigError(f"Only {len(sample)} shoppers: too few to compare numbers of segments.",
                          hint="Load more data.", title="Too few shoppers")
    frame = matrix_frame(spark, sample).cache()
    rows = [_sweep_row(spark, frame, sample, method, k, random_state) for k in ks]
    choice = autok.choose(rows)
    shuffled = autok.column_shuffled(sample, random_state)
    reference_frame = matrix_frame(spark, shuffled)
    reference = silhouette(labels_of(fit(reference_frame, method, choice.k, random_state),
                                     reference_frame)[0])
    chosen = next(r for r in rows if r.k == choice.k)
    verdict, note = autok.structure(chosen.silhouette, reference)
    frame.unpersist()
    return Sweep(method, tuple(rows), choice.k, CRITERION, len(sample), len(sample),
                 choice.reason, verdict, note, reference)


def _sweep_row(spark: SparkSession, frame: DataFrame, X: Array, method: str, k: int,
               random_state: int) -> SweepRow:
    model = fit(frame, method, k, random_state)
    predictions, labels, _ = labels_of(model, frame)
    row = _scores(X, labels, silhouette(predictions), model if method == "gmm" else None)
    low, high = autok.shares(labels)
    return replace(row, k=k, min_share=low, max_share=high, rejected=autok.size_problem(labels),
                   stability=_stability(spark, X, method, k, random_state))


def _scores(X: Array, labels: Array, sil: float, gmm: Any | None, n: int | None = None) -> SweepRow:
    k = len(set(labels.tolist()))
    if k < 2:
        return SweepRow(k, float("nan"), float("nan"), float("nan"), None)
    bic = None
    if gmm is not None:  # BIC from Spark's log-likelihood and the full-covariance parameter count
        d = X.shape[1]
        parameters = k * (d + d * (d + 1) / 2) + k - 1
        # The log-likelihood is of every row fitted (n), which is more than X for a sample.
        bic = float(-2 * gmm.summary.logLikelihood + parameters * np.log(n or len(X)))
    return SweepRow(k, sil, float(davies_bouldin_score(X, labels)),
                    float(calinski_harabasz_score(X, labels)), bic)


def _stability(spark: SparkSession, X: Array, method: str, k: int, random_state: int) -> float:
    """Mean ARI between the Spark fit on a sample and Spark refits on subsamples of it."""
    sample = X[_sample_rows(len(X), STABILITY_MAX, random_state + 1)]
    whole = matrix_frame(spark, sample).cache()
    base = labels_of(fit(whole, method, k, random_state), whole)[1]
    rng = np.random.default_rng(random_state)
    size = max(k + 1, int(len(sample) * STABILITY_FRACTION))
    scores = []
    for i in range(STABILITY_RESAMPLES):
        part = rng.choice(len(sample), size=size, replace=False)
        refit = fit(matrix_frame(spark, sample[part]), method, k, random_state + i + 1)
        scores.append(autok.agreement(base, labels_of(refit, whole)[1]))
    whole.unpersist()
    return round(float(np.mean(scores)), 4)


# -- a segment run ---------------------------------------------------------------------------

def run_segmentation_spark(ws: Workspace, spec: SegmentSpec, master: str = "local[2]",
                           spark: SparkSession | None = None, out_dir: str | None = None,
                           overwrite: bool = False) -> SegmentRun:
    """:func:`analytics.segments.runs.run_segmentation` computed on Spark, recorded the same way.

    Parameters
    ----------
    ws : Workspace
        Whose profiles are segmented and where the run is recorded.
    spec : SegmentSpec
        ``method`` one of :data:`SPARK_METHODS` or ``rules``; ``k=None`` sweeps ``spec.ks``.
    master : str
        ``local[N]``, ``spark://HOST:PORT`` or ``sc://HOST:PORT``; ignored when ``spark`` is given.
    spark : SparkSession, optional
        A session to reuse (tests, notebooks); it is left running.
    out_dir : str, optional
        Write every shopper's membership there as Parquet partitioned by ``segment_id``; the run
        recorded keeps a seeded sample of shoppers (setting SHOPPER_LENS_SPARK_SAMPLE_ROWS) with
        the full sizes. Profiles built with ``--out-dir`` are read whole from their folder.
    overwrite : bool
        Replace the contents of a non-empty ``out_dir``.

    Raises
    ------
    NotFoundError
        When profiles have not been built.
    ConfigError
        For a method or scaling the Spark engine does not have, a PCA size larger than the
        encoded columns, bad features or k.
    OutDirError
        When ``out_dir`` is not empty (without ``overwrite``) or cannot be written.
    """
    from analytics.engines.spark import configure, export_tables, session

    if out_dir is not None:
        if spec.method == "rules":
            raise ConfigError("--out-dir works with the clustering methods on Spark, not rules.",
                              hint=f"Use one of: {', '.join(SPARK_METHODS)}, or leave --out-dir "
                              "out (a rule run is stored whole).", title="Invalid option")
        outputs.check_out_dir(out_dir, overwrite)
    spilled = outputs.get(ws, outputs.PROFILES)
    profiles = load_profiles(ws)
    if spec.method != "rules":
        check_method(spec.method)
        if len(profiles) < 3:
            raise ConfigError(f"Only {len(profiles)} shopper(s) have a profile; clustering needs "
                              "at least 3.", hint="Load more events, then rebuild the profiles.",
                              title="Too few shoppers")
        check_scaling(spec.scaling)
    own = spark is None
    session_ = spark or session(master)
    configure(session_)
    started = time.perf_counter()
    try:
        with export_tables(ws, {"profiles": "SELECT * FROM profiles ORDER BY user_id"}) as out:
            frame = (spark_out.read_back(session_, spilled.path) if spilled is not None
                     else session_.read.parquet(str(out.tables["profiles"])))
            if spec.method == "rules":
                if spilled is not None and spilled.sampled:
                    raise ConfigError("The workspace holds a sample of the profiles; rules on Spark "
                                      "store every shopper's segment.", hint="Use a clustering "
                                      "method with --out-dir, or rebuild the profiles without "
                                      "--out-dir.", title="Invalid option")
                run = _rules_run(ws, spec, profiles, frame, session_, started)
            else:
                target = (out_dir, overwrite) if out_dir is not None else None
                if target is None and spilled is not None and spilled.sampled:
                    raise ConfigError("The workspace holds a sample of the profiles, so the full "
                                      "membership cannot be stored in it.", hint="Add --out-dir "
                                      "DIR to write it as Parquet.", title="Output folder needed")
                run = _cluster_run(ws, spec, profiles, frame, session_, started, target)
            session_.catalog.clearCache()
    finally:
        if own:
            session_.stop()
    return run


def _engine_note(spark: SparkSession, seconds: float) -> dict[str, Any]:
    return {"name": "spark", "master": spark.sparkContext.master, "version": spark.version,
            "seconds": round(seconds, 2)}


def _cluster_run(ws: Workspace, spec: SegmentSpec, profiles: pd.DataFrame, frame: DataFrame,
                 spark: SparkSession, started: float,
                 target: tuple[str, bool] | None = None) -> SegmentRun:
    """Fit on every profile Spark reads; with ``target`` (out_dir, overwrite) the run stores a
    sample and the full sizes, and the whole membership goes to the folder."""
    ids: list[str] | None = None
    if target is not None:
        # The profiles' own sampling (same seed), so a sampled workspace holds every one of them.
        ids = spark_out.sample_ids(frame, outputs.sample_rows())
        profiles = _sampled(profiles, ids)
    features, notes = usable_features(profiles, spec.features,
                                      explicit=spec.features != SegmentSpec().features)
    spec = replace(spec, features=tuple(features))
    # The scikit-learn preprocessor, fitted on the same profiles, is stored with the run: the
    # dashboard's heatmap, map and refresh transform profiles with it (parity-tested to 1e-9).
    # Spark's encoding first: it refuses a PCA size the encoded columns cannot give.
    encoded, encoding = encode(frame, features, spec.scaling, pca_components=spec.pca_components)
    pipeline = preprocessor(features, spec.scaling, spec.pca_components,
                            random_state=spec.random_state)
    X = pipeline.fit_transform(profiles)
    data = assembled(encoded, encoding).cache()
    sweep = None
    if spec.k is None:
        sweep = sweep_k_spark(spark, X, spec.method, spec.ks, spec.random_state)
        spec = replace(spec, k=sweep.best_k)
        notes.append(f"k = {sweep.best_k} chosen among k = {min(spec.ks)}..{max(spec.ks)} on "
                     f"Spark: {sweep.reason}")
        notes.append(sweep.structure_note)
    assert spec.k is not None
    check_k(spec.k, len(profiles))
    model = fit(data, spec.method, spec.k, spec.random_state)
    order = profiles["user_id"].astype(str).tolist()
    predictions, labels, probability = labels_of(
        model, data if ids is None else spark_out.only(data, ids), order)
    if ids is not None:
        predictions = model.transform(data)  # the full membership, for sizes and the silhouette
    sil = silhouette(predictions)
    n = predictions.count() if ids is not None else len(X)
    quality = asdict(_scores(X, labels, sil, model if spec.method == "gmm" else None, n))
    quality["silhouette_sample"] = n
    quality["silhouette_metric"] = "squared Euclidean (Spark ClusteringEvaluator)"
    problem = autok.size_problem(labels)
    if problem:
        notes.append(f"Lopsided segments: {problem}. Try another k, method or scaling "
                     "(a segment under 1% or over 80% of shoppers is hard to act on).")
    if sweep is not None:
        quality["structure"] = sweep.structure
    engine = _engine_note(spark, time.perf_counter() - started)
    quality["engine"] = engine
    notes.append(f"Computed on Spark {engine['version']} ({engine['master']}) with MLlib "
                 f"{_LABELS[spec.method]}; silhouette of squared Euclidean distances.")
    fitted = {"pipeline": pipeline, "engine": "spark",
              "model": stored_model(model, spec.method, spec.k, spec.random_state)}
    name = spec.name or f"{_LABELS[spec.method]} (Spark), {len(set(labels.tolist()))} segments"
    if target is None:
        data.unpersist()
        return _record(ws, replace(spec, name=name), profiles, labels, probability, X, fitted,
                       quality, notes, sweep)
    totals = {int(r["prediction"]): int(r["count"])
              for r in predictions.groupBy("prediction").count().collect()}
    notes.append(f"Fitted on all {n:,} shoppers; the segment profiles here describe a random "
                 f"sample of {len(profiles):,}, the sizes are the full counts.")
    run = _record(ws, replace(spec, name=name), profiles, labels, probability, X, fitted,
                  quality, notes, sweep, totals=totals)
    _write_membership(ws, run, predictions, fitted["id_map"], n, target)
    data.unpersist()
    return run


def _sampled(profiles: pd.DataFrame, ids: Sequence[str]) -> pd.DataFrame:
    """The workspace's profiles of the sampled shoppers (all of them must be there)."""
    keep = profiles[profiles["user_id"].astype(str).isin(set(ids))].reset_index(drop=True)
    if len(keep) != len(ids):
        raise ConfigError(f"{len(ids) - len(keep):,} sampled shoppers have no profile in the "
                          "workspace.", hint="Rebuild the profiles (with the same "
                          "SHOPPER_LENS_SPARK_SAMPLE_ROWS), then segment again.",
                          title="Profiles changed")
    return keep


def _write_membership(ws: Workspace, run: SegmentRun, predictions: DataFrame,
                      id_map: dict[int, int], n: int, target: tuple[str, bool]) -> None:
    """Every shopper's segment to the folder, then the record; a failed write drops the run."""
    from analytics.segments.runs import delete_run

    url, overwrite = target
    names = {s.segment_id: s.name for s in run.segments}
    try:
        rows = spark_out.write(spark_out.membership(predictions, id_map, names), url,
                               spark_out.BY_SEGMENT, overwrite)
    except Exception:
        delete_run(ws, run.run_id)
        raise
    written = spark_out.output(outputs.SEGMENTS, run.run_id, url, rows, n, spark_out.BY_SEGMENT,
                               _members(ws, run.run_id), run.as_of)
    with ws.transaction() as cur:
        outputs.record(cur, written)


def _members(ws: Workspace, run_id: str) -> int:
    with ws.cursor() as cur:
        return int(cur.execute("SELECT count(*) FROM segment_members WHERE run_id = ?",
                               [run_id]).fetchall()[0][0])


def _rules_run(ws: Workspace, spec: SegmentSpec, profiles: pd.DataFrame, frame: DataFrame,
               spark: SparkSession, started: float) -> SegmentRun:
    from analytics.engines.spark_rules import assign_collected
    from analytics.segments.clustering import NOISE
    from analytics.segments.rules import RuleSet

    if spec.rules is None:
        raise ConfigError("The rules method needs a rule set.", hint="Pass --rules FILE or a "
                          "preset name.", title="No rules")
    rules = RuleSet.from_json(spec.rules)
    result = assign_collected(rules, frame, profiles["user_id"])
    ids = {name: i for i, name in enumerate(result.names)}
    labels = result.labels.map(lambda n: ids.get(n, NOISE)).to_numpy()
    features, _ = usable_features(profiles, SegmentSpec().features, explicit=False)
    pipeline = preprocessor(features)
    X = pipeline.fit_transform(profiles)
    engine = _engine_note(spark, time.perf_counter() - started)
    quality = {"thresholds": result.thresholds, "matched": int((labels != NOISE).sum()),
               "engine": engine}
    notes = [f"{rules.name}: {len(rules.segments)} rule segment(s), first match wins.",
             f"Evaluated on Spark {engine['version']} ({engine['master']})."]
    fitted = {"rules": rules.to_json(), "pipeline": pipeline, "engine": "spark"}
    names = {i: n for n, i in ids.items()}
    return _record(ws, spec, profiles, labels, None, X, fitted, quality, notes, None, names)


__all__ = ["SPARK_METHODS", "SparkClusterModel", "encode", "run_segmentation_spark",
           "sweep_k_spark"]
