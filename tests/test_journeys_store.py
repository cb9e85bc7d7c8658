"""Journeys results stored per data version: counted once, read back, recounted on new data."""

from __future__ import annotations

from typing import Any

import pytest

from analytics import journeys_store
from analytics.workspace import Workspace
from tests.test_shopper import dataset, ev, insert_events


@pytest.fixture
def shop(ws: Workspace) -> Workspace:
    with ws.cursor() as cur:
        dataset(cur, "d-events", "events", "2024-03-01 00:00")
    insert_events(ws, ev("ann", "2024-03-01 10:00", "view", session_id="s1"),
                  ev("ann", "2024-03-01 10:01", "cart", session_id="s1"),
                  ev("ann", "2024-03-01 10:02", "purchase", session_id="s1", order_id="o1"),
                  ev("bob", "2024-03-02 11:00", "view", session_id="s2"))
    return ws


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    calls: list[tuple[Any, ...]] = []
    real = journeys_store.funnel

    def funnel(ws: Workspace, **kwargs: Any) -> Any:
        calls.append(tuple(kwargs.get("steps", ())))
        return real(ws, **kwargs)

    monkeypatch.setattr(journeys_store, "funnel", funnel)
    return calls


def test_the_default_funnel_is_counted_once_per_data_version(shop: Workspace,
                                                            counted: list[tuple[Any, ...]]):
    first = journeys_store.stored_funnel(shop)
    again = journeys_store.stored_funnel(shop)
    assert len(counted) == 1, "the second open must read the stored funnel"
    assert first.counts == again.counts == [2, 1, 0, 0]  # view, cart, checkout (nobody), purchase
    insert_events(shop, ev("cat", "2024-03-03 12:00", "view", session_id="s3"),
                  ev("cat", "2024-03-03 12:01", "cart", session_id="s3"))
    recounted = journeys_store.stored_funnel(shop)
    assert len(counted) == 2 and recounted.counts == [3, 2, 0, 0]


def test_other_settings_are_counted_and_kept_separately(shop: Workspace,
                                                        counted: list[tuple[Any, ...]]):
    journeys_store.stored_funnel(shop)
    two = journeys_store.stored_funnel(shop, steps=("view", "purchase"))
    journeys_store.stored_funnel(shop, steps=("view", "purchase"))
    journeys_store.stored_funnel(shop)
    assert counted == [("view", "cart", "checkout", "purchase"), ("view", "purchase")]
    assert two.counts == [2, 1]
