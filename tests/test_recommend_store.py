"""Stored recommenders and the data version: fitted once, reused, rebuilt when the data moves."""

from __future__ import annotations

import json
from typing import Any

import pytest

from analytics import stored
from analytics.jobs import Job
from analytics.recommend import TrainingOptions, preview
from analytics.recommend.engine import MODELS
from analytics.recommend.store import ensure_models, stored_models
from analytics.versions import data_version, model_inputs_version
from analytics.workspace import Workspace
from tests.test_shopper import dataset, ev, insert_events


@pytest.fixture
def shop(ws: Workspace) -> Workspace:
    """Three shoppers, two items: enough for popularity and item-kNN to fit."""
    with ws.cursor() as cur:
        dataset(cur, "d-events", "events", "2024-03-01 00:00")
    insert_events(ws, ev("ann", "2024-03-01 10:00", "purchase", item_id="i1", price=5.0, quantity=1.0,
                         order_id="o1"),
                  ev("ann", "2024-03-01 10:05", "view", item_id="i2"),
                  ev("bob", "2024-03-02 11:00", "purchase", item_id="i1", price=5.0, quantity=1.0,
                     order_id="o2"),
                  ev("cat", "2024-03-03 12:00", "view", item_id="i2"))
    return ws


@pytest.fixture
def fits(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How often each model class's fit ran."""
    counts: dict[str, int] = {}
    for name in ("popularity", "item_knn"):
        cls = MODELS[name]
        original = cls.fit

        def counted(self: Any, *args: Any, _original: Any = original, _name: str = name,
                    **kwargs: Any) -> Any:
            counts[_name] = counts.get(_name, 0) + 1
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(cls, "fit", counted)
    return counts


def test_data_version_is_stable_on_reads_and_moves_with_datasets_and_events(shop: Workspace):
    before = data_version(shop)
    assert data_version(shop) == before and len(before) == 16
    insert_events(shop, ev("dan", "2024-03-04 10:00"))  # e.g. a forget deletes or a load adds events
    after_events = data_version(shop)
    assert after_events != before
    with shop.cursor() as cur:
        dataset(cur, "d-more", "events", "2024-03-05 00:00")
    assert data_version(shop) != after_events


def test_model_inputs_version_also_moves_with_a_segmentation_run(shop: Workspace):
    before = model_inputs_version(shop)
    with shop.cursor() as cur:
        cur.execute("INSERT INTO segment_runs (run_id, name, method) VALUES ('r1', 'Run', 'rules')")
    assert model_inputs_version(shop) != before
    assert data_version(shop) == data_version(shop)


def test_a_stored_model_is_reused_without_fitting_again(shop: Workspace, fits: dict[str, int]):
    assert stored_models(shop, ["popularity"]) is None  # nothing stored yet
    first = ensure_models(shop, ["popularity"])
    assert fits == {"popularity": 1}
    again = ensure_models(shop, ["popularity"])
    read = stored_models(shop, ["popularity"])
    assert fits == {"popularity": 1}, "the stored model must be read back, not refitted"
    assert read is not None and again.interactions.n_users == first.interactions.n_users == 3
    lists = preview(shop, "cat", ["popularity"], k=2, trained=read)
    assert [r.item_id for r in lists[0].rows] == ["i1", "i2"]  # i1 bought twice, i2 only viewed


def test_asking_for_another_model_fits_only_that_one(shop: Workspace, fits: dict[str, int]):
    ensure_models(shop, ["popularity"])
    both = ensure_models(shop, ["popularity", "item_knn"])
    assert fits == {"popularity": 1, "item_knn": 1}
    assert set(both.models) == {"popularity", "item_knn"}
    assert stored_models(shop, ["item_knn"]) is not None


def test_new_data_makes_the_stored_model_stale_and_it_is_rebuilt(shop: Workspace,
                                                                 fits: dict[str, int]):
    ensure_models(shop, ["popularity"])
    insert_events(shop, ev("dan", "2024-03-04 10:00", "purchase", item_id="i2", price=3.0,
                           quantity=1.0, order_id="o3"))
    assert stored_models(shop, ["popularity"]) is None  # stale: built from older data
    rebuilt = ensure_models(shop, ["popularity"])
    assert fits == {"popularity": 2} and rebuilt.interactions.n_users == 4
    with shop.cursor() as cur:  # replaced, not piled up
        assert cur.execute("SELECT count(*) FROM stored_results").fetchall()[0][0] == 1


def test_other_options_are_stored_separately(shop: Workspace, fits: dict[str, int]):
    ensure_models(shop, ["popularity"])
    ensure_models(shop, ["popularity"], TrainingOptions(half_life_days=7.0))
    assert fits == {"popularity": 2}
    assert stored_models(shop, ["popularity"], TrainingOptions(half_life_days=7.0)) is not None
    assert stored.info(shop, "recommenders", TrainingOptions().as_json()) is not None


def test_settings_key_ignores_dict_order():
    assert stored.settings_key({"a": 1, "b": [2]}) == stored.settings_key({"b": [2], "a": 1})
    assert stored.settings_key({"a": 1}) != stored.settings_key({"a": 2})


def test_a_job_runs_its_function_once_and_reports_progress_and_errors():
    calls: list[int] = []

    def work(say: Any) -> int:
        say(0.5, "Halfway")
        calls.append(1)
        return 42

    job = Job("answer", work)
    assert job.wait(10) and job.result == 42 and job.error is None
    assert (job.fraction, job.message) == (0.5, "Halfway") and calls == [1]
    failing = Job("broken", lambda say: 1 / 0)
    assert failing.wait(10) and isinstance(failing.error, ZeroDivisionError)


def test_cli_recommend_reuses_the_stored_model(shop: Workspace, fits: dict[str, int],
                                               capsys: pytest.CaptureFixture[str]):
    from analytics.cli import main

    path = str(shop.path)
    shop.close()  # the CLI opens the workspace file itself
    for _ in range(2):
        assert main(["recommend", "--db", path, "--model", "popularity", "--user", "cat",
                     "--json"]) == 0
    assert fits == {"popularity": 1}, "the second call must reuse the model the first stored"
    out = capsys.readouterr().out.strip().splitlines()
    assert [i["item_id"] for i in json.loads(out[-1])["items"]] == ["i1", "i2"]
