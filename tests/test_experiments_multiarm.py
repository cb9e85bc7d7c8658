"""More than two arms, the Qini verdict, segments as of assignment: known answers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

from analytics.cli import main
from analytics.errors import ConfigError
from analytics.experiments import analyse, prepare, workspace_data
from analytics.experiments.ab import sample_ratio, segment_breakdown
from analytics.experiments.multiarm import (
    arms_table,
    best_arm_policy,
    compare_arms,
    policy_table,
    prepare_arms,
    revenue_table,
)
from analytics.experiments.segments import NO_PROFILE, segment_labels, segments_at_assignment
from analytics.experiments.uplift import qini_ci
from analytics.ingest import ingest_file
from analytics.profiles import build_profiles
from analytics.segments.runs import SegmentSpec, run_segmentation

CONTROL = "No E-Mail"
ARMS = ("Mens E-Mail", "Womens E-Mail", CONTROL)


def three_arm_results(n: int = 6000, seed: int = 0, effect: float = 0.15) -> pd.DataFrame:
    """A 3-arm results file with a planted best arm per segment.

    Men's-line buyers convert ``effect`` more with the men's e-mail, women's-line buyers with
    the women's e-mail, and the rest convert 6 points *less* with either e-mail (the control
    is their best arm). ``effect=0`` and no harm gives a file with no structure at all.
    """
    rng = np.random.default_rng(seed)
    interest = rng.choice(["mens", "womens", "neither"], size=n)
    arm = rng.choice(ARMS, size=n)
    harm = 0.06 if effect else 0.0
    lift = np.select([(arm == "Mens E-Mail") & (interest == "mens"),
                      (arm == "Womens E-Mail") & (interest == "womens"),
                      (arm != CONTROL) & (interest == "neither")], [effect, effect, -harm], 0.0)
    bought = (rng.random(n) < 0.10 + lift).astype(int)
    return pd.DataFrame({"customer_id": [f"c{i:05d}" for i in range(n)], "interest": interest,
                         "recency": rng.integers(1, 13, n), "arm": arm, "bought": bought,
                         "spend": (bought * rng.gamma(3.0, 40.0, n)).round(2)})


PLANTED_BEST = {"mens": "Mens E-Mail", "womens": "Womens E-Mail", "neither": CONTROL}


def _arms(frame: pd.DataFrame, **kwargs):  # type: ignore[no-untyped-def]
    return prepare_arms(frame, "arm", "bought", CONTROL, features=["interest", "recency"],
                        id_column="customer_id", **kwargs)


# --------------------------------------------------------------------------- every arm vs control


def test_every_arm_against_control_equals_statsmodels():
    frame = three_arm_results(3000, seed=1)
    result = compare_arms(_arms(frame, revenue="spend"))
    table = result.table.set_index("arm")
    assert set(table.index) == {"Mens E-Mail", "Womens E-Mail"} and result.control == CONTROL
    n_c, x_c = int((frame["arm"] == CONTROL).sum()), int(frame.loc[frame["arm"] == CONTROL, "bought"].sum())
    raw = []
    for arm in table.index:
        part = frame[frame["arm"] == arm]
        x_t, n_t = int(part["bought"].sum()), len(part)
        _, p = proportions_ztest([x_t, x_c], [n_t, n_c])
        low, high = confint_proportions_2indep(x_t, n_t, x_c, n_c, method="wald", compare="diff")
        wide = confint_proportions_2indep(x_t, n_t, x_c, n_c, method="wald", compare="diff",
                                          alpha=0.05 / 2)
        row = table.loc[arm]
        assert row["ate"] == pytest.approx(x_t / n_t - x_c / n_c, abs=1e-12)
        assert row["p_value"] == pytest.approx(p, abs=1e-12)
        assert (row["ci_low"], row["ci_high"]) == pytest.approx((low, high), abs=1e-12)
        assert (row["ci_low_adjusted"], row["ci_high_adjusted"]) == pytest.approx(wide, abs=1e-12)
        raw.append(p)
    assert table["p_adjusted"].tolist() == pytest.approx(multipletests(raw, method="holm")[1].tolist())
    bh = compare_arms(_arms(frame), correction="fdr_bh").table
    assert bh["p_adjusted"].tolist() == pytest.approx(multipletests(raw, method="fdr_bh")[1].tolist())
    # Revenue per arm: Welch's test of each arm's revenue per user against the control's.
    revenue = result.revenue.set_index("arm")
    spend_c = frame.loc[frame["arm"] == CONTROL, "spend"].to_numpy()
    for arm in table.index:
        spend_t = frame.loc[frame["arm"] == arm, "spend"].to_numpy()
        compare = CompareMeans(DescrStatsW(spend_t), DescrStatsW(spend_c))
        low, high = compare.tconfint_diff(usevar="unequal")
        assert (revenue.loc[arm, "ci_low"], revenue.loc[arm, "ci_high"]) == pytest.approx((low, high))
        assert revenue.loc[arm, "revenue_per_user"] == pytest.approx(spend_t.mean())
    assert revenue.loc[CONTROL, "revenue_per_user"] == pytest.approx(spend_c.mean())
    shown = arms_table(result)
    assert list(shown["arm"]) == list(table.index) and "family-wise 95% CI" in shown.columns
    assert revenue_table(result) is not None and revenue_table(compare_arms(_arms(frame))) is None
    assert json.dumps(result.as_json())


def test_arms_bad_input_is_refused_clearly():
    frame = three_arm_results(300)
    with pytest.raises(ConfigError, match="no value 'Holdout'"):
        prepare_arms(frame, "arm", "bought", "Holdout")
    with pytest.raises(ConfigError, match="only the value"):
        prepare_arms(frame.assign(arm=CONTROL), "arm", "bought", CONTROL)
    with pytest.raises(ConfigError, match="Too few users"):
        best_arm_policy(_arms(three_arm_results(150)))


# --------------------------------------------------------------------------- which arm for whom


def test_planted_best_arm_per_segment_is_recovered():
    frame = three_arm_results(6000, seed=0)
    policy = best_arm_policy(_arms(frame))
    scored = policy.scores.merge(frame, left_on="user_id", right_on="customer_id")
    for interest, best in PLANTED_BEST.items():
        chosen = scored.loc[scored["interest"] == interest, "best_arm"]
        assert (chosen == best).mean() > 0.85, (interest, chosen.value_counts().to_dict())
    # Planted values: best arm per shopper ~ (0.25 + 0.25 + 0.10) / 3 = 0.20, one arm for
    # everyone ~ (0.25 + 0.10 + 0.04) / 3 = 0.13: a gain of ~7 points, clearly above 0.
    assert policy.personal.ci_low < 0.20 < policy.personal.ci_high
    assert policy.single.ci_low < 0.13 < policy.single.ci_high
    assert policy.gain.ci_low > 0 and "beats sending everyone" in policy.verdict
    assert policy.single_arm in {"Mens E-Mail", "Womens E-Mail"}
    assert policy.assigned["shoppers"].sum() == policy.test_users == 2400
    assert len(policy_table(policy, "binary")) == 4 and json.dumps(policy.as_json())


def test_no_structure_means_no_gain_from_choosing_per_shopper():
    policy = best_arm_policy(_arms(three_arm_results(4500, seed=3, effect=0.0)))
    assert policy.gain.ci_low < 0 < policy.gain.ci_high
    assert "not clearly better" in policy.verdict


# --------------------------------------------------------------------------- Qini verdict


def test_qini_ci_on_pure_noise_says_no_better_than_random():
    frame = three_arm_results(4000, seed=4, effect=0.0)
    data = prepare(frame, "arm", "bought", "Womens E-Mail", CONTROL,
                   features=["interest", "recency"], id_column="customer_id")
    result = analyse(data).uplift
    assert result is not None
    assert (result.table["qini_low"] <= 0).all() and (result.table["qini_high"] >= 0).all()
    assert result.verdict.startswith("No model targets better than random")
    assert result.check is not None and result.check.ci_low < 0 < result.check.ci_high
    low, high = qini_ci(np.r_[np.ones(50), np.zeros(50)], np.tile([1, 0], 50), np.arange(100))
    assert low <= high


def test_qini_ci_on_the_demo_says_better_than_random(demo_ws):
    result = analyse(workspace_data(demo_ws, "personalised_email")).uplift
    assert result is not None
    check = result.check
    assert check is not None and check.users == data_users(demo_ws) and check.model == result.best
    # The planted effects (+12 points for two segments, 0 for others) are found: every user
    # scored out of fold, the Qini CI is above 0.
    assert 0 < check.ci_low < check.qini < check.ci_high, check
    assert result.verdict.startswith("The uplift model targets better than random")
    assert (result.table["qini_low"] < result.table["qini"]).all()  # held-out CIs per model


def data_users(ws) -> int:  # type: ignore[no-untyped-def]
    return workspace_data(ws, "personalised_email").users


def test_sample_ratio_sentence_agrees_with_its_p_value():
    uneven = sample_ratio(5000, 5240)  # chi-square p ~ 0.018: uneven, not a mismatch
    assert 0.001 < uneven.p_value < 0.05 and not uneven.mismatch
    assert "as planned" not in uneven.sentence() and "not a mismatch" in uneven.sentence()
    assert "a sample-ratio mismatch" in sample_ratio(5000, 5600).sentence()
    assert "consistent with the plan" in sample_ratio(5000, 5010).sentence()


# --------------------------------------------------------------------------- CLI


def test_cli_all_arms_and_revenue_change_the_json(tmp_path: Path, capsys):
    path = tmp_path / "three.csv"
    three_arm_results(3000, seed=5).to_csv(path, index=False)
    db = str(tmp_path / "cli" / "ws.duckdb")
    base = ["uplift", "--db", db, "--file", str(path), "--treatment", "arm", "--outcome", "bought",
            "--id", "customer_id", "--features", "interest,recency", "--json"]
    assert main([*base, "--control-value", CONTROL, "--revenue", "spend"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(out["arms"]) == {"Mens E-Mail", "Womens E-Mail"}
    for row in out["arms"].values():
        assert {"ate", "ci_low", "ci_high", "p_value", "p_adjusted"} <= set(row)
        assert row["ci_low"] < row["ate"] < row["ci_high"]
    assert set(out["revenue"]) == set(ARMS)
    assert out["policy"]["gain"]["ci_low"] is not None and out["policy"]["single_arm"]
    two = [*base, "--treatment-value", "Womens E-Mail", "--control-value", CONTROL]
    assert main(two) == 0
    without = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert main([*two, "--revenue", "spend"]) == 0
    printed = capsys.readouterr().out
    with_revenue = json.loads(printed.strip().splitlines()[-1])
    assert "revenue" not in without
    revenue = with_revenue["revenue"]
    assert set(revenue["arms"]) == {"Womens E-Mail", CONTROL}
    assert revenue["ci_low"] < revenue["diff"] < revenue["ci_high"]
    assert with_revenue["uplift_verdict"] and with_revenue["qini_ci_low"] is not None


# --------------------------------------------------------------------------- as of assignment

EVENTS = """user_id,event_time,event_type,item_id,price,quantity,order_id
a,2024-01-01 10:00:00,purchase,i1,10,1,a1
a,2024-02-05 10:00:00,purchase,i1,10,1,a2
a,2024-02-06 10:00:00,purchase,i1,10,1,a3
b,2024-01-02 10:00:00,purchase,i2,20,1,b1
b,2024-01-03 10:00:00,purchase,i2,20,1,b2
c,2024-01-05 10:00:00,view,i1,10,1,
c,2024-02-07 10:00:00,purchase,i1,10,1,c1
d,2024-02-08 10:00:00,purchase,i2,20,1,d1
"""
ASSIGNED = """user_id,experiment,variant,assigned_at
a,promo,treatment,2024-02-01 00:00:00
b,promo,control,2024-02-01 00:00:00
c,promo,treatment,2024-02-01 00:00:00
d,promo,control,2024-02-01 00:00:00
a,early,treatment,2023-12-01 00:00:00
b,early,control,2023-12-01 00:00:00
"""
REPEAT_RULES = {"name": "Repeat buyers", "otherwise": "Others", "segments": [
    {"name": "Repeat", "when": {"feature": "frequency", "op": ">=", "value": 2}}]}


def test_segments_as_of_assignment_on_a_hand_case(ws, tmp_path: Path):
    (tmp_path / "events.csv").write_text(EVENTS)
    (tmp_path / "assigned.csv").write_text(ASSIGNED)
    ingest_file(ws, tmp_path / "events.csv")
    ingest_file(ws, tmp_path / "assigned.csv", kind="experiments")
    build_profiles(ws)  # today: a bought 3 times (twice after assignment), d exists
    run = run_segmentation(ws, SegmentSpec(method="rules", rules=REPEAT_RULES))
    today = segment_labels(ws, f"run:{run.run_id}")
    assert today.to_dict() == {"a": "Repeat", "b": "Repeat", "c": "Others", "d": "Others"}
    # At assignment (2024-02-01) a had one order, b two, c only a view, d nothing yet.
    at = segments_at_assignment(ws, f"run:{run.run_id}", "promo")
    assert at.labels.sort_index().to_dict() == {"a": "Others", "b": "Repeat", "c": "Others",
                                                "d": NO_PROFILE}
    assert at.counts == {"history": 0, "rescored": 4} and "re-scored" in at.rule
    assert run.name in at.rule and "2024-02-01" in at.rule
    # A living segmentation's history valid at the assignment time wins over re-scoring.
    with ws.cursor() as cur:
        cur.execute("INSERT INTO segment_history VALUES (?, 'a', 7, 'VIP', ?, NULL), "
                    "(?, 'b', 7, 'VIP', ?, ?)", [run.run_id, "2024-01-15", run.run_id,
                                                 "2024-01-15", "2024-01-20"])
    at = segments_at_assignment(ws, f"run:{run.run_id}", "promo")
    assert at.labels["a"] == "VIP"  # valid from 01-15, still open at 02-01
    assert at.labels["b"] == "Repeat"  # its VIP row ended before the assignment: re-scored
    assert at.counts == {"history": 1, "rescored": 3}
    early = segments_at_assignment(ws, f"run:{run.run_id}", "early")  # before any event
    assert early.labels.to_dict() == {"a": NO_PROFILE, "b": NO_PROFILE}
    rfm = segments_at_assignment(ws, "rfm", "promo")
    assert rfm.labels["d"] == NO_PROFILE and rfm.labels["c"] == "Never purchased"
    with ws.cursor() as cur:  # the stored profiles are today's, untouched
        assert cur.execute("SELECT frequency FROM profiles WHERE user_id = 'a'").fetchall() == [(3,)]
    data = workspace_data(ws, "promo", "treatment", "control")
    table = segment_breakdown(data, at.labels).table
    assert set(table["segment"]) == {"VIP", "Repeat", "Others", NO_PROFILE}
    assert table["users"].tolist() == [1, 1, 1, 1]


def test_cli_lift_per_segment_as_of_assignment(tmp_path: Path, capsys):
    (tmp_path / "events.csv").write_text(EVENTS)
    (tmp_path / "assigned.csv").write_text(ASSIGNED)
    (tmp_path / "rules.json").write_text(json.dumps(REPEAT_RULES))
    db = ["--db", str(tmp_path / "cli" / "ws.duckdb")]
    assert main(["ingest", str(tmp_path / "events.csv"), *db]) == 0
    assert main(["ingest", str(tmp_path / "assigned.csv"), "--kind", "experiments", *db]) == 0
    assert main(["profiles", *db]) == 0
    assert main(["segment", "--method", "rules", "--rules", str(tmp_path / "rules.json"), *db]) == 0
    capsys.readouterr()
    assert main(["uplift", "--experiment", "promo", "--treatment-value", "treatment",
                 "--control-value", "control", "--segments", "latest", "--json", *db]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    segments = out["segments"]
    assert segments["counts"] == {"history": 0, "rescored": 4} and "as of" in segments["rule"]
    users = {row["segment"]: row["users"] for row in segments["table"]}
    assert users == {"Others": 2, "Repeat": 1, NO_PROFILE: 1}  # not today's 2 Repeat, 2 Others
    assert main(["uplift", "--experiment", "promo", "--treatment-value", "treatment",
                 "--control-value", "control", "--segments", "nope", *db]) == 2
    assert "No segmentation run 'nope'" in capsys.readouterr().err
