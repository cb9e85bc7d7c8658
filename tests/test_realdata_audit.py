"""Fixes from the real-data audit (docs/real-data-audit.md), each on a hand-made case."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analytics.segments.describe import auto_names, naming_matrix


def _names(profiles: pd.DataFrame, labels: list[int]) -> dict[int, str]:
    codes = np.asarray(labels)
    traits = naming_matrix(profiles).groupby(codes).mean()
    return auto_names(traits, profiles, codes)


def _shop(frequency: list[int], sessions: list[int], views_per_session: float,
          minutes: list[float], days_since: list[int]) -> pd.DataFrame:
    n = len(frequency)
    return pd.DataFrame({
        "frequency": frequency, "sessions": sessions, "monetary": [12.0 * f for f in frequency],
        "views_per_session": [views_per_session] * n, "avg_session_minutes": minutes,
        "days_since_last_event": days_since, "cart_adds": [0] * n, "events": sessions,
        "events_30d": [1] * n, "top_category": [None] * n, "main_device": [None] * n})


def test_purchase_only_segments_are_not_called_non_buyers_or_window_shoppers():
    # Complete Journey's shape: every shopper buys, no views. Segment 1 buys 3 times in longer
    # baskets: relative to segment 0 it is "low frequency, long sessions", which used to read
    # "non-buyers" / "window shoppers"; its plain numbers say light buyers.
    profiles = _shop(frequency=[20, 22, 21, 3, 3, 4], sessions=[20, 22, 21, 3, 3, 4],
                     views_per_session=0.0, minutes=[0, 0, 0, 5, 6, 5], days_since=[10] * 6)
    names = _names(profiles, [0, 0, 0, 1, 1, 1])
    assert "non-buyers" not in names[1] and "window" not in names[1].lower()
    assert names[1].endswith("light buyers")
    assert names[0].endswith("repeat buyers")


def test_clickstream_words_still_name_the_shoppers_they_describe():
    # With views and visits without orders the same relative pattern is true: non-buyers who
    # browse long.
    profiles = _shop(frequency=[4, 5, 4, 0, 0, 0], sessions=[4] * 6,
                     views_per_session=6.0, minutes=[1, 1, 1, 9, 8, 9], days_since=[10] * 6)
    names = _names(profiles, [0, 0, 0, 1, 1, 1])
    assert names[1] == "Window shoppers"
    assert names[0].endswith("repeat buyers")


def test_one_time_buyers_are_not_repeat_buyers_and_a_short_log_has_no_recent_or_lapsed():
    # A 3-hour log: everyone's events are within 30 days, nobody is 7 days away; segment 0
    # bought once each (more than segment 1's nothing), so "buyers", never "repeat buyers".
    profiles = _shop(frequency=[1, 1, 1, 0, 0, 0], sessions=[1] * 6, views_per_session=3.0,
                     minutes=[2] * 6, days_since=[0, 0, 0, 0, 0, 0])
    profiles["events_30d"] = profiles["events"] = [5, 6, 5, 1, 1, 2]
    names = _names(profiles, [0, 0, 0, 1, 1, 1])
    assert names[0] == "High-value buyers"
    assert not any(word in name for name in names.values() for word in ("Recently", "Lapsed", "repeat"))


def _clickstream(write, extra: str = "") -> Path:  # type: ignore[no-untyped-def]
    """Two visits: view, cart, purchase and view only; no checkout events, no session ids."""
    rows = ["event_time,event_type,product_id,price,user_id",
            "2024-11-29 09:00:00,view,p1,5.0,u1", "2024-11-29 09:01:00,cart,p1,5.0,u1",
            "2024-11-29 09:02:00,purchase,p1,5.0,u1", "2024-11-29 09:05:00,view,p2,7.0,u2"]
    return write("clicks.csv", "\n".join(rows) + "\n" + extra)


def test_canonical_header_with_a_product_column_keeps_the_item_ids(ws, write):
    # The canonical preset matched on event_time, event_type, user_id and used to drop
    # product_id, so nothing could be recommended.
    from analytics.ingest import ingest_file

    ingest_file(ws, _clickstream(write))
    with ws.cursor() as cur:
        items = cur.execute("SELECT count(item_id), count(DISTINCT item_id) FROM events").fetchall()
    assert items == [(4, 2)]


def test_funnel_default_skips_absent_steps_and_an_explicit_one_is_explained(ws, write):
    from analytics.ingest import ingest_file
    from analytics.journeys import DEFAULT_STEPS, default_steps, funnel

    ingest_file(ws, _clickstream(write))
    assert default_steps(ws) == ("view", "cart", "purchase")
    found = funnel(ws, steps=default_steps(ws))
    assert found.counts == [2, 1, 1] and found.note is None
    full = funnel(ws, steps=DEFAULT_STEPS)
    assert full.counts == [2, 1, 0, 0] and full.missing == ("checkout",)
    assert full.note is not None and "view, cart, purchase" in full.note
    assert full.as_json()["missing_steps"] == ["checkout"]


def test_buy_probability_by_hand():
    from analytics.predict.clv import BGNBDParams
    from analytics.predict.validate import buy_probability

    params = BGNBDParams(r=1.0, alpha=10.0, a=0.5, b=2.0)
    # No repeat order yet: alive for sure, so 1 - ((10 + 10) / (10 + 10 + 20)) ** 1 = 0.5.
    new = buy_probability(params, 20.0, np.array([0.0]), np.array([0.0]), np.array([10.0]))
    assert new == pytest.approx([0.5])
    # Two repeat orders, the last at day 4 of 10: P(alive) = 1 / (1 + a/(b+x-1) ((a+T)/(a+tx))^(r+x))
    alive = 1 / (1 + 0.5 / 3 * (20 / 14) ** 3)
    old = buy_probability(params, 20.0, np.array([2.0]), np.array([4.0]), np.array([10.0]))
    assert old == pytest.approx([alive * (1 - 0.5 ** 3)])


def test_reliability_of_the_buy_again_chance_on_planted_shoppers():
    from analytics.predict.clv import BGNBDParams
    from analytics.predict.simulate import simulate
    from analytics.predict.validate import check_holdout, reliability
    from tests.test_predict import TRUE_BGNBD, TRUE_SPEND

    assert reliability(np.array([0.05, 0.15, 0.12, 0.95]), np.array([0, 1, 0, 1])) == (
        {"low": 0.0, "high": 0.1, "shoppers": 1, "predicted": 0.05, "actual": 0.0},
        {"low": 0.1, "high": 0.2, "shoppers": 2, "predicted": pytest.approx(0.135), "actual": 0.5},
        {"low": 0.9, "high": 1.0, "shoppers": 1, "predicted": 0.95, "actual": 1.0})
    sim = simulate(TRUE_BGNBD, TRUE_SPEND, 6_000, holdout_days=120, seed=3).summary
    true = check_holdout(TRUE_BGNBD, sim, 120)
    assert true.calibration_error is not None and true.calibration_error < 0.03
    assert true.brier is not None and true.baseline_brier is not None and true.brier < true.baseline_brier
    assert "match the shares that bought" in true.verdict
    wrong = check_holdout(BGNBDParams(r=50.0, alpha=1000.0, a=0.01, b=100.0), sim, 120)
    assert wrong.calibration_error is not None and wrong.calibration_error > 0.05
    assert "not as probabilities" in wrong.verdict


def test_first_cohort_is_flagged_and_retention_without_it_is_given(ws, write):
    from analytics.cohorts import cohort_table
    from analytics.ingest import ingest_file

    rows = ["user_id,event_time,event_type,item_id,price",
            *(f"{u},{t},purchase,i1,3.0" for u, t in [
                ("u1", "2024-01-05"), ("u1", "2024-02-06"), ("u2", "2024-01-09"),
                ("u3", "2024-02-03"), ("u3", "2024-03-04"), ("u4", "2024-02-10"),
                ("u4", "2024-04-12")])]
    ingest_file(ws, write("orders.csv", "\n".join(rows) + "\n"))
    table = cohort_table(ws, split=False)
    assert table.first_cohort() == ("2024-01-01", 2, 4)
    # Pooled: January 1 of 2 back in February, February 1 of 2 in March = 2 of 4.
    assert table.retention().set_index("period")["share"][1] == 0.5
    later = table.without_first().set_index("period")
    assert later["cohort_size"][1] == 2 and later["share"][1] == 0.5
    (note,) = table.notes()
    assert "2024-01-01: 2 of 4 shoppers, 50%" in note and "Without it, 50.0%" in note
    assert table.as_json()["left_censored_cohort"] == "2024-01-01"


def test_a_log_shorter_than_one_period_says_there_is_no_retention(ws, write):
    from analytics.cohorts import cohort_table
    from analytics.ingest import ingest_file

    ingest_file(ws, _clickstream(write))
    (note,) = cohort_table(ws, split=False).notes()
    assert "less than one month" in note


def test_a_qini_ci_wholly_below_zero_is_called_worse_than_random():
    from analytics.experiments.uplift import QiniCheck

    worse = QiniCheck("X-learner", -0.0175, -0.0214, -0.0138, 2377, 5)
    assert "worse than random" in worse.verdict() and "includes 0" not in worse.verdict()
    assert "includes 0" in QiniCheck("T", 0.001, -0.002, 0.004, 100, 5).verdict()


def _campaign(n_treated: int, n_control: int, rate_t: float, rate_c: float,
              pre: bool, pre_shift: float = 0.0) -> pd.DataFrame:
    """Arms with exact conversion counts; ``pre`` adds a pre-period spend column."""
    def arm(name: str, n: int, rate: float, shift: float) -> pd.DataFrame:
        bought = np.zeros(n, dtype=int)
        bought[: round(n * rate)] = 1
        frame = pd.DataFrame({"arm": name, "bought": bought})
        if pre:
            frame["spend_before"] = 10 + shift + np.arange(n) % 7
        return frame
    return pd.concat([arm("mailed", n_treated, rate_t, pre_shift),
                      arm("none", n_control, rate_c, 0.0)], ignore_index=True)


def test_experiment_verdicts_say_whether_to_act():
    from analytics.experiments import analyse_ab, prepare
    from analytics.experiments.verdict import ab_verdict

    def verdict(frame: pd.DataFrame, share: float = 0.5) -> str:
        features = ["spend_before"] if "spend_before" in frame else []
        data = prepare(frame, "arm", "bought", "mailed", "none", features=features)
        return ab_verdict(analyse_ab(data, expected_share=share))

    # 1,077 / 1,300 against a planned half: the mismatch comes first (Complete Journey's mailing).
    srm = verdict(_campaign(1077, 1300, 0.40, 0.30, pre=False))
    assert srm.startswith("Do not act on this yet") and "1,077 / 1,300" in srm
    # The same arms at their planned share, no pre-period column: act only if randomised.
    unchecked = verdict(_campaign(1077, 1300, 0.40, 0.30, pre=False), share=1077 / 2377)
    assert unchecked.startswith("Mailed beats none by +10.0 points") and "no pre-period" in unchecked
    # Treated shoppers spent more before: an association.
    assert verdict(_campaign(1000, 1000, 0.4, 0.3, pre=True, pre_shift=5)).startswith("Not a causal")
    balanced = verdict(_campaign(1000, 1000, 0.4, 0.3, pre=True))
    assert balanced.endswith("the arms were alike before the treatment.")
    null = verdict(_campaign(1000, 1000, 0.30, 0.30, pre=True))
    # Cohen's h by hand: 2.80 * sqrt(2 / 1000) = 0.125 over asin(sqrt(0.3)) gives 35.9%.
    assert null.startswith("No effect of mailed over none is detectable")
    assert "could detect about 5.9 points" in null


def test_segments_sharing_a_name_are_told_apart_by_their_biggest_difference():
    from analytics.segments.describe import _qualified

    z = pd.DataFrame({"monetary": [1.0, -1.0, 0.0], "frequency": [0.2, 0.1, 0.0],
                      "days_since_last_event": [0.0, 0.5, 3.0]})
    names = _qualified({0: "High-value repeat buyers", 1: "High-value repeat buyers", 2: "Lapsed"}, z)
    assert names == {0: "High-value repeat buyers (higher spend)",
                     1: "High-value repeat buyers (lower spend)", 2: "Lapsed"}


def test_a_ratings_only_workspace_is_evaluated_on_ratings(ws, write):
    from analytics.ingest import ingest_file
    from analytics.recommend.evaluate import default_targets

    ingest_file(ws, write("ratings.tsv", "1\t10\t5\t1609459763\n2\t11\t3\t1609469763\n"
                                         "3\t10\t4\t1609479763\n"))
    assert default_targets(ws) == ("rate",)
    ingest_file(ws, _clickstream(write))
    assert default_targets(ws) == ("purchase",)
