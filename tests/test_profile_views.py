"""Profiles read without loading the whole table: counts from DuckDB, a repeatable sample."""

from __future__ import annotations

import pytest

from analytics.errors import NotFoundError
from analytics.profile_views import profile_sample, profiles_built
from analytics.profiles import build_profiles
from analytics.workspace import Workspace
from tests.test_shopper import ev, insert_events


@pytest.fixture
def shop(ws: Workspace) -> Workspace:
    insert_events(ws, *(ev(f"u{i}", f"2024-03-0{i} 10:00") for i in range(1, 6)))
    return ws


def test_without_profiles_the_sample_says_how_to_build_them(shop: Workspace):
    assert not profiles_built(shop)
    with pytest.raises(NotFoundError, match="not been built"):
        profile_sample(shop)


def test_a_sample_counts_everyone_and_is_repeatable(shop: Workspace):
    build_profiles(shop)
    assert profiles_built(shop)
    everyone = profile_sample(shop, rows=10)
    assert everyone.total == 5 and everyone.frame["user_id"].tolist() == ["u1", "u2", "u3", "u4", "u5"]
    assert everyone.note == "All 5 shoppers."
    some = profile_sample(shop, rows=3, seed=1)
    assert (some.total, len(some.frame)) == (5, 3)
    assert set(some.frame["user_id"]) <= set(everyone.frame["user_id"])
    assert some.frame["user_id"].is_monotonic_increasing
    assert profile_sample(shop, rows=3, seed=1).frame["user_id"].tolist() == some.frame["user_id"].tolist()
    assert "sample of 3 of 5 shoppers" in some.note
    assert str(some.as_of).startswith("2024-03-05")
