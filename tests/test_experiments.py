"""Experiments and uplift: metric known answers, statistics against statsmodels, planted truth."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

from analytics.bundle import DEMO_DIR
from analytics.cli import main
from analytics.errors import ConfigError
from analytics.experiments import analyse, prepare, user_uplift, workspace_data
from analytics.experiments.ab import (
    balance,
    cuped_lift,
    mean_lift,
    minimum_detectable_effect,
    proportion_lift,
    sample_ratio,
    segment_breakdown,
    users_needed,
)
from analytics.experiments.data import describe_columns, guess_columns
from analytics.experiments.segments import RFM_SOURCE, segment_labels, segment_sources
from analytics.experiments.store import latest_runs, save_scores
from analytics.experiments.targeting import simulate, targeting_list
from analytics.experiments.uplift import (
    MODELS,
    auuc,
    make_model,
    qini_coefficient,
    qini_curve,
    uplift_at_k,
    uplift_by_decile,
    uplift_curve,
)
from tests.conftest import demo_truth

ARMS = ("Mens E-Mail", "Womens E-Mail", "No E-Mail")


def hillstrom_like(n: int = 3000, seed: int = 0) -> pd.DataFrame:
    """An e-mail campaign results file shaped like the classic Hillstrom data set.

    Three arms; the women's e-mail lifts conversion by 12 points among women's-line buyers
    (and nothing elsewhere), the men's e-mail by 4 points among men's-line buyers.
    """
    rng = np.random.default_rng(seed)
    womens = rng.random(n) < 0.5
    mens = rng.random(n) < 0.5
    arm = rng.choice(ARMS, size=n)
    base = 0.04 + 0.02 * (rng.random(n) < 0.3)
    effect = np.where(arm == "Womens E-Mail", 0.12 * womens, 0.0) + \
        np.where(arm == "Mens E-Mail", 0.04 * mens, 0.0)
    conversion = (rng.random(n) < base + effect).astype(int)
    visit = np.maximum(conversion, (rng.random(n) < 0.15).astype(int))
    return pd.DataFrame({
        "customer_id": [f"c{i:05d}" for i in range(n)],
        "recency": rng.integers(1, 13, n), "history": rng.gamma(2.0, 120.0, n).round(2),
        "mens": mens.astype(int), "womens": womens.astype(int),
        "newbie": (rng.random(n) < 0.5).astype(int),
        "channel": rng.choice(["Web", "Phone", "Multichannel"], size=n),
        "segment": arm, "visit": visit, "conversion": conversion,
        "spend": np.where(conversion == 1, rng.gamma(3.0, 40.0, n), 0.0).round(2),
    })


# --------------------------------------------------------------------------- metrics


Y, T, SCORE = np.array([1, 0, 1, 0]), np.array([1, 1, 0, 0]), np.array([4, 3, 2, 1])


def test_qini_curve_and_coefficient_by_hand():
    x, q = qini_curve(Y, T, SCORE)
    # k=1,2: one treated convert, no controls yet; k=3: 1 - 1 * 2/1; k=4: 1 - 1 * 2/2.
    assert x.tolist() == [0, 0.25, 0.5, 0.75, 1]
    assert q.tolist() == [0, 0.25, 0.25, -0.25, 0]
    # Trapezoids: 0.03125 + 0.0625 + 0 - 0.03125; the random line ends at 0.
    assert qini_coefficient(Y, T, SCORE) == pytest.approx(0.0625)


def test_uplift_curve_auuc_and_uplift_at_k_by_hand():
    x, u = uplift_curve(Y, T, SCORE)
    # k=3: (1/2 - 1/1) * 3 / 4; k=4: (1/2 - 1/2) * 4 / 4; 0 while the control arm is empty.
    assert u.tolist() == [0, 0, 0, -0.375, 0]
    assert auuc(Y, T, SCORE) == pytest.approx(-0.09375)
    assert math.isnan(uplift_at_k(Y, T, SCORE, 0.5))  # the top half has no control user
    assert uplift_at_k(Y, T, SCORE, 0.75) == pytest.approx(-0.5)
    assert uplift_at_k(Y, T, SCORE, 1.0) == pytest.approx(0.0)
    with pytest.raises(ConfigError):
        uplift_at_k(Y, T, SCORE, 0)


def test_a_perfect_ranking_beats_its_reverse_and_ties_score_zero():
    y = np.array([1, 1, 0, 0, 0, 0, 1, 1])
    t = np.array([1, 1, 0, 0, 1, 1, 0, 0])  # persuadables first, then users hurt by treatment
    good, bad = np.arange(8, 0, -1), np.arange(8)
    assert qini_coefficient(y, t, good) > 0 > qini_coefficient(y, t, bad)
    assert auuc(y, t, good) > auuc(y, t, bad)
    assert qini_coefficient(y, t, np.zeros(8)) == pytest.approx(0.0)
    deciles = uplift_by_decile(y, t, good, bins=2)
    assert deciles["uplift"].tolist() == [1.0, -1.0]
    assert deciles["users"].tolist() == [4, 4]


# --------------------------------------------------------------------------- statistics


def test_proportion_lift_agrees_with_statsmodels_and_the_formula():
    lift = proportion_lift(130, 1000, 100, 1010)
    z, p = proportions_ztest([130, 100], [1000, 1010])
    low, high = confint_proportions_2indep(130, 1000, 100, 1010, method="wald", compare="diff")
    r_low, r_high = confint_proportions_2indep(130, 1000, 100, 1010, method="log", compare="ratio")
    assert lift.p_value == pytest.approx(p, abs=1e-9)
    assert (lift.ci_low, lift.ci_high) == pytest.approx((low, high), abs=1e-9)
    assert (lift.rel_low, lift.rel_high) == pytest.approx((r_low - 1, r_high - 1), abs=1e-9)
    p1, p2 = 0.13, 100 / 1010
    pooled = 230 / 2010
    z_hand = (p1 - p2) / math.sqrt(pooled * (1 - pooled) * (1 / 1000 + 1 / 1010))
    assert lift.p_value == pytest.approx(2 * stats.norm.sf(abs(z_hand)), abs=1e-9)
    half = stats.norm.ppf(0.975) * math.sqrt(p1 * (1 - p1) / 1000 + p2 * (1 - p2) / 1010)
    assert (lift.ci_low, lift.ci_high) == pytest.approx((p1 - p2 - half, p1 - p2 + half), abs=1e-9)
    assert lift.relative == pytest.approx(p1 / p2 - 1, abs=1e-12)


def test_welch_lift_agrees_with_statsmodels():
    rng = np.random.default_rng(1)
    a, b = rng.gamma(2, 30, 400), rng.gamma(2, 25, 350)
    lift = mean_lift(a, b, "revenue per user")
    compare = CompareMeans(DescrStatsW(a), DescrStatsW(b))
    _, p, _ = compare.ttest_ind(usevar="unequal")
    low, high = compare.tconfint_diff(usevar="unequal")
    assert lift.p_value == pytest.approx(p, abs=1e-9)
    assert (lift.ci_low, lift.ci_high) == pytest.approx((low, high), abs=1e-9)
    assert lift.diff == pytest.approx(a.mean() - b.mean(), abs=1e-12)


def test_sample_ratio_mismatch_power_and_corrections():
    even = sample_ratio(5000, 5050)
    assert not even.mismatch
    skewed = sample_ratio(5000, 5600)
    chi2 = (5000 - 5300) ** 2 / 5300 * 2
    assert skewed.chi2 == pytest.approx(chi2, abs=1e-9) and skewed.mismatch
    assert not sample_ratio(2000, 8000, expected_share=0.2).mismatch
    mde = minimum_detectable_effect(0.10, 2000, 2000)
    assert 0.02 < mde < 0.03  # the textbook ~2.7 points for 10% at 80% power
    assert users_needed(0.10, mde) == pytest.approx(2000, abs=1)
    with pytest.raises(ConfigError):
        minimum_detectable_effect(1.5, 100, 100)
    p = [0.01, 0.04, 0.03, 0.2]
    assert multipletests(p, method="holm")[1].tolist() == pytest.approx([0.04, 0.09, 0.09, 0.2])


def test_cuped_cuts_variance_and_keeps_the_effect():
    rng = np.random.default_rng(3)
    x = rng.gamma(2, 50, 4000)
    t = rng.random(4000) < 0.5
    y = 0.8 * x + 5 * t + rng.normal(0, 20, 4000)
    plain = mean_lift(y[t], y[~t], "y")
    result = cuped_lift(y, x, t, "y")
    assert result is not None
    adjusted, cut = result
    assert cut > 0.5
    assert adjusted.ci_high - adjusted.ci_low < 0.5 * (plain.ci_high - plain.ci_low)
    assert adjusted.ci_low < 5 < adjusted.ci_high


def test_balance_flags_targeted_assignment_as_observational():
    rng = np.random.default_rng(4)
    frame = pd.DataFrame({"id": range(2000), "spend_before": rng.gamma(2, 50, 2000)})
    frame["random_arm"] = np.where(rng.random(2000) < 0.5, "treatment", "control")
    frame["targeted_arm"] = np.where(frame["spend_before"] > 90, "treatment", "control")
    frame["bought"] = (rng.random(2000) < 0.2).astype(int)
    random = prepare(frame, "random_arm", "bought", features=["spend_before"], id_column="id")
    targeted = prepare(frame, "targeted_arm", "bought", features=["spend_before"], id_column="id")
    assert not balance(random).observational
    assert balance(targeted).observational
    assert any("observational" in w for w in analyse(targeted, fit_models=False).ab.warnings)


# --------------------------------------------------------------------------- bad input


def test_one_arm_only_is_refused_clearly():
    frame = hillstrom_like(300)
    frame["segment"] = "No E-Mail"
    with pytest.raises(ConfigError, match="only one value"):
        prepare(frame, "segment", "conversion")
    with pytest.raises(ConfigError, match="both 'No E-Mail'"):
        prepare(frame, "segment", "conversion", "No E-Mail", "No E-Mail")


def test_many_arms_without_a_choice_ask_for_one():
    frame = hillstrom_like(300)
    with pytest.raises(ConfigError, match="3 values .*not clear") as info:
        prepare(frame, "segment", "conversion")
    assert "--treatment-value" in info.value.hint
    frame["bucket"] = np.arange(300) % 57
    with pytest.raises(ConfigError, match="57 values"):
        prepare(frame, "bucket", "conversion")
    two = frame[frame["segment"] != "Mens E-Mail"]
    data = prepare(two, "segment", "conversion")  # two arms, one reads as control
    assert (data.treatment_label, data.control_label) == ("Womens E-Mail", "No E-Mail")


def test_constant_outcome_gives_no_p_value_and_no_models():
    frame = hillstrom_like(600)
    frame["conversion"] = 0
    report = analyse(prepare(frame, "segment", "conversion", "Womens E-Mail", "No E-Mail"))
    assert report.ab.primary.p_value is None and report.ab.primary.ci_low is None
    assert "same for every user" in report.ab.primary.note
    assert report.uplift is None and "same for every user" in report.uplift_note
    assert report.summary()["p_value"] is None


def test_tiny_arms_give_no_p_value_and_no_models():
    frame = hillstrom_like(60)
    report = analyse(prepare(frame, "segment", "conversion", "Womens E-Mail", "No E-Mail"))
    assert report.ab.primary.p_value is None and report.ab.lifts[0].ci_high is None
    assert "at least 30 per arm" in report.ab.primary.note
    assert report.uplift is None and not report.ab.testable
    assert all(lift.p_value is None for lift in report.ab.lifts)


def test_column_guess_finds_the_hillstrom_mapping():
    frame = hillstrom_like(200)
    guess = guess_columns(describe_columns(frame))
    assert guess == {"treatment": "segment", "outcome": "conversion", "id": "customer_id"}


# --------------------------------------------------------------------------- file mode


def test_file_mode_recovers_the_planted_effect_and_targets_it():
    frame = hillstrom_like(4000, seed=2)
    data = prepare(frame, "segment", "conversion", "Womens E-Mail", "No E-Mail",
                   revenue="spend", id_column="customer_id",
                   features=["recency", "history", "mens", "womens", "newbie", "channel"])
    report = analyse(data)
    primary = report.ab.primary
    assert primary.ci_low < 0.06 < primary.ci_high and primary.p_value < 0.01
    assert report.uplift is not None
    top = set(targeting_list(report.uplift, 0.3)["user_id"])
    womens = set(frame.loc[frame["womens"] == 1, "customer_id"])
    assert len(top & womens) / len(top) > 0.9  # the planted responders are the ones targeted
    plan = simulate(report.uplift, 0.3)
    assert plan.top > plan.random and plan.revenue_top is not None


# --------------------------------------------------------------------------- planted truth


def test_uplift_models_find_the_planted_effect_and_scores_are_stored(demo_ws):
    data = workspace_data(demo_ws, "personalised_email")
    assert (data.treatment_label, data.control_label) == ("treatment", "control")
    assert user_uplift(demo_ws, "u000001") is None  # nothing stored yet
    report = analyse(data)
    assert report.uplift is not None and not report.ab.balance.observational
    assert set(report.uplift.table["model"]) == set(MODELS)
    truth = demo_truth().set_index("user_id")
    held = data.frame.set_index("user_id").loc[list(report.uplift.test_users)]
    oracle = qini_coefficient(held["outcome"], held["treatment"],
                              truth.loc[held.index, "treatment_effect"])
    best = report.uplift.best_row["qini"]
    assert oracle > 0 and best >= 0.5 * oracle, (best, oracle)

    run_id = save_scores(demo_ws, data, report.uplift)
    top = report.uplift.scores.iloc[0]
    found = user_uplift(demo_ws, top["user_id"])
    assert found is not None and found.run_id == run_id
    assert found.uplift == pytest.approx(top["uplift"])
    assert "percentage points" in found.meaning and "top 1%" in found.meaning
    assert json.dumps(found.as_json())
    assert latest_runs(demo_ws)["run_id"].tolist() == [run_id]
    assert user_uplift(demo_ws, "nobody") is None


def test_outcomes_match_the_planted_conversions_and_use_no_later_events(demo_ws):
    data = workspace_data(demo_ws, "personalised_email")
    frame = data.frame
    truth = demo_truth().set_index("user_id")
    planted = json.loads((DEMO_DIR / "truth.json").read_text())["experiment"]
    assert data.users == planted["assigned_users"]
    assert data.arm_sizes()[0] == planted["treatment_users"]
    true_ate = truth.loc[frame["user_id"], "treatment_effect"].mean()
    assert true_ate == pytest.approx(planted["true_ate"], abs=1e-6)
    # Pre-period features stop at assignment: nobody's last event is after it.
    assert (frame["days_since_last_event"].dropna() > 0).all()
    # Conversion is planted per segment with these rates (truth.json); the observed rates
    # must sit within 4 standard errors of them in every segment and arm.
    rates = {s["name"]: (s["control_rate"], s["treatment_rate"])
             for s in json.loads((DEMO_DIR / "truth.json").read_text())["segments"]}
    frame = frame.assign(segment=truth.loc[frame["user_id"], "segment"].to_numpy())
    for (segment, treated), part in frame.groupby(["segment", "treatment"]):
        p = rates[segment][treated]
        se = math.sqrt(max(p * (1 - p), 0.01) / len(part))
        assert abs(part["outcome"].mean() - p) < 4 * se, (segment, treated)


def test_segment_breakdown_finds_the_segments_with_the_largest_effect(demo_ws):
    data = workspace_data(demo_ws, "personalised_email")
    truth = demo_truth().set_index("user_id")["segment"]
    breakdown = segment_breakdown(data, truth, correction="holm")
    table = breakdown.table.set_index("segment")
    assert breakdown.table.loc[0, "segment"] == "mobile_cart_abandoners"  # planted +12 points
    assert table.loc["mobile_cart_abandoners", "significant"]
    assert not table.loc["window_shoppers", "significant"]  # planted 0
    bh = segment_breakdown(data, truth, correction="fdr_bh").table.set_index("segment")
    assert (bh["p_adjusted"] <= table.loc[bh.index, "p_adjusted"] + 1e-12).all()
    sources = segment_sources(demo_ws, data)
    assert sources[RFM_SOURCE] == "rfm"
    rfm = segment_breakdown(data, segment_labels(demo_ws, "rfm"))
    assert rfm.table["users"].sum() == data.users


def test_models_follow_the_sklearn_contract():
    model = make_model("T-learner (gradient boosting)", random_state=3)
    assert model.get_params() == {"base": "gbm", "random_state": 3}
    frame = hillstrom_like(400)
    X = frame[["recency", "history", "womens"]].to_numpy(float)
    t = (frame["segment"] == "Womens E-Mail").to_numpy(int)
    assert model.fit(X, t, frame["conversion"].to_numpy()) is model and hasattr(model, "models_")
    with pytest.raises(ConfigError, match="both arms"):
        make_model("S-learner (gradient boosting)").fit(X, np.ones(len(X)), frame["conversion"])


# --------------------------------------------------------------------------- CLI


def test_cli_uplift_on_a_file_and_its_errors(tmp_path, capsys):
    path = tmp_path / "results.csv"
    hillstrom_like(3000, seed=5).to_csv(path, index=False)
    out = tmp_path / "targets.csv"
    db = str(tmp_path / "cli" / "ws.duckdb")
    code = main(["uplift", "--db", db, "--file", str(path), "--treatment", "segment",
                 "--treatment-value", "Womens E-Mail", "--control-value", "No E-Mail",
                 "--outcome", "conversion", "--id", "customer_id", "--revenue", "spend",
                 "--features", "recency,history,mens,womens,newbie,channel", "--out", str(out),
                 "--json"])
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0
    for key in ("ate", "ci_low", "ci_high", "p_value", "qini_auc", "uplift_at_30"):
        assert isinstance(result[key], float), key
    assert result["ci_low"] < result["ate"] < result["ci_high"] and result["run_id"]
    targets = pd.read_csv(out)
    assert list(targets.columns) == ["rank", "user_id", "predicted_uplift", "percentile"]
    assert len(targets) == math.ceil(0.3 * result["users"])
    code = main(["uplift", "--db", db, "--file", str(path), "--treatment", "segment",
                 "--outcome", "conversion"])
    assert code == 2 and "which one is the treatment" in capsys.readouterr().err
    code = main(["uplift", "--db", db, "--experiment", "nope"])
    assert code == 2 and "no assignments" in capsys.readouterr().err
