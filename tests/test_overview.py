"""Home's numbers: orders counted as profiles count them; the activity chart has no false lines."""

from __future__ import annotations

from analytics.ingest import ingest_file
from analytics.overview import daily_events, overview
from analytics.profiles import build_profiles, load_profiles

# a: one order of two lines (order id) + a second order without id (session s2);
# b: two purchases on one day, no order or session id (one order: the day); c: only views.
EVENTS = ("user_id,event_time,event_type,item_id,price,quantity,order_id,session_id\n"
          "a,2026-01-01 10:00:00,purchase,i1,5,1,o1,s1\n"
          "a,2026-01-01 10:01:00,purchase,i2,5,1,o1,s1\n"
          "a,2026-01-05 10:00:00,purchase,i2,5,1,,s2\n"
          "b,2026-01-02 09:00:00,purchase,i1,5,1,,\n"
          "b,2026-01-02 18:00:00,purchase,i3,5,1,,\n"
          "c,2026-01-03 09:00:00,view,i1,5,1,,s9\n"
          "c,2026-01-03 09:01:00,page_ping,i1,,,,s9\n")


def test_orders_match_the_profiles_count(ws, write):
    ingest_file(ws, write("e.csv", EVENTS), allow_unknown_types=True)
    build_profiles(ws)
    frequency = load_profiles(ws).set_index("user_id")["frequency"].fillna(0)
    assert overview(ws).orders == int(frequency.sum())
    assert dict(frequency.astype(int)) == {"a": 2, "b": 1, "c": 0}


def test_activity_fills_empty_periods_and_groups_unknown_types(ws, write):
    ingest_file(ws, write("e.csv", EVENTS), allow_unknown_types=True)
    daily = daily_events(ws)
    assert set(daily["event_type"]) == {"purchase", "view", "other"}  # page_ping -> other
    days = sorted(set(daily["day"]))
    assert len(days) == 5  # 1 Jan .. 5 Jan, the empty 4 Jan included
    empty = daily[daily["day"] == days[3]]
    assert (empty["events"] == 0).all() and len(empty) == 3
    assert int(daily["events"].sum()) == 7
    assert int(daily.loc[daily["event_type"] == "other", "events"].sum()) == 1
