"""Lifetime value: the likelihoods on hand-computed cases, recovery of planted parameters, the
holdout check, and the stored values end to end through events, rules and the CLI."""

from __future__ import annotations

import json
import math
from datetime import datetime

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import approx_fprime

from analytics import staleness
from analytics.cli import main
from analytics.predict import PredictionError, predict
from analytics.predict.clv import (
    BGNBDParams,
    GammaGammaParams,
    bgnbd_gradient,
    bgnbd_log_likelihood,
    expected_order_value,
    expected_purchases,
    fit_bgnbd,
    fit_gamma_gamma,
    gamma_gamma_gradient,
    gamma_gamma_log_likelihood,
    lifetime_value,
    p_alive,
)
from analytics.predict.simulate import simulate, to_events
from analytics.predict.store import latest_fit, load_predictions, sentences
from analytics.predict.validate import check_holdout
from analytics.profiles import build_profiles, load_profiles, lookup
from analytics.segments.rules import RuleError, RuleSet, assign
from analytics.workspace import Workspace

TRUE_BGNBD = BGNBDParams(r=0.6, alpha=12.0, a=0.8, b=2.5)
TRUE_SPEND = GammaGammaParams(p=6.0, q=4.0, v=15.0)
UNIT = BGNBDParams(r=1.0, alpha=1.0, a=1.0, b=1.0)


# -- hand-computed cases -------------------------------------------------------------------
# r = alpha = a = b = 1: lambda ~ Exp(1), p ~ U(0, 1). A shopper with one repeat at day 1, seen
# for 2 days: alive  E[1-p] E[lambda e^{-2 lambda}] = 1/2 * 1/9  = 1/18,
#             gone   E[p]   E[lambda e^{-lambda}]   = 1/2 * 1/4  = 1/8,  so L = 13/72.
def test_bgnbd_likelihood_matches_the_hand_computed_case():
    ll = bgnbd_log_likelihood(UNIT, [1, 0], [1, 0], [2, 1])
    assert ll[0] == pytest.approx(math.log(13 / 72))
    assert ll[1] == pytest.approx(math.log(1 / 2))  # no repeat in 1 day: E[e^{-lambda}] = 1/2


def test_p_alive_is_the_alive_share_of_the_likelihood():
    assert p_alive(UNIT, [1], [1], [2])[0] == pytest.approx((1 / 18) / (13 / 72))  # 4/13
    assert p_alive(UNIT, [0], [0], [5])[0] == 1.0  # dropout only follows a repeat order


# nu ~ Gamma(2, 1), one repeat order of value 1 ~ Exp(nu): integral of nu^2 e^{-2 nu} = 1/4.
def test_gamma_gamma_likelihood_and_expected_value_by_hand():
    params = GammaGammaParams(p=1.0, q=2.0, v=1.0)
    assert gamma_gamma_log_likelihood(params, [1], [1])[0] == pytest.approx(math.log(1 / 4))
    # p (v + x m) / (p x + q - 1) = (1 + 2 * 3) / (2 + 1); no repeat: the mean p v / (q - 1) = 1
    assert expected_order_value(params, [2, 0], [3.0, np.nan]).tolist() == pytest.approx([7 / 3, 1])


def test_expected_purchases_start_at_zero_and_grow_with_the_horizon():
    x, tx, t = [0, 3, 3], [0, 80, 10], [100, 100, 100]
    assert expected_purchases(TRUE_BGNBD, 0, x, tx, t) == pytest.approx([0, 0, 0])
    short, long = (expected_purchases(TRUE_BGNBD, h, x, tx, t) for h in (30, 365))
    assert (long > short).all()
    assert short[1] > short[2]  # same orders, the one who bought lately is likelier active


def test_expected_purchases_of_a_new_shopper_match_the_process_mean():
    """E[X(t)] = E[(1 - exp(-lambda p t)) / p] (FHL eq. 7), averaged over the mixing
    distributions by Monte Carlo, for a < 1 (where the closed form's (a - 1) is negative)."""
    rng = np.random.default_rng(0)
    rate, dropout = rng.gamma(0.6, 1 / 12, 400_000), rng.beta(0.8, 2.5, 400_000)
    mean = np.mean((1 - np.exp(-rate * dropout * 120)) / dropout)
    assert expected_purchases(TRUE_BGNBD, 120, [0], [0], [0])[0] == pytest.approx(mean, rel=0.01)


def test_lifetime_value_is_orders_times_value_and_discounting_lowers_it():
    x, tx, t, m = [2], [50], [90], [40.0]
    plain = lifetime_value(TRUE_BGNBD, TRUE_SPEND, 365, x, tx, t, m)
    expected = expected_purchases(TRUE_BGNBD, 365, x, tx, t) * expected_order_value(TRUE_SPEND, x, m)
    assert plain == pytest.approx(expected)
    assert lifetime_value(TRUE_BGNBD, TRUE_SPEND, 365, x, tx, t, m, monthly_discount=0.02) < plain


# -- planted parameters --------------------------------------------------------------------
def test_analytic_gradients_match_finite_differences():
    x, tx, t = np.array([0, 1, 4, 9]), np.array([0, 3, 40, 88]), np.array([20, 50, 60, 90])
    at = np.array([0.7, 10.0, 1.1, 3.0])
    numeric = approx_fprime(at, lambda th: bgnbd_log_likelihood(BGNBDParams(*th), x, tx, t).sum(), 1e-7)
    assert bgnbd_gradient(BGNBDParams(*at), x, tx, t).sum(axis=0) == pytest.approx(numeric, rel=1e-4)
    m, spend = np.array([5.0, 12.0, 30.0]), np.array([5.0, 3.0, 12.0])
    numeric = approx_fprime(spend, lambda th: gamma_gamma_log_likelihood(
        GammaGammaParams(*th), x[1:], m).sum(), 1e-7)
    assert gamma_gamma_gradient(GammaGammaParams(*spend), x[1:], m).sum(axis=0) == pytest.approx(
        numeric, rel=1e-4)


@pytest.fixture(scope="module")
def planted():
    return simulate(TRUE_BGNBD, TRUE_SPEND, 20_000, holdout_days=120, seed=1)


@pytest.fixture(scope="module")
def planted_fit(planted):
    d = planted.summary
    return fit_bgnbd(d["frequency"], d["recency"], d["age"])


def test_fit_recovers_the_planted_parameters_within_ten_percent(planted, planted_fit):
    d = planted.summary
    fitted = planted_fit
    spend = fit_gamma_gamma(d["frequency"], d["mean_value"])
    for name in ("r", "alpha", "a", "b"):
        assert getattr(fitted, name) == pytest.approx(getattr(TRUE_BGNBD, name), rel=0.10), name
    for name in ("p", "q", "v"):
        assert getattr(spend, name) == pytest.approx(getattr(TRUE_SPEND, name), rel=0.10), name


def test_holdout_totals_within_five_percent_and_model_beats_baseline(planted, planted_fit):
    d = planted.summary
    holdout = check_holdout(planted_fit, d, 120)
    assert holdout.predicted_purchases == pytest.approx(holdout.actual_purchases, rel=0.05)
    assert holdout.better_than_baseline and "beats" in holdout.verdict
    groups = [row["repeat_orders"] for row in holdout.by_frequency]
    assert groups == ["0", "1", "2", "3", "4", "5", "6", "7+"]
    assert sum(row["shoppers"] for row in holdout.by_frequency) == 20_000


def test_a_worse_model_gets_the_plain_verdict(planted):
    d = planted.summary  # parameters that ignore dropout: everyone keeps buying at one rate
    wrong = BGNBDParams(r=50.0, alpha=1000.0, a=0.01, b=100.0)
    holdout = check_holdout(wrong, d, 120)
    assert not holdout.better_than_baseline and "no better than the naive baseline" in holdout.verdict


def test_a_tie_with_the_baseline_is_not_called_better():
    from analytics.predict.validate import Holdout

    tie = Holdout(90, 100, 50.0, 48, 52.0, pearson=0.778, auc=0.826, baseline_pearson=0.772,
                  baseline_auc=0.825, by_frequency=())
    assert not tie.better_than_baseline
    assert "about as well as the naive baseline" in tie.verdict and "(+4%)" in tie.verdict
    assert "rough" not in tie.verdict
    off = Holdout(90, 100, 64.0, 50, 52.0, 0.9, 0.9, 0.5, 0.5, ())
    assert off.better_than_baseline and "(+28%), off by more than 15%" in off.verdict


def test_too_few_repeat_buyers_is_a_clear_error():
    with pytest.raises(PredictionError, match="repeat buyers"):
        fit_bgnbd([0] * 50 + [1] * 3, [0] * 53, [30] * 53)


# -- through the events --------------------------------------------------------------------
CAL_END = pd.Timestamp("2025-06-30")


@pytest.fixture(scope="module")
def small_events():
    sim = simulate(TRUE_BGNBD, TRUE_SPEND, 1500, holdout_days=90, seed=7)
    return sim, to_events(sim, CAL_END, 90)


def _load(ws: Workspace, events: pd.DataFrame) -> None:
    with ws.cursor() as cur:
        cur.register("sim_events", events)
        cur.execute("INSERT INTO events (user_id, event_time, event_type, order_id, price, quantity, "
                    "revenue, source, dataset_id) SELECT user_id, event_time, event_type, order_id, "
                    "price, quantity, revenue, source, 'sim' FROM sim_events")
        cur.unregister("sim_events")


@pytest.fixture(scope="module")
def fitted_ws(tmp_path_factory, small_events):
    """One workspace for the read-only checks of a fit (loading and fitting take seconds)."""
    sim, events = small_events
    ws = Workspace(tmp_path_factory.mktemp("predict") / "ws.duckdb")
    _load(ws, events)
    build_profiles(ws)
    report = predict(ws, calibration_end=CAL_END.to_pydatetime(), horizon_days=90)
    yield ws, sim, report
    ws.close()


def test_predict_through_events_matches_the_summary_and_stores_values(fitted_ws):
    ws, sim, report = fitted_ws
    d = sim.summary
    assert report.users == 1500 and report.holdout.shoppers == 1500
    assert report.holdout.actual_purchases == int(d["holdout_orders"].sum())  # same orders counted
    assert report.holdout.days == pytest.approx(90)
    stored = load_predictions(ws)
    assert len(stored) == 1500 and stored["p_alive"].between(0, 1).all()
    assert (stored["fit_id"] == report.fit_id).all()
    fit = latest_fit(ws)
    assert fit is not None and fit.horizon_days == 90 and fit.bgnbd["unit"] == "days"
    repeaters = int((sim.orders.groupby("shopper").size() > 1).sum())  # every value is positive
    assert report.spend_shoppers == fit.holdout["spend_shoppers"] == repeaters
    assert not staleness.freshness(ws, staleness.PREDICTIONS).stale


def test_stored_values_join_the_profiles_and_work_in_rules(fitted_ws):
    ws, _, _ = fitted_ws
    profiles = load_profiles(ws)
    row = profiles.iloc[0]
    # frequency counts orders, the summary repeat orders: the same definition of an order
    assert {"p_alive", "clv", "expected_purchases", "expected_order_value"} <= set(profiles.columns)
    rules = RuleSet.from_json({"name": "Risk", "segments": [{"name": "At-risk high value", "when": {
        "all": [{"feature": "p_alive", "op": "<", "value": 0.3},
                {"feature": "clv", "op": "top", "percent": 20}]}}]})
    result = assign(rules, profiles)
    chosen = profiles[result.labels == "At-risk high value"]
    assert len(chosen) > 0 and (chosen["p_alive"] < 0.3).all()
    assert (chosen["clv"] >= profiles["clv"].quantile(0.8)).all()
    one = lookup(ws, str(row["user_id"]))
    assert one is not None and one["clv"] == pytest.approx(row["clv"])


def test_a_segmentation_on_a_fit_older_than_the_data_says_so(tmp_path, small_events):
    from analytics.segments import SegmentSpec, run_segmentation
    from tests.test_profiles import ev, insert

    _, events = small_events
    ws = Workspace(tmp_path / "ws.duckdb")
    _load(ws, events)
    build_profiles(ws)
    predict(ws, calibration_end=CAL_END.to_pydatetime(), horizon_days=90)
    rules = {"name": "Risk", "segments": [
        {"name": "Gone", "when": {"feature": "p_alive", "op": "<", "value": 0.3}}]}
    spec = SegmentSpec(method="rules", rules=rules)
    assert not [n for n in run_segmentation(ws, spec).notes if "lifetime-value fit" in n]
    insert(ws, ev("late-shopper", "2025-12-30 10:00", "purchase", order_id="late", revenue=9.0))
    build_profiles(ws)  # profiles are current again; the stored predictions are not
    [note] = [n for n in run_segmentation(ws, spec).notes if "lifetime-value fit" in n]
    assert "p_alive" in note and "fit it again" in note
    ws.close()


def test_rules_on_predictions_before_any_fit_say_to_fit(ws):
    from tests.test_profiles import ev, insert

    insert(ws, ev("u1", "2024-03-01 10:00", "purchase", order_id="o1", revenue=5.0))
    build_profiles(ws)
    rules = RuleSet.from_json({"name": "Risk", "segments": [
        {"name": "Gone", "when": {"feature": "p_alive", "op": "<", "value": 0.3}}]})
    with pytest.raises(RuleError, match="Fit lifetime value first"):
        assign(rules, load_profiles(ws))


def test_sentences_say_each_number_in_plain_words():
    lines = sentences({"p_alive": 0.27, "expected_purchases": 1.5, "expected_order_value": 20.0,
                       "clv": 30.0}, 365)
    assert lines[0] == "About a 27% chance this shopper is still buying."
    assert "1.5 orders in the next 365 days" in lines[1]
    assert "20.00" in lines[2] and "30.00" in lines[3]
    assert sentences({"p_alive": float("nan")}, 365) == []


def test_cli_predict_json_has_the_issue_keys(ws, small_events, capsys):
    _load(ws, small_events[1])
    path = ws.path
    ws.close()
    assert main(["predict", "--db", str(path), "--json", "--horizon-days", "30"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["users"] == 1500
    assert set(out["bgnbd"]) == {"r", "alpha", "a", "b", "unit"} and out["bgnbd"]["unit"] == "days"
    assert set(out["gamma_gamma"]) == {"p", "q", "v"}
    assert {"predicted_purchases", "actual_purchases", "pearson", "auc", "baseline_pearson",
            "baseline_auc"} <= set(out["holdout"])
    # default split: the last quarter of the history is the holdout
    span = (datetime.fromisoformat(out["as_of"]) - datetime.fromisoformat(out["calibration_end"]))
    assert out["holdout"]["days"] == pytest.approx(span.total_seconds() / 86400)
    assert main(["predict", "--db", str(path), "--calibration-end", "1999-01-01"]) == 2
    assert "not inside the purchase history" in capsys.readouterr().err


def test_cli_predict_with_too_few_repeat_buyers_exits_2(ws, capsys):
    from tests.test_profiles import ev, insert

    insert(ws, *(ev(f"u{i}", f"2024-03-{1 + i % 20:02d} 10:00", "purchase", order_id=f"o{i}")
                 for i in range(40)), ev("u1", "2024-03-25 10:00", "purchase", order_id="late"))
    path = ws.path
    ws.close()
    assert main(["predict", "--db", str(path)]) == 2
    err = capsys.readouterr().err
    assert "Prediction not possible" in err and "repeat buyers" in err


def test_the_join_selects_every_predicted_feature():
    from analytics.profiles import _PREDICTED_SQL, PREDICTED_FEATURES

    assert all(f"v.{f.name}," in _PREDICTED_SQL for f in PREDICTED_FEATURES)


def test_shopper_360_says_each_predicted_number(fitted_ws):
    from analytics.shopper import shopper_view

    ws, _, _ = fitted_ws
    view = shopper_view(ws, "s000001")
    assert len(view.lifetime) == 4 and view.lifetime[0].endswith("chance this shopper is still buying.")
    assert view.as_json()["lifetime"] == list(view.lifetime)


def test_clustering_can_use_the_predicted_values_once_fitted(fitted_ws, ws):
    from analytics.errors import ConfigError
    from analytics.segments.features import ProfileEncoder
    from tests.test_profiles import ev, insert

    fitted, _, _ = fitted_ws
    X = ProfileEncoder(["clv", "p_alive", "frequency"]).fit_transform(load_profiles(fitted))
    assert X.shape == (1500, 3) and not np.isnan(X).any()
    insert(ws, *(ev(f"u{i}", "2024-03-01 10:00", "purchase", order_id=f"o{i}") for i in range(4)))
    build_profiles(ws)
    with pytest.raises(ConfigError, match="not been fitted"):
        ProfileEncoder(["clv", "frequency"]).fit(load_profiles(ws))


def test_sample_kind_clv_writes_orders_and_the_planted_truth(tmp_path, capsys):
    out = tmp_path / "clv"
    assert main(["sample", "--kind", "clv", "--users", "200", "--out", str(out), "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    events = pd.read_csv(out / "events.csv")
    truth = json.loads((out / "truth.json").read_text())
    assert result["events"] == len(events) and events["user_id"].nunique() == 200
    assert truth["bgnbd"]["r"] == TRUE_BGNBD.r and truth["calibration_end"] == "2025-06-30"
    after = pd.to_datetime(events["event_time"]) > pd.Timestamp(truth["calibration_end"])
    assert int((after & (events["event_type"] == "purchase")).sum()) == truth["holdout_orders"]
