"""Recommenders: the shared contract every model passes, planted known answers, bad input, CLI."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analytics.bundle import DEMO_DIR
from analytics.cli import main
from analytics.errors import ConfigError, NotFoundError, ShopperLensError
from analytics.ingest import ingest_file
from analytics.recommend import MODELS, TrainingOptions, build, make_model, preview, train
from analytics.recommend.evaluate import Split, best_model, evaluate, latest_evaluation
from analytics.recommend.interactions import Interactions, ItemCatalog
from analytics.workspace import Workspace

ALL_MODELS = list(MODELS)


@pytest.fixture(scope="module")
def demo(_demo_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[
        tuple[Interactions, ItemCatalog]]:
    """Interactions of the demo shop, built once for the module's read-only tests."""
    path = tmp_path_factory.mktemp("recdemo") / "shopper_lens.duckdb"
    shutil.copyfile(_demo_db, path)
    with Workspace(path) as ws:
        yield build(ws)


def _warm_buyers(inter: Interactions, n: int = 60) -> list[str]:
    bought = np.diff(inter.purchased.indptr) > 0
    warm = (inter.events > 2) & bought
    return inter.user_ids[np.flatnonzero(warm)[:n]].tolist()


# -- the contract: every model ---------------------------------------------------------------
@pytest.mark.parametrize("name", ALL_MODELS)
def test_every_model_keeps_the_contract(name: str, demo: tuple[Interactions, ItemCatalog]):
    inter, items = demo
    users = [*_warm_buyers(inter), "no-such-shopper"]
    model = make_model(name).fit(inter, items)
    ids, scores = model.recommend(users, k=10)

    assert ids.shape == scores.shape == (len(users), 10)
    catalogue = set(inter.item_ids)
    for row_ids, row_scores, user in zip(ids, scores, users, strict=True):
        assert all(i in catalogue for i in row_ids), "only catalogue items"
        assert len(set(row_ids)) == len(row_ids), "no item twice in a list"
        assert np.all(np.diff(row_scores) <= 1e-12), "best first"
        r = inter.user_index.get(user)
        if r is not None:  # exclude_purchased is on by default
            bought = set(inter.item_ids[inter.purchased[r].indices])
            assert not bought & set(row_ids), f"{name} recommended an item {user} bought"
    reason = model.explain(users[0], ids[0, 0])
    assert isinstance(reason, str) and len(reason) > 5
    # Cold start: an unknown shopper gets the trending fallback, with a reason saying so.
    assert model.explain("no-such-shopper", ids[-1, 0]) == "trending now"


@pytest.mark.parametrize("name", ALL_MODELS)
def test_every_model_is_deterministic_with_a_seed(name: str, demo):
    inter, items = demo
    users = _warm_buyers(inter, 40)
    first = make_model(name, random_state=3).fit(inter, items).recommend(users, 10)[0]
    second = make_model(name, random_state=3).fit(inter, items).recommend(users, 10)[0]
    assert (first == second).all()


def test_light_shoppers_get_their_segment_popularity(demo):
    inter, items = demo
    light = [u for u, n, s in zip(inter.user_ids, inter.events, inter.segments, strict=True)
             if 0 < n <= 2 and s == "Never purchased"]
    assert light, "the demo has 1-2-event shoppers"
    model = make_model("item_knn").fit(inter, items)
    ids, _ = model.recommend(light[:1], 5)
    assert model.explain(light[0], ids[0, 0]) == "popular in your segment 'Never purchased'"


def test_keeping_purchased_items_and_the_category_cap(demo):
    inter, items = demo
    users = _warm_buyers(inter, 200)
    keep = make_model("item_knn", exclude_purchased=False).fit(inter, items)
    ids, _ = keep.recommend(users, 10)
    rebought = sum(bool(set(inter.item_ids[inter.purchased[inter.user_index[u]].indices])
                        & set(row)) for u, row in zip(users, ids, strict=True))
    assert rebought > 0, "with exclusion off, bought items can come back"

    capped = make_model("item_knn", max_per_category=2).fit(inter, items)
    ids, _ = capped.recommend(users, 10)
    category = dict(zip(items.item_ids, items.categories, strict=True))
    for row in ids:
        counts = pd.Series([category[i] for i in row if i is not None]).value_counts()
        assert counts.max() <= 2


def test_item_knn_recovers_the_planted_bundles(demo):
    inter, items = demo
    bundles = json.loads((DEMO_DIR / "truth.json").read_text())["bundles"]
    model = make_model("item_knn").fit(inter, items)
    found = 0
    for bundle in bundles:
        neighbours = {item for item, _ in model.similar_items(bundle[0], n=5)}
        found += bool(set(bundle[1:]) & neighbours)
    assert found >= 0.8 * len(bundles), f"{found} of {len(bundles)} bundles recovered"


def test_content_reaches_items_nobody_interacted_with(demo):
    inter, items = demo
    untouched = np.flatnonzero(np.asarray(inter.matrix.sum(axis=0)).ravel() == 0)
    model = make_model("content").fit(inter, items)
    if len(untouched) == 0:  # every demo item is interacted with: check the scores instead
        assert model._scores(np.arange(5)).min() >= 0
        return
    scores = model._scores(np.arange(50))
    assert (scores[:, untouched] > 0).any()


# -- known answer: hybrid vs popularity on the planted co-purchase structure ----------------
def test_hybrid_beats_popularity_by_30_percent_on_ndcg(demo_ws, capsys):
    report = evaluate(demo_ws, ["popularity", "item_knn", "hybrid"], k=10)
    scores = {s.model: s for s in report.overall}
    with capsys.disabled():
        print("\nNDCG@10 on the demo:", {m: round(s.ndcg, 4) for m, s in scores.items()},
              f"hybrid/popularity = {scores['hybrid'].ndcg / scores['popularity'].ndcg:.2f}")
    assert scores["hybrid"].ndcg >= 1.3 * scores["popularity"].ndcg
    assert report.test_users > 300
    assert {s.segment for s in report.per_segment} >= {"Champions", "Loyal"}
    stored = latest_evaluation(demo_ws)
    assert set(stored["model"]) == {"popularity", "item_knn", "hybrid"}
    assert best_model(demo_ws) == report.best()


def test_per_shopper_split_evaluates_too(demo_ws):
    report = evaluate(demo_ws, ["trending", "sequential"], k=5,
                      split=Split(method="last", last_k=1), store=False)
    assert report.test_users > 500
    assert all(0 <= s.ndcg <= 1 for s in report.overall)


def test_preview_gives_titles_scores_and_reasons(demo_ws):
    trained = train(demo_ws, ["hybrid", "content"])
    user = _warm_buyers(trained.interactions, 1)[0]
    lists = preview(demo_ws, user, ["hybrid", "content"], k=5, trained=trained)
    assert [r.model for r in lists] == ["hybrid", "content"]
    for result in lists:
        assert len(result.rows) == 5 and result.known_user and not result.cold_start
        assert all(row.title and row.reason for row in result.rows)
        assert json.dumps(result.as_json())
    assert any(r.reason.startswith(("because you", "bought together", "shoppers often", "similar"))
               for r in lists[0].rows)


# -- bad input ---------------------------------------------------------------------------------
def _load(ws: Workspace, tmp_path: Path, csv: str) -> None:
    path = tmp_path / "events.csv"
    path.write_text(csv)
    ingest_file(ws, path, kind="events")


def test_no_item_ids_is_a_clear_error(ws, tmp_path):
    _load(ws, tmp_path, "user_id,event_time,event_type\nu1,2024-01-01 10:00:00,view\n"
                        "u2,2024-01-02 10:00:00,purchase\n")
    with pytest.raises(NotFoundError, match="No event carries an item id"):
        train(ws, ["popularity"])


def test_a_single_item_is_a_clear_error(ws, tmp_path):
    _load(ws, tmp_path, "user_id,event_time,event_type,item_id\nu1,2024-01-01 10:00:00,view,A\n"
                        "u2,2024-01-02 10:00:00,purchase,A\n")
    with pytest.raises(ShopperLensError, match="Only one item"):
        train(ws, ["item_knn"])


def test_an_empty_workspace_is_a_clear_error(ws):
    with pytest.raises(NotFoundError, match="no events"):
        train(ws, ["hybrid"])


def test_shoppers_with_only_views_get_recommendations_but_no_purchase_evaluation(ws, tmp_path):
    rows = ["user_id,event_time,event_type,item_id"]
    for u in range(30):
        for d, item in enumerate((u % 5, (u + 1) % 5, (u + 2) % 5)):
            rows.append(f"u{u},2024-01-{d * 9 + 1:02d} 10:00:00,view,i{item}")
    _load(ws, tmp_path, "\n".join(rows) + "\n")
    for name in ALL_MODELS:
        result = preview(ws, "u1", [name], k=3)[0]
        assert len(result.rows) == 3, name
    with pytest.raises(NotFoundError, match="No shopper has a purchase event in the test period"):
        evaluate(ws, ["popularity"], split=Split(test_days=10))
    report = evaluate(ws, ["popularity", "item_knn"], targets=["view"], store=False,
                      split=Split(test_days=10))
    assert report.test_users == 30


def test_bad_parameters_are_config_errors(demo, ws):
    inter, items = demo
    with pytest.raises(ConfigError, match="Unknown recommendation model"):
        make_model("deep_magic")
    with pytest.raises(ConfigError, match="Invalid parameter"):
        make_model("als", factorz=3)
    with pytest.raises(ConfigError, match="max_per_category"):
        make_model("popularity", max_per_category=0).fit(inter, items)
    with pytest.raises(ConfigError, match="half_life_days"):
        build(ws, half_life_days=0)
    with pytest.raises(ConfigError, match="weight"):
        train(ws, ["popularity"], TrainingOptions(weights=(("view", 0.0),)))
    with pytest.raises(ConfigError, match="k=0"):
        make_model("popularity").fit(inter, items).recommend(["u1"], k=0)


# -- CLI -----------------------------------------------------------------------------------------
def _cli(capsys, *argv: str) -> tuple[int, dict[str, object] | None, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    lines = out.strip().splitlines()
    return code, (json.loads(lines[-1]) if code == 0 and "--json" in argv else None), err


def test_cli_recommend_evaluate_and_unknown_user(demo_ws, tmp_path, capsys):
    db = str(demo_ws.path)
    demo_ws.close()
    code, result, _ = _cli(capsys, "evaluate", "--db", db, "--models", "popularity,item_knn",
                           "--k", "5", "--json")
    assert code == 0 and result is not None
    models = result["models"]
    assert set(models) == {"popularity", "item_knn"}  # type: ignore[arg-type]
    assert set(models["item_knn"]) >= {"precision@5", "recall@5", "ndcg@5", "map@5",  # type: ignore[index]
                                       "coverage"}

    code, result, _ = _cli(capsys, "recommend", "--db", db, "--user", "u000100", "--k", "3",
                           "--json")
    assert code == 0 and result is not None
    assert result["user"] == "u000100" and result["model"] == "item_knn"  # best of last run
    assert [set(i) >= {"item_id", "score", "reason"} for i in result["items"]] == [True] * 3  # type: ignore[union-attr]

    out = tmp_path / "recs.csv"
    code, result, _ = _cli(capsys, "recommend", "--db", db, "--model", "popularity", "--k", "2",
                           "--out", str(out), "--json")
    assert code == 0 and result is not None and result["users"] > 3000  # type: ignore[operator]
    table = pd.read_csv(out)
    assert list(table.columns) == ["user_id", "rank", "item_id", "score", "model", "reason"]
    assert len(table) == result["rows"]

    code, _, err = _cli(capsys, "recommend", "--db", db, "--user", "u00100")
    assert code == 2 and "has no events" in err and "u000100" in err and "Traceback" not in err
    code, result, _ = _cli(capsys, "recommend", "--db", db, "--user", "visitor-1",
                           "--allow-unknown", "--json")
    assert code == 0 and result is not None and result["cold_start"] is True
    code, _, err = _cli(capsys, "recommend", "--db", db)
    assert code == 2 and "exactly one of --user" in err


def test_ratings_are_interactions_weighted_by_the_rating(ws, tmp_path):
    """A headerless user,item,rating,timestamp file; 5 of 5 counts the full rate weight
    (4), 4 counts 0.6 of it, 2 (the lower half of the scale) nothing."""
    path = tmp_path / "ratings.tsv"
    path.write_text("1\t10\t5\t1704103200\n1\t11\t4\t1704103200\n1\t12\t2\t1704103200\n"
                    "2\t10\t4\t1704103200\n")
    report = ingest_file(ws, path)
    assert (report.rows_loaded, report.kind) == (4, "events")
    inter, _ = build(ws, half_life_days=30.0)
    raw = inter.raw.toarray()
    users, items = list(inter.user_ids), list(inter.item_ids)
    got = {(u, i): raw[users.index(u), items.index(i)] for u in users for i in items
           if raw[users.index(u), items.index(i)] > 0}
    assert got == {("1", "10"): pytest.approx(4.0), ("1", "11"): pytest.approx(2.4),
                   ("2", "10"): pytest.approx(2.4)}
