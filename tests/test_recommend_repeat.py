"""Honest evaluation and buy-again: hand-computed known/new counts, the tie rule, the
adaptive split, buy-again scores and reasons, and the exclusion chosen on planted shops."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from analytics.cli import main
from analytics.errors import ConfigError
from analytics.ingest import ingest_file
from analytics.recommend import build, make_model
from analytics.recommend.catalogue import MODEL_CATALOGUE, complexity
from analytics.recommend.engine import MODELS
from analytics.recommend.evaluate import (
    KNOWN_SHOPPERS,
    NEW_SHOPPERS,
    Split,
    _verdict,
    best_exclusion,
    best_model,
    evaluate,
    latest_evaluation,
)
from analytics.sample import generate_kind
from analytics.workspace import Workspace


def _load(ws: Workspace, tmp_path: Path, lines: list[str]) -> None:
    path = tmp_path / "events.csv"
    path.write_text("user_id,event_time,event_type,item_id\n" + "\n".join(lines) + "\n")
    ingest_file(ws, path, kind="events")


# -- known vs new shoppers, by hand ------------------------------------------------------------
def test_known_and_new_shoppers_are_counted_and_reported_apart(ws, tmp_path):
    # Cutoff = last event (2024-02-20) - 10 days = 2024-02-10.
    lines = []
    for u in ("a", "b"):  # known: history before the cutoff, a purchase after
        lines += [f"{u},2024-01-0{d} 10:00:00,purchase,i{d}" for d in range(1, 6)]
        lines.append(f"{u},2024-02-15 10:00:00,purchase,i6")
    lines.append("c,2024-02-12 10:00:00,purchase,i1")  # new: only after the cutoff
    lines.append("d,2024-01-03 10:00:00,purchase,i2")  # before only: not a test shopper
    lines.append("e,2024-02-20 10:00:00,view,i3")      # after, but no purchase: not tested
    _load(ws, tmp_path, lines)
    report = evaluate(ws, ["popularity", "buy_again"], split=Split(test_days=10), k=3)
    assert (report.known_users, report.new_users, report.test_users) == (2, 1, 3)
    assert {s.segment for s in report.overall} == {KNOWN_SHOPPERS}
    assert all(s.users == 2 for s in report.overall)
    assert [s.users for s in report.cold_start] == [1, 1]
    assert {s.segment for s in report.cold_start} == {NEW_SHOPPERS}
    assert json.dumps(report.cli_json(), allow_nan=False)  # strict JSON: no CI is NaN
    stored = latest_evaluation(ws)
    assert set(stored["segment"]) >= {KNOWN_SHOPPERS, NEW_SHOPPERS}


# -- the tie rule -----------------------------------------------------------------------------
def test_tied_models_say_so_and_the_simplest_is_used():
    ndcg = {"hybrid": 0.20, "popularity": 0.19, "als": 0.10}
    ci = {"hybrid": (0.15, 0.25), "popularity": (0.14, 0.24), "als": (0.05, 0.12)}
    tied, pick, verdict = _verdict(ndcg, ci, 300, 10)
    assert tied == ("popularity", "hybrid") and pick == "popularity"
    assert "Tied" in verdict and "Popularity" in verdict and "300 known shoppers" in verdict
    clear = {"hybrid": (0.18, 0.25), "popularity": (0.10, 0.17), "als": (0.05, 0.12)}
    tied, pick, verdict = _verdict(ndcg, clear, 300, 10)
    assert tied == ("hybrid",) and pick == "hybrid" and "no other model" in verdict


def test_the_catalogue_names_every_model_and_orders_them_by_complexity():
    assert set(MODELS) <= set(MODEL_CATALOGUE)
    assert all(MODELS[n].label == MODEL_CATALOGUE[n].label for n in MODELS)
    assert complexity("popularity") < complexity("buy_again") < complexity("item_knn") \
        < complexity("hybrid")


# -- the adaptive split -------------------------------------------------------------------------
def test_a_three_hour_clickstream_gets_a_split_that_works_and_says_so(ws, tmp_path):
    lines = []
    for u in range(40):  # 09:00-12:00; each shopper buys 3 items at 09:00, 10:00, 11:50
        for minute, item in ((0, u % 6), (60, (u + 1) % 6), (170, (u + 2) % 6)):
            lines.append(f"u{u},2024-03-01 {9 + minute // 60:02d}:{minute % 60:02d}:00,"
                         f"purchase,i{item}")
    _load(ws, tmp_path, lines)
    report = evaluate(ws, ["popularity", "item_knn"], store=False)
    # 20% of the 170-minute span = 34 minutes: only the 11:50 purchases are tested.
    assert report.split.startswith("last 34 minutes") and "20%" in report.split
    assert report.known_users == 40 and report.new_users == 0


def test_bad_exclusions_and_test_periods_are_config_errors(ws, tmp_path):
    _load(ws, tmp_path, ["u1,2024-01-01 10:00:00,purchase,A", "u1,2024-01-09 10:00:00,purchase,B"])
    with pytest.raises(ConfigError, match="Unknown exclusion"):
        evaluate(ws, ["popularity"], exclusions=["seen"])
    with pytest.raises(ConfigError, match="test period"):
        evaluate(ws, ["popularity"], split=Split(test_days=-1))
    inter, items = build(ws)
    with pytest.raises(ConfigError, match="Unknown exclusion"):
        make_model("popularity", exclude_purchased="views").fit(inter, items)
    with pytest.raises(ConfigError, match="mix"):
        make_model("buy_again_hybrid", mix=1.5).fit(inter, items)


# -- buy again, by hand ---------------------------------------------------------------------------
def test_buy_again_ranks_by_decayed_purchase_counts_with_reasons(ws, tmp_path):
    # as_of = 2024-03-31 10:00 (the last event). u1: A three times (last 10 days before),
    # B twice (last 1 day before), C once (60 days before), D only viewed.
    lines = ["u1,2024-01-01 10:00:00,purchase,A", "u1,2024-02-01 10:00:00,purchase,A",
             "u1,2024-03-21 10:00:00,purchase,A", "u1,2024-03-01 10:00:00,purchase,B",
             "u1,2024-03-30 10:00:00,purchase,B", "u1,2024-01-31 10:00:00,purchase,C",
             "u1,2024-03-15 10:00:00,view,D", "u2,2024-03-31 10:00:00,purchase,D",
             "u2,2024-03-31 10:00:00,purchase,E", "u2,2024-03-01 10:00:00,purchase,D"]
    _load(ws, tmp_path, lines)
    inter, items = build(ws)
    model = make_model("buy_again", exclude_purchased="nothing", half_life_days=10).fit(inter,
                                                                                      items)
    ids, scores = model.recommend(["u1"], k=5)
    expected = {"A": 3 * 0.5 ** (10 / 10), "B": 2 * 0.5 ** (1 / 10), "C": 1 * 0.5 ** (60 / 10)}
    assert list(ids[0, :3]) == ["B", "A", "C"]
    np.testing.assert_allclose(scores[0, :3], [expected[i] for i in "BAC"], rtol=1e-5)
    assert model.explain("u1", "A") == "you bought this 3 times, last 10 days ago"
    assert model.explain("u1", "C") == "you bought this once, 60 days ago"
    assert model.explain("u1", "D") == "popular with all shoppers"  # viewed, never bought
    # With bought items left out, nothing personal is left: never-bought items only.
    excluded = make_model("buy_again", exclude_purchased="purchased").fit(inter, items)
    assert set(excluded.recommend(["u1"], k=5)[0][0]) - {None} == {"D", "E"}
    # "any interaction" also leaves out the viewed D.
    seen = make_model("buy_again", exclude_purchased="any").fit(inter, items)
    assert set(seen.recommend(["u1"], k=5)[0][0]) - {None} == {"E"}


# -- planted shops: the exclusion the evaluation must choose ----------------------------------------
@pytest.mark.parametrize(("kind", "expected"), [("grocery", "nothing"), ("ratings", "purchased")])
def test_the_evaluation_chooses_the_exclusion_the_shop_calls_for(ws, tmp_path, kind, expected):
    generate_kind(tmp_path / kind, kind, users=250)
    ingest_file(ws, tmp_path / kind / "items.csv")
    ingest_file(ws, tmp_path / kind / "events.csv", kind="events")
    report = evaluate(ws, ["popularity", "item_knn", "buy_again", "buy_again_hybrid"])
    ndcg = {mode: max(v.values()) for mode, v in report.exclusion_ndcg.items()}
    assert report.exclusion == expected, ndcg
    assert best_exclusion(ws) == expected and best_model(ws) == report.best()
    scores = {s.model: s.ndcg for s in report.overall}
    if kind == "grocery":  # repeats dominate: the personal baseline beats popularity by far
        assert ndcg["nothing"] > 2 * ndcg["purchased"]
        assert scores["buy_again"] > 2 * scores["popularity"]
    else:  # nothing is bought twice: showing bought items wastes slots
        assert ndcg["purchased"] > 1.5 * ndcg["nothing"]


def test_the_generated_shops_are_what_they_claim(tmp_path):
    import pandas as pd

    for kind in ("grocery", "ratings"):
        generate_kind(tmp_path / kind, kind, users=100)
        events = pd.read_csv(tmp_path / kind / "events.csv")
        repeats = events.duplicated(["user_id", "item_id"]).mean()
        assert (repeats > 0.7) if kind == "grocery" else (repeats == 0), (kind, repeats)
    first = (tmp_path / "grocery" / "events.csv").read_bytes()
    generate_kind(tmp_path / "again", "grocery", users=100)
    assert (tmp_path / "again" / "events.csv").read_bytes() == first
    with pytest.raises(ConfigError, match="Unknown shop kind"):
        generate_kind(tmp_path / "x", "bakery")


# -- CLI: the choice in --json, and recommend uses it ------------------------------------------------
def test_cli_evaluate_and_recommend_use_the_chosen_exclusion(ws, tmp_path, capsys):
    generate_kind(tmp_path / "g", "grocery", users=150)
    ingest_file(ws, tmp_path / "g" / "events.csv", kind="events")
    db = str(ws.path)
    ws.close()
    assert main(["evaluate", "--db", db, "--models", "popularity,buy_again", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["exclusion"] == "nothing" and result["best"] == "buy_again"
    assert set(result["exclusion_ndcg"]) == {"purchased", "any", "nothing"}
    assert result["known_users"] == 150 and "cold_start" in result and result["verdict"]
    assert result["models"]["buy_again"]["ndcg@10_ci"][0] <= result["models"]["buy_again"][
        "ndcg@10"] <= result["models"]["buy_again"]["ndcg@10_ci"][1]
    assert main(["recommend", "--db", db, "--user", "u00001", "--k", "3", "--json"]) == 0
    rec = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert rec["model"] == "buy_again" and rec["exclude"]["mode"] == "nothing"
    assert "last evaluation" in rec["exclude"]["why"]
    assert all(i["reason"].startswith("you bought this") for i in rec["items"])


@pytest.mark.parametrize(("kind", "low", "high"), [("grocery", 0.75, 1.0), ("ratings", 0.0, 0.1)])
def test_the_repeat_mix_is_tuned_toward_what_the_shop_does(ws, tmp_path, kind, low, high):
    generate_kind(tmp_path / kind, kind, users=250)
    ingest_file(ws, tmp_path / kind / "events.csv", kind="events")
    inter, items = build(ws)
    model = make_model("buy_again_hybrid", exclude_purchased="nothing").fit(inter, items)
    assert model.tuning_["tuned"] and model.partner_ in ("popularity", "item_knn", "als")
    assert low <= model.mix_ <= high, model.tuning_


def test_repeat_counts_before_the_validation_window_by_hand():
    from types import SimpleNamespace

    from analytics.recommend.repeat import _counts_before

    # Window 10 days. A: 3 purchases, first seen 40 days ago, last bought 5 days ago (inside):
    # 2 before it, the previous one an average gap (40 - 5) / 2 = 17.5 days earlier, i.e.
    # 5 + 17.5 - 10 = 12.5 days before the window starts. B: last bought 20 days ago
    # (outside): unchanged, 10 days before the window. C: first seen 3 days ago: new.
    # D: viewed only.
    inter = SimpleNamespace(purchases=np.array([3.0, 2.0, 1.0, 0.0]),
                            last_purchase_age_days=np.array([5.0, 20.0, 3.0, np.nan]),
                            first_age_days=np.array([40.0, 50.0, 3.0, 30.0]))
    counts, ages = _counts_before(inter, 10.0)  # type: ignore[arg-type]
    np.testing.assert_allclose(counts, [2.0, 2.0, 0.0, 0.0])
    np.testing.assert_allclose(ages[:2], [12.5, 10.0])
