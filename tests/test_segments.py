"""Segmentation: planted segments recovered, rules equal a pandas filter, runs recorded."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from analytics.errors import ConfigError, NotFoundError
from analytics.ingest import ingest_file
from analytics.profiles import build_profiles, load_profiles
from analytics.segments import (
    PRESETS,
    Clusterer,
    RuleSet,
    SegmentSpec,
    definition,
    export_frame,
    get_run,
    list_runs,
    load_model,
    members,
    preprocessor,
    rename_segment,
    run_segmentation,
    save_selection,
)
from analytics.segments.autok import size_problem
from analytics.segments.clustering import CRITERION, NOISE
from analytics.segments.rules import RuleError, assign
from analytics.segments.runs import NOISE_NAME
from analytics.segments.stability import bootstrap_stability, match_labels
from tests.conftest import COMPLETEJOURNEY, demo_truth, needs_shared

STORE_ONLY = "store_only"  # shoppers the generator plants with in-store purchases only


def planted(users: pd.Series) -> pd.Series:
    """The planted segment of each user id; store-only shoppers are their own planted group."""
    truth = demo_truth().set_index("user_id")["segment"]
    return users.map(truth).fillna(STORE_ONLY)


def test_kmeans_with_automatic_k_recovers_the_planted_segments(demo_ws):
    run = run_segmentation(demo_ws, SegmentSpec(method="kmeans"))  # default: k in 3..12, winsor
    found = members(demo_ws, run.run_id)
    truth = planted(found["user_id"])
    assert run.sweep is not None and run.sweep.criterion == CRITERION
    assert 3 <= run.k <= 12 and abs(run.k - truth.nunique()) <= 1, run.sweep.rows
    assert size_problem(found["segment_id"].to_numpy()) is None
    assert run.sweep.structure == "clear" and run.quality["structure"] == "clear"
    assert f"k = {run.k}" in run.sweep.reason and any(run.sweep.reason in n for n in run.notes)
    assert adjusted_rand_score(truth, found["segment_id"]) >= 0.9
    online = truth != STORE_ONLY
    assert adjusted_rand_score(truth[online], found["segment_id"][online]) >= 0.8
    # Automatic names describe the planted behaviour of the segment's majority.
    majority = pd.crosstab(found["segment_name"], truth).idxmax(axis=1).to_dict()
    assert majority.get("Mobile cart abandoners") == "mobile_cart_abandoners", majority
    assert majority.get("Bargain hunters") == "bargain_hunters", majority
    assert majority.get("Window shoppers") == "window_shoppers", majority
    assert run.quality["silhouette_sample"] == len(found)


def test_each_method_runs_on_the_demo_with_its_own_output(demo_ws):
    gmm = run_segmentation(demo_ws, SegmentSpec(method="gmm", k=6))
    assert gmm.quality["bic"] is not None and 0 <= gmm.quality["mixed_share"] < 1
    probs = members(demo_ws, gmm.run_id)["probability"]
    assert probs.between(0, 1).all()

    ward = run_segmentation(demo_ws, SegmentSpec(method="hierarchical", k=6, k_broad=3))
    model = load_model(demo_ws, ward.run_id)["model"]
    assert len(set(model.broad_of_.values())) == 3  # each niche segment sits in one broad segment
    assert len(model.broad_of_) == 6

    hdb = run_segmentation(demo_ws, SegmentSpec(method="hdbscan"))
    names = {s.segment_id: s.name for s in hdb.segments}
    assert names.get(NOISE) == NOISE_NAME and hdb.k >= 2


def test_gmm_membership_is_unsure_for_shoppers_between_two_groups():
    rng = np.random.default_rng(0)
    a, b = rng.normal(-2, 1, (400, 2)), rng.normal(2, 1, (400, 2))
    weight = rng.uniform(0.4, 0.6, (40, 1))
    mixed = weight * a[:40] + (1 - weight) * b[:40]  # planted blends of one shopper from each group
    model = Clusterer("gmm", n_clusters=2).fit(np.r_[a, b, mixed])
    best = model.probabilities_.max(axis=1)
    unsure_mixed, unsure_core = (best[800:] < 0.8).mean(), (best[:800] < 0.8).mean()
    assert unsure_mixed > 0.3 and unsure_mixed > 10 * unsure_core


def test_umap_map_keeps_neighbourhoods(demo_ws):
    from analytics.embedding import embed, quality

    X = preprocessor(SegmentSpec().features).fit_transform(load_profiles(demo_ws))
    sampled = embed(X, "umap", fit_sample=1_500)
    assert sampled.xy.shape == (len(X), 2) and sampled.fitted_on == 1_500
    assert "sample of 1,500" in sampled.note
    assert quality(X, sampled) >= 0.8
    assert quality(X, embed(X, "pca")) < quality(X, sampled)


def test_rules_select_exactly_what_a_pandas_filter_selects(demo_ws):
    profiles = load_profiles(demo_ws)
    rules = RuleSet.from_json(json.dumps(PRESETS["high_intent"]))
    got = assign(rules, profiles).labels == "High purchase intent & engaged"

    p = profiles
    minutes_cut = p["avg_session_minutes"].quantile(0.75)
    views_cut = p["views_per_session"].quantile(0.75)
    expected = ((p["events_7d"] > 0) & (p["avg_session_minutes"] >= minutes_cut)
                & (p["views_per_session"] >= views_cut) & (p["cart_abandonment_rate"] > 0)
                & (p["high_value_category_visits"] >= 2))
    assert got.sum() > 10
    assert (got == expected).all()


def test_rules_first_match_wins_and_combinators_work(demo_ws):
    profiles = load_profiles(demo_ws)
    rules = RuleSet.from_json({"name": "t", "otherwise": "rest", "segments": [
        {"name": "buyers", "when": {"feature": "frequency", "op": ">=", "value": 1}},
        {"name": "mobile or carted", "when": {"any": [
            {"feature": "main_device", "op": "in", "value": ["mobile"]},
            {"not": {"feature": "cart_adds", "op": "between", "value": [0, 0]}}]}}]})
    labels = assign(rules, profiles).labels
    buyers = profiles["frequency"] >= 1
    other = ~buyers & ((profiles["main_device"] == "mobile") | (profiles["cart_adds"] != 0))
    assert (labels[buyers] == "buyers").all()
    assert (labels[other] == "mobile or carted").all()
    assert (labels[~buyers & ~other] == "rest").all()
    assert RuleSet.from_json(rules.to_json()) == rules  # JSON round trip


def test_rfm_preset_reproduces_the_profile_segments(demo_ws):
    run = run_segmentation(demo_ws, SegmentSpec(method="rules", rules=PRESETS["rfm"]))
    got = members(demo_ws, run.run_id).set_index("user_id")["segment_name"]
    expected = load_profiles(demo_ws).set_index("user_id")["rfm_segment"]
    assert (got.sort_index() == expected.sort_index()).all()


@pytest.mark.parametrize(("rules", "message"), [
    ("{not json", "not valid JSON at line 1"),
    ('{"segments": []}', "no 'segments' list"),
    ('{"segments": [{"name": "x", "when": {"feature": "nope", "op": ">", "value": 1}}]}',
     'unknown feature "nope"'),
    ('{"segments": [{"name": "x", "when": {"feature": "frequency", "op": "~", "value": 1}}]}',
     'unknown operator "~"'),
    ('{"segments": [{"name": "x", "when": {"feature": "frequency", "op": ">", "value": "a"}}]}',
     "needs a number"),
    ('{"segments": [{"name": "x", "when": {"feature": "country", "op": ">", "value": "a"}}]}',
     "is a label"),
    ('{"segments": [{"name": "x", "when": {"feature": "frequency", "op": "top", "percent": 0}}]}',
     "percent"),
    ('{"segments": [{"name": "x", "when": {"all": []}}]}', "non-empty list"),
    ('{"segments": [{"name": "a", "when": {"feature": "frequency", "op": ">", "value": 1}},'
     '{"name": "a", "when": {"feature": "frequency", "op": "<", "value": 1}}]}', "unique"),
    ("[" * 5000 + "]" * 5000, "not valid JSON"),
    ('{"segments": [{"name": "x", "when": ' + '{"not": ' * 20 + '{"feature": "frequency", '
     '"op": ">", "value": 1}' + "}" * 20 + "}]}", "nested more than"),
])
def test_invalid_rules_get_a_specific_message(rules, message):
    with pytest.raises(RuleError, match=message.replace("(", r"\(")) as err:
        RuleSet.from_json(rules)
    assert err.value.hint


def test_uninformative_features_and_impossible_k_are_refused(demo_ws):
    with pytest.raises(ConfigError, match="cannot separate shoppers: 'omnichannel'|cannot separate"):
        with demo_ws.cursor() as cur:
            cur.execute("UPDATE profiles SET omnichannel = 0")
        run_segmentation(demo_ws, SegmentSpec(features=("frequency", "omnichannel"), k=3))
    with demo_ws.cursor() as cur:
        cur.execute("UPDATE profiles SET wishlist_adds = NULL")
    with pytest.raises(ConfigError, match="'wishlist_adds' is empty for every shopper"):
        run_segmentation(demo_ws, SegmentSpec(features=("frequency", "wishlist_adds"), k=3))
    with pytest.raises(ConfigError, match="only 3597 shoppers|but only"):
        run_segmentation(demo_ws, SegmentSpec(k=1_000_000))
    with pytest.raises(ConfigError, match="Unknown or non-numeric feature"):
        run_segmentation(demo_ws, SegmentSpec(features=("frequency", "country"), k=3))
    # Default features drop what does not vary, with a note, instead of failing.
    with demo_ws.cursor() as cur:
        cur.execute("UPDATE profiles SET searches = 0")
    run = run_segmentation(demo_ws, SegmentSpec(k=4))
    assert "searches" not in run.features and any("searches" in n for n in run.notes)


def test_tiny_populations_get_a_clear_message(ws, write):
    rows = "user_id,event_time,event_type,price\nu1,2024-01-01 10:00,view,1\nu2,2024-01-02 10:00,purchase,3\n"
    ingest_file(ws, write("tiny.csv", rows))
    build_profiles(ws)
    with pytest.raises(ConfigError, match="Only 2 shopper"):
        run_segmentation(ws, SegmentSpec(k=2))
    with pytest.raises(NotFoundError, match="No segmentation"):
        get_run(ws)


def test_profiles_must_exist_first(ws):
    with pytest.raises(NotFoundError, match="profiles have not been built"):
        run_segmentation(ws, SegmentSpec())


def test_stability_separates_real_segments_from_noise(demo_ws):
    X = preprocessor(SegmentSpec().features).fit_transform(load_profiles(demo_ws))
    real = Clusterer("kmeans", 6).fit(X)
    stable = bootstrap_stability(X, lambda: Clusterer("kmeans", 6), real.labels_, resamples=3)
    noise = np.random.default_rng(0).uniform(size=(1000, 6))
    fake = Clusterer("kmeans", 8).fit(noise)
    shaky = bootstrap_stability(noise, lambda: Clusterer("kmeans", 8, random_state=3), fake.labels_,
                                resamples=3)
    assert stable.verdict == "stable" and stable.mean >= 0.9
    assert shaky.mean < stable.mean - 0.1


def test_hungarian_matching_undoes_a_relabelling():
    users = [f"u{i}" for i in range(9)]
    previous = pd.Series([0, 0, 0, 1, 1, 1, 2, 2, 2], index=users)
    current = pd.Series([5, 5, 5, 3, 3, 7, 4, 4, 4], index=users)
    assert match_labels(previous, current) == {5: 0, 3: 1, 4: 2, 7: 3}


def test_rerun_keeps_segment_ids_and_edited_names(demo_ws):
    first = run_segmentation(demo_ws, SegmentSpec(k=6, random_state=1))
    target = next(s for s in first.segments if s.name == "Bargain hunters")
    rename_segment(demo_ws, first.run_id, target.segment_id, "Deal seekers")
    second = run_segmentation(demo_ws, SegmentSpec(k=6, random_state=7))
    a = members(demo_ws, first.run_id).set_index("user_id")["segment_id"]
    b = members(demo_ws, second.run_id).set_index("user_id")["segment_id"]
    assert (a == b.loc[a.index]).mean() > 0.95
    assert {s.segment_id: s.name for s in second.segments}[target.segment_id] == "Deal seekers"
    assert list_runs(demo_ws)["run_id"].tolist()[:2] == [second.run_id, first.run_id] or \
        set(list_runs(demo_ws)["run_id"]) >= {first.run_id, second.run_id}


def test_selection_export_and_definition(demo_ws):
    profiles = load_profiles(demo_ws)
    chosen = profiles["user_id"].iloc[[3, 10, 50]].tolist()
    run = save_selection(demo_ws, chosen, "Hand picked")
    frame = export_frame(demo_ws, run.run_id, ["monetary"])
    assert sorted(frame["user_id"]) == sorted(chosen)
    assert set(frame["segment_name"]) == {"Hand picked"}
    assert list(frame.columns) == ["run_id", "user_id", "segment_id", "segment_name", "monetary"]
    spec = definition(demo_ws, run.run_id)
    assert spec["method"] == "selection" and spec["segments"] == [{"segment_id": 0, "name": "Hand picked"}]
    with pytest.raises(ConfigError, match="no profiled shopper"):
        save_selection(demo_ws, ["nobody"], "Empty")


@needs_shared
@pytest.mark.realdata
def test_complete_journey_profiles_and_segments_end_to_end(ws):
    ingest_file(ws, COMPLETEJOURNEY / "transactions_sample.csv", source="offline")
    summary = build_profiles(ws)
    run = run_segmentation(ws, SegmentSpec())
    assert summary.users == 2_377
    assert 3 <= run.k <= 12 and sum(run.sizes.values()) == summary.users
    # Usable sizes: no segment of a handful of extreme households, none that is "everyone".
    assert size_problem(members(ws, run.run_id)["segment_id"].to_numpy()) is None, run.sizes
    assert run.sweep is not None and run.sweep.structure in ("weak", "clear")
    # The mixture that once put 95% of these shoppers in one segment now gives usable sizes.
    gmm = run_segmentation(ws, SegmentSpec(method="gmm"))
    assert 3 <= gmm.k <= 12
    assert size_problem(members(ws, gmm.run_id)["segment_id"].to_numpy()) is None, gmm.sizes
    # Offline-only data has no sessions, searches or devices: those features are left out.
    assert "searches" not in run.features and run.notes
