"""Segments, rules and ALS on Spark MLlib against the scikit-learn / pandas / implicit paths.

One session-scoped local[2] Spark session (tests/spark_support.py); the demo shop where the
planted segments or the NDCG comparison need it, a 300-shopper generated shop elsewhere.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score, silhouette_score

from analytics.bundle import load_bundle
from analytics.errors import ConfigError
from analytics.profiles import build_profiles, load_profiles
from analytics.sample import generate
from analytics.segments import PRESETS, Clusterer, RuleSet, SegmentSpec, export_frame, get_run, members
from analytics.segments.features import preprocessor
from analytics.segments.rules import assign
from analytics.segments.runs import usable_features
from analytics.workspace import Workspace
from tests.spark_support import needs_spark, spark  # noqa: F401
from tests.test_segments import STORE_ONLY, planted

pytestmark = [pytest.mark.spark, needs_spark]

EDGE_RULES = {"name": "edges", "otherwise": None, "segments": [
    {"name": "no price", "when": {"feature": "avg_price_viewed", "op": "is_empty"}},
    {"name": "not mobile", "when": {"all": [
        {"feature": "main_device", "op": "!=", "value": "mobile"},
        {"feature": "avg_price_viewed", "op": "bottom", "percent": 50}]}},
    {"name": "not in", "when": {"feature": "main_device", "op": "not_in", "value": ["desktop"]}},
    {"name": "pricey", "when": {"not": {"feature": "avg_price_viewed", "op": "<", "value": 20}}}]}


def profiles_frame(spark, ws):  # noqa: F811
    """The workspace's profiles as Spark reads them (the handover the engine uses)."""
    from analytics.engines.spark import export_tables

    with export_tables(ws, {"profiles": "SELECT * FROM profiles ORDER BY user_id"}) as out:
        return spark.createDataFrame(spark.read.parquet(str(out.tables["profiles"])).toPandas())


@pytest.fixture(scope="module")
def small_ws(tmp_path_factory):
    """A 300-shopper generated shop with profiles (Spark start-up, not data, dominates)."""
    root = tmp_path_factory.mktemp("spark_shop")
    shop = generate(root / "shop", users=300, seed=5).out_dir
    workspace = Workspace(root / "ws" / "shopper_lens.duckdb", allow=[shop])
    load_bundle(workspace, shop)
    build_profiles(workspace)
    yield workspace
    workspace.close()


@pytest.fixture(scope="module")
def small_frame(small_ws, spark):  # noqa: F811
    """The generated shop's profiles as Spark reads them, once for the scaling tests."""
    frame = profiles_frame(spark, small_ws).cache()
    yield frame
    frame.unpersist()


def test_kmeans_on_spark_agrees_with_scikit_learn_and_finds_the_planted_segments(demo_ws, spark):  # noqa: F811
    from analytics.engines.spark_segments import encode, run_segmentation_spark
    from analytics.refresh import assignments
    from analytics.segments.views import heatmap

    profiles = load_profiles(demo_ws)
    truth = planted(profiles["user_id"])
    k = truth.nunique()
    features, _ = usable_features(profiles, SegmentSpec().features, explicit=False)
    X = preprocessor(features).fit_transform(profiles)
    # The same encoding: Spark's scaled columns equal scikit-learn's to rounding.
    encoded, encoding = encode(profiles_frame(spark, demo_ws), features)
    on_spark = encoded.toPandas().set_index("user_id").loc[profiles["user_id"]].to_numpy()
    assert on_spark.shape == X.shape and np.abs(on_spark - X).max() < 1e-9
    assert list(encoding.columns) == list(preprocessor(features).fit(profiles)
                                          .named_steps["encode"].feature_names_out_)

    run = run_segmentation_spark(demo_ws, SegmentSpec(method="kmeans", k=k), spark=spark)
    found = members(demo_ws, run.run_id).set_index("user_id")["segment_id"].loc[profiles["user_id"]]
    sklearn = Clusterer("kmeans", n_clusters=k).fit(X).labels_
    assert adjusted_rand_score(sklearn, found) >= 0.9
    online = (truth != STORE_ONLY).to_numpy()
    for labels in (found.to_numpy(), sklearn):
        assert adjusted_rand_score(truth[online], labels[online]) >= 0.8
    # ClusteringEvaluator's silhouette is scikit-learn's on squared Euclidean distances.
    assert run.quality["silhouette"] == pytest.approx(
        silhouette_score(X, found.to_numpy(), metric="sqeuclidean"), abs=1e-6)
    # An ordinary run: recorded, said to be Spark's, re-scored without Spark, shown and exported.
    stored = get_run(demo_ws, run.run_id)
    assert stored.quality["engine"]["name"] == "spark" and "Spark" in stored.name
    assert any("Computed on Spark" in n for n in stored.notes)
    again, _, _ = assignments(demo_ws, stored)
    assert (again.set_index("user_id")["segment_id"].loc[profiles["user_id"]].to_numpy()
            == found.to_numpy()).all()
    assert heatmap(demo_ws, run.run_id).shape[0] == k
    assert len(export_frame(demo_ws, run.run_id)) == len(profiles)


def test_rules_on_spark_equal_the_pandas_evaluator(demo_ws, spark):  # noqa: F811
    from analytics.engines.spark_rules import assign_collected

    profiles = load_profiles(demo_ws)
    frame = profiles_frame(spark, demo_ws)
    combinators = {"name": "t", "otherwise": "rest", "segments": [
        {"name": "buyers", "when": {"feature": "frequency", "op": ">=", "value": 1}},
        {"name": "mobile or carted", "when": {"any": [
            {"feature": "main_device", "op": "in", "value": ["mobile"]},
            {"not": {"feature": "cart_adds", "op": "between", "value": [0, 0]}}]}}]}
    for source in (PRESETS["high_intent"], PRESETS["low_engagement"], PRESETS["rfm"],
                   combinators, EDGE_RULES):
        rules = RuleSet.from_json(json.loads(json.dumps(source)))
        expected, got = assign(rules, profiles), assign_collected(rules, frame, profiles["user_id"])
        assert (got.labels.to_numpy() == expected.labels.to_numpy()).all(), rules.name
        assert got.names == expected.names
        assert got.thresholds == pytest.approx(expected.thresholds, rel=1e-12)
    assert (assign(RuleSet.from_json(EDGE_RULES), profiles).labels == "no price").any()


def test_rules_on_spark_treat_empty_cells_as_pandas_does(spark):  # noqa: F811
    """Hand-made: NaN and NULL match only is_empty; != and not_in skip empty cells."""
    from analytics.engines.spark_rules import assign_collected

    profiles = pd.DataFrame({"user_id": ["a", "b", "c", "d", "e"],
                             "avg_price_viewed": [10.0, None, 30.0, 5.0, 50.0],
                             "main_device": ["desktop", "tablet", None, "mobile", None]})
    rules = RuleSet.from_json(EDGE_RULES)
    got = assign_collected(rules, spark.createDataFrame(profiles.astype(object).where(
        profiles.notna(), None)), profiles["user_id"])
    # median of 5, 10, 30, 50 is 20: bottom 50% is <= 20.
    assert got.labels.tolist() == ["not mobile", "no price", "pricey", "not in", "pricey"]
    assert got.labels.tolist() == assign(rules, profiles).labels.tolist()
    assert got.thresholds == {"avg_price_viewed bottom 50%": 20.0}


# Three tests, not one: each Spark run is minutes on a loaded 2-core machine, and a test cut
# off by the timeout inside a py4j call breaks the worker's shared session for every later test.
def test_mixture_on_spark_gives_soft_membership(small_ws, spark):  # noqa: F811
    from analytics.engines.spark_segments import run_segmentation_spark

    gmm = run_segmentation_spark(small_ws, SegmentSpec(method="gmm", k=3), spark=spark)
    probability = members(small_ws, gmm.run_id)["probability"]
    assert probability.between(0, 1).all() and gmm.quality["bic"] is not None


def test_bisecting_kmeans_on_spark_stores_its_centres(small_ws, spark):  # noqa: F811
    from analytics.engines.spark_segments import run_segmentation_spark
    from analytics.segments.runs import load_model

    bisect = run_segmentation_spark(small_ws, SegmentSpec(method="bisecting_kmeans", k=3),
                                    spark=spark)
    assert bisect.method == "bisecting_kmeans" and bisect.k == 3
    assert len(load_model(small_ws, bisect.run_id)["model"].centres) == 3


@pytest.mark.timeout(600)  # two fits per k for stability, then a reference fit: ~3 min loaded
def test_the_k_sweep_on_spark_and_its_refusals(small_ws, spark):  # noqa: F811
    from analytics.engines.spark_segments import run_segmentation_spark

    swept = run_segmentation_spark(small_ws, SegmentSpec(method="kmeans", ks=(3, 4)), spark=spark)
    assert swept.sweep is not None and [r.k for r in swept.sweep.rows] == [3, 4]
    assert swept.k == swept.sweep.best_k and all(r.stability is not None for r in swept.sweep.rows)
    assert swept.sweep.structure in ("none", "weak", "clear")
    with pytest.raises(ConfigError, match="no 'minmax' scaling"):
        run_segmentation_spark(small_ws, SegmentSpec(method="kmeans", k=3, scaling="minmax"),
                               spark=spark)
    with pytest.raises(ConfigError, match="no clustering method 'hdbscan'"):
        run_segmentation_spark(small_ws, SegmentSpec(method="hdbscan"), spark=spark)


# k: where scikit-learn's own single-start K-Means always finds its best answer on this shop
# (min ARI over 8 seeds ≥ 0.98), so a different answer from Spark would be a real difference.
# Quantile alone has no such k here (0.21-0.63 for k = 2..8; 0.72 at the demo's planted k = 6),
# so it is clustered after PCA. Two cases cover the three added encodings (robust; quantile and
# PCA together): each case is 40-90 s of Spark jobs on a busy machine.
@pytest.mark.parametrize(("scaling", "pca", "k"), [("robust", None, 2), ("quantile", 3, 4)])
def test_robust_quantile_and_pca_on_spark_encode_and_cluster_as_scikit_learn(
        small_ws, small_frame, scaling, pca, k):
    """Spark's matrix equals scikit-learn's preprocessor's; K-Means on each agrees (ARI ≥ 0.9)."""
    from analytics.engines.spark_segments import assembled, encode, fit, labels_of

    profiles = load_profiles(small_ws)
    features, _ = usable_features(profiles, SegmentSpec().features, explicit=False)
    X = preprocessor(features, scaling, pca).fit_transform(profiles)
    encoded, encoding = encode(small_frame, features, scaling, pca_components=pca)
    on_spark = encoded.toPandas().set_index("user_id").loc[profiles["user_id"]].to_numpy()
    assert on_spark.shape == X.shape == (len(profiles), pca or len(encoding.columns))
    # Exact percentiles on both sides (300 shoppers < QuantileTransformer's 10,000 subsample),
    # but Spark interpolates them with another formula than NumPy: a knot a last bit away from
    # a shopper's value moves that shopper to the next interval (measured: 0.0057 at most,
    # most cells equal). PCA's loadings come from different eigen-solvers: equal to rounding.
    tolerance = 1e-2 if scaling == "quantile" else 1e-7 if pca else 1e-9
    assert np.abs(on_spark - X).max() < tolerance
    if scaling == "quantile" and not pca:  # (PCA mixes every column into every component)
        assert np.median(np.abs(on_spark - X)) < 1e-9
    if k is None:
        return
    data = assembled(encoded, encoding)
    labels = labels_of(fit(data, "kmeans", k), data, profiles["user_id"].astype(str).tolist())[1]
    assert adjusted_rand_score(Clusterer("kmeans", n_clusters=k).fit(X).labels_, labels) >= 0.9


def test_a_pca_run_on_spark_is_recorded_with_its_components(small_ws, spark):  # noqa: F811
    from analytics.engines.spark_segments import run_segmentation_spark
    from analytics.segments.runs import load_model

    run = run_segmentation_spark(small_ws, SegmentSpec(method="kmeans", k=3, scaling="robust",
                                                       pca_components=3), spark=spark)
    pipeline = load_model(small_ws, run.run_id)["pipeline"]
    assert "pca" in pipeline.named_steps and run.k == 3
    assert len(load_model(small_ws, run.run_id)["model"].centres[0]) == 3
    with pytest.raises(ConfigError, match="PCA cannot keep 99 components"):
        run_segmentation_spark(small_ws, SegmentSpec(method="kmeans", k=3, pca_components=99),
                               spark=spark)


def test_als_on_spark_ranks_as_well_as_implicit_and_is_stored_like_it(demo_ws, spark):  # noqa: F811
    from analytics.recommend import recommendations_table
    from analytics.recommend.evaluate import evaluate
    from analytics.recommend.store import ensure_models, stored_models

    report = evaluate(demo_ws, ["als", "als_spark"], exclusions=["purchased"], store=False)
    ndcg = {s.model: s.ndcg for s in report.overall}
    assert ndcg["als"] > 0.05
    assert abs(ndcg["als_spark"] - ndcg["als"]) <= 0.15 * ndcg["als"], ndcg
    trained = ensure_models(demo_ws, ["als_spark"])
    assert stored_models(demo_ws, ["als_spark"]) is not None  # read back without refitting
    table = recommendations_table(trained, "als_spark", k=5)
    assert table["user_id"].nunique() == trained.interactions.n_users
    warm = table[table["reason"].str.startswith("because you")]
    assert len(warm) > len(table) / 2
    assert warm["reason"].str.match(r"^because you (bought|viewed) '").all()
