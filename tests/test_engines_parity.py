"""The same profiles on DuckDB and on Spark: hand-computed cases, the demo, Complete Journey.

Spark tests share one session (tests/spark_support.py) and skip, saying why, where pyspark or
Java is missing; CI has both.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import tests.test_profiles as hand
from analytics.errors import ConfigError
from analytics.ingest import ingest_file
from analytics.profiles import build_profiles, load_profiles
from tests.conftest import COMPLETEJOURNEY, needs_shared
from tests.spark_support import assert_same_profiles, needs_spark, spark  # noqa: F401

pytestmark = [pytest.mark.spark, needs_spark]

# The hand-computed cases of tests/test_profiles.py that build profiles from a workspace.
HAND_COMPUTED: list[Callable[..., None]] = [
    hand.test_recency_frequency_monetary_and_order_value_by_hand,
    hand.test_rfm_segments_for_an_obvious_champion_and_an_obvious_lost_shopper,
    hand.test_cart_abandonment_rate_counts_carting_sessions_without_a_purchase,
    hand.test_cart_without_purchase_in_the_last_seven_days,
    hand.test_device_share_main_device_hour_band_and_weekday,
    hand.test_night_band_wins_when_most_events_are_at_night,
    hand.test_brand_concentration_is_the_herfindahl_index,
    hand.test_offline_share_and_omnichannel_with_an_offline_purchase,
    hand.test_windows_count_the_last_days_beside_lifetime_values,
    hand.test_sessions_days_prices_and_categories,
    hand.test_high_value_category_visits_follow_the_quantile,
    hand.test_as_of_excludes_later_events_and_defaults_to_the_last_event,
    hand.test_crm_attributes_come_from_the_latest_users_file,
    hand.test_events_naming_only_their_item_count_under_the_catalogue_category,
]


@pytest.mark.parametrize("case", HAND_COMPUTED, ids=lambda f: f.__name__.removeprefix("test_"))
def test_hand_computed_answers_on_spark(case, ws, write, spark, monkeypatch):  # noqa: F811
    """tests/test_profiles.py's known answers, with every build run on Spark instead."""
    from analytics.engines.spark import build_profiles_spark

    def on_spark(workspace: Any, **options: Any) -> Any:
        return build_profiles_spark(workspace, spark=spark, **options)

    monkeypatch.setattr(hand, "build_profiles", on_spark)
    case(*[{"ws": ws, "write": write}[name] for name in case.__code__.co_varnames[
        :case.__code__.co_argcount]])


def test_demo_shop_profiles_are_equal_on_both_engines(demo_ws, spark):  # noqa: F811
    from analytics.engines.spark import build_profiles_spark

    duck = load_profiles(demo_ws)
    summary = build_profiles_spark(demo_ws, spark=spark)
    on_spark = load_profiles(demo_ws)
    assert summary.users == len(duck) > 3000
    assert_same_profiles(duck, on_spark)
    assert on_spark["category_shares"].notna().sum() > 3000


@needs_shared
@pytest.mark.realdata
def test_complete_journey_profiles_are_equal_on_both_engines(ws, spark):  # noqa: F811
    from analytics.engines.spark import build_profiles_spark

    ingest_file(ws, COMPLETEJOURNEY / "transactions_sample.csv", source="offline")
    ingest_file(ws, COMPLETEJOURNEY / "demographics.csv", kind="users")
    build_profiles(ws)
    duck = load_profiles(ws)
    build_profiles_spark(ws, spark=spark)
    assert_same_profiles(duck, load_profiles(ws))
    assert duck["crm_attributes"].notna().sum() > 0


def test_events_from_csv_files_with_missing_columns_are_refused_or_read(ws, write, spark):  # noqa: F811
    from analytics.engines.spark import build_profiles_spark

    bad = write("bad.csv", "who,when\nu1,2024-03-01 10:00:00\n")
    with pytest.raises(ConfigError, match="no column"):
        build_profiles_spark(ws, spark=spark, events=str(bad))
    good = write("ev.csv", "user_id,event_time,event_type,revenue\n"
                           "u1,2024-03-01 10:00:00,purchase,12.5\nu1,2024-03-02 10:00:00,view,\n")
    summary = build_profiles_spark(ws, spark=spark, events=str(good))
    row = load_profiles(ws).iloc[0]
    assert (summary.users, row["frequency"], row["monetary"], row["events"]) == (1, 1, 12.5, 2)
    assert row["days_since_last_event"] == 0 and row["recency_days"] == 1
