"""Plain words: the label catalogue, durations, money, and reasons that say what happened."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from analytics import labels
from analytics.errors import ConfigError
from analytics.profiles import FEATURES
from analytics.recommend import MODELS, build, make_model
from analytics.workspace import Workspace


def test_every_feature_and_model_has_a_label_and_every_label_reads_as_words():
    assert {f.name for f in FEATURES} <= set(labels.FEATURE_LABELS)
    assert set(MODELS) <= set(labels.MODEL_LABELS)
    for name in (*labels.FEATURE_LABELS, *labels.MODEL_LABELS, *labels.METRIC_LABELS):
        text = labels.feature_label(name) if name in labels.FEATURE_LABELS else \
            labels.model_label(name) if name in labels.MODEL_LABELS else labels.metric_label(name)
        assert "_" not in text and text[0].isupper(), (name, text)
    # Models' own labels agree with the catalogue (one name per model everywhere).
    assert {n: m.label for n, m in MODELS.items()} == {n: labels.MODEL_LABELS[n] for n in MODELS}
    assert labels.feature_help("monetary") == next(f.help for f in FEATURES if f.name == "monetary")
    assert labels.feature_label("loyalty_tier") == "Loyalty tier"  # unknown (CRM) columns


@pytest.mark.parametrize(("seconds", "text"), [
    (None, "–"), (float("nan"), "–"), (0, "0 s"), (0.25, "250 ms"), (45, "45 s"), (119, "119 s"),
    (600, "10 min"), (7199, "120 min"), (7200, "2.0 h"), (90_000, "25.0 h"), (259_200, "3.0 days"),
    (15_543_360, "180 days")])
def test_durations_read_as_people_say_them(seconds, text):
    assert labels.duration(seconds) == text


def test_money_carries_the_currency_setting(monkeypatch):
    assert labels.money(1234.5) == "1,234.50 USD"
    monkeypatch.setenv("SHOPPER_LENS_CURRENCY", "€")
    assert labels.money(3) == "3.00 €" and labels.money(None) == "–"
    monkeypatch.setenv("SHOPPER_LENS_CURRENCY", "DOLLARS")
    with pytest.raises(ConfigError, match="SHOPPER_LENS_CURRENCY"):
        labels.money(1)


def test_item_knn_says_when_it_recommends_an_item_just_viewed(_demo_db: Path, tmp_path: Path):
    path = tmp_path / "shopper_lens.duckdb"
    shutil.copyfile(_demo_db, path)
    with Workspace(path) as ws:
        inter, items = build(ws)
    model = make_model("item_knn").fit(inter, items)
    users = inter.user_ids.tolist()
    ids, _ = model.recommend(users, k=10)
    reminders = others = 0
    for user, row in zip(users, ids, strict=True):
        r = inter.user_index[user]
        start, end = inter.matrix.indptr[r], inter.matrix.indptr[r + 1]
        mine = dict(zip(inter.item_ids[inter.matrix.indices[start:end]],
                        inter.last_age_days[start:end], strict=True))
        if not set(mine) & set(row):
            continue
        for item in row:
            reason = model.explain(user, item)
            if item in mine:
                expected = labels.duration(float(mine[item]) * 86_400)
                assert reason == f"because you viewed this item {expected} ago and have not bought it yet"
                reminders += 1
            else:
                assert "viewed this item" not in reason, reason
                others += 1
        if reminders >= 20:
            break
    assert reminders > 0 and others > 0
    assert np.isfinite(inter.last_age_days).all()
