"""Shopper profiles: hand-computed answers on tiny event sets, plus the real Complete Journey."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from typing import Any

import pandas as pd
import pytest

import analytics.profiles as profiles_module
from analytics.errors import ConfigError, NotFoundError
from analytics.ingest import ingest_file
from analytics.profiles import FEATURES, RFM_GRID, build_profiles, load_profiles, lookup
from analytics.workspace import Workspace
from tests.conftest import COMPLETEJOURNEY, needs_shared

AS_OF = datetime(2024, 3, 30, 12, 0)
COLUMNS = ("user_id", "event_time", "event_type", "category", "brand", "price", "quantity",
           "revenue", "session_id", "order_id", "device", "channel", "country", "source", "rating")


def ev(user: str, time: str, kind: str = "view", **fields: Any) -> dict[str, Any]:
    """One event row; unspecified columns are NULL, source defaults to online."""
    return {"user_id": user, "event_time": time, "event_type": kind, "source": "online", **fields}


def insert(ws: Workspace, *rows: dict[str, Any]) -> None:
    sql = (f"INSERT INTO events ({', '.join(COLUMNS)}, dataset_id) "
           f"VALUES ({', '.join('?' for _ in COLUMNS)}, 'test')")
    with ws.cursor() as cur:
        cur.executemany(sql, [[row.get(c) for c in COLUMNS] for row in rows])


def built(ws: Workspace, *rows: dict[str, Any], as_of: datetime | None = AS_OF,
          **options: Any) -> dict[str, dict[str, Any]]:
    """Insert rows, build profiles, return them keyed by user id."""
    insert(ws, *rows)
    build_profiles(ws, as_of=as_of, **options)
    return {r["user_id"]: r for r in load_profiles(ws).to_dict(orient="records")}


def clean(value: Any) -> Any:
    return None if pd.isna(value) else value


def test_recency_frequency_monetary_and_order_value_by_hand(ws):
    got = built(
        ws,
        # alice: order o1 of two lines (10 + 20), order o2 (30), a refund of 5.
        ev("alice", "2024-03-01 10:00", "purchase", order_id="o1", session_id="a1", revenue=10.0),
        ev("alice", "2024-03-01 10:01", "purchase", order_id="o1", session_id="a1", revenue=20.0),
        ev("alice", "2024-03-20 12:00", "purchase", order_id="o2", session_id="a2", revenue=30.0),
        ev("alice", "2024-03-25 09:00", "refund", order_id="o2", session_id="a3", revenue=-5.0),
        # bob: no order ids, so two orders = two purchase sessions.
        ev("bob", "2024-03-10 10:00", "purchase", session_id="b1", revenue=5.0),
        ev("bob", "2024-03-10 10:02", "purchase", session_id="b1", revenue=5.0),
        ev("bob", "2024-03-29 23:00", "purchase", session_id="b2", revenue=10.0),
        # carol only browses.
        ev("carol", "2024-03-29 08:00", "view", session_id="c1"),
    )
    alice, bob, carol = got["alice"], got["bob"], got["carol"]
    assert (alice["recency_days"], alice["frequency"], alice["monetary"]) == (10, 2, 55.0)
    assert alice["avg_order_value"] == 27.5  # refunds lower monetary: 60 bought, 55 kept
    assert (bob["recency_days"], bob["frequency"], bob["monetary"], bob["avg_order_value"]) == \
        (1, 2, 20.0, 10.0)
    assert clean(carol["recency_days"]) is None and carol["frequency"] == 0
    assert carol["monetary"] == 0 and clean(carol["avg_order_value"]) is None
    assert clean(carol["r_score"]) is None and carol["rfm_segment"] == "Never purchased"


def test_rfm_segments_for_an_obvious_champion_and_an_obvious_lost_shopper(ws):
    rows = []
    for i in range(10):  # shopper i: i + 1 orders, the last one on day i + 1 of March
        for k in range(i + 1):
            rows.append(ev(f"u{i}", f"2024-03-{i + 1:02d} 10:{k:02d}", "purchase",
                           order_id=f"o{i}-{k}", session_id=f"s{i}", revenue=10.0))
    got = built(ws, *rows, as_of=datetime(2024, 3, 31))
    assert (got["u9"]["r_score"], got["u9"]["f_score"], got["u9"]["m_score"]) == (5, 5, 5)
    assert got["u9"]["rfm_segment"] == "Champions"
    assert (got["u0"]["r_score"], got["u0"]["f_score"]) == (1, 1)
    assert got["u0"]["rfm_segment"] in ("Lost", "Hibernating")
    assert got["u4"]["rfm_segment"] == "Need attention"  # r=3, f=3
    assert [got[f"u{i}"]["r_score"] for i in range(10)] == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]


def test_cart_abandonment_rate_counts_carting_sessions_without_a_purchase(ws):
    got = built(
        ws,
        ev("u", "2024-03-01 10:00", "cart", session_id="s1"),
        ev("u", "2024-03-01 10:05", "purchase", session_id="s1", revenue=9.0),
        ev("u", "2024-03-02 10:00", "cart", session_id="s2"),
        ev("u", "2024-03-03 10:00", "cart", session_id="s3"),
        ev("u", "2024-03-03 10:01", "cart", session_id="s3"),
        ev("u", "2024-03-04 10:00", "view", session_id="s4"),
        ev("browser", "2024-03-04 10:00", "view", session_id="b1"),
    )
    assert got["u"]["cart_adds"] == 4
    assert got["u"]["cart_abandonment_rate"] == pytest.approx(2 / 3)
    assert clean(got["browser"]["cart_abandonment_rate"]) is None


def test_cart_without_purchase_in_the_last_seven_days(ws):
    got = built(
        ws,
        ev("abandoned", "2024-03-20 10:00", "purchase", revenue=5.0),
        ev("abandoned", "2024-03-28 10:00", "cart"),
        ev("bought", "2024-03-28 10:00", "cart"),
        ev("bought", "2024-03-28 10:05", "purchase", revenue=5.0),
        ev("too_old", "2024-03-10 10:00", "cart"),
        ev("recarted", "2024-03-25 10:00", "cart"),
        ev("recarted", "2024-03-26 10:00", "purchase", revenue=5.0),
        ev("recarted", "2024-03-29 10:00", "cart"),
    )
    flags = {user: got[user]["cart_no_purchase_7d"] for user in got}
    assert flags == {"abandoned": 1, "bought": 0, "too_old": 0, "recarted": 1}


def test_device_share_main_device_hour_band_and_weekday(ws):
    got = built(
        ws,
        # phone: three night events on Monday 4 March, one Tuesday evening; 3 of 4 on mobile.
        ev("phone", "2024-03-04 02:00", device="mobile", channel="email", country="DE"),
        ev("phone", "2024-03-04 03:00", device="mobile", channel="email", country="DE"),
        ev("phone", "2024-03-04 04:00", device="desktop", channel="email", country="DE"),
        ev("phone", "2024-03-05 20:00", device="mobile", channel="ads", country="FR"),
        # desk: one mobile, two desktop and one unknown device.
        ev("desk", "2024-03-06 09:00", device="mobile"),
        ev("desk", "2024-03-06 10:00", device="desktop"),
        ev("desk", "2024-03-06 11:00", device="desktop"),
        ev("desk", "2024-03-06 12:00"),
    )
    phone, desk = got["phone"], got["desk"]
    assert (phone["main_device"], phone["mobile_share"]) == ("mobile", 0.75)
    assert (desk["main_device"], desk["mobile_share"]) == ("desktop", pytest.approx(1 / 3))
    assert (phone["preferred_hour_band"], desk["preferred_hour_band"]) == ("night", "morning")
    assert (phone["preferred_weekday"], desk["preferred_weekday"]) == ("Mon", "Wed")
    assert (phone["main_channel"], phone["country"]) == ("email", "DE")


def test_night_band_wins_when_most_events_are_at_night(ws):
    got = built(ws, ev("owl", "2024-03-04 00:30"), ev("owl", "2024-03-04 05:59"),
                ev("owl", "2024-03-04 18:00"))
    assert got["owl"]["preferred_hour_band"] == "night"


def test_brand_concentration_is_the_herfindahl_index(ws):
    got = built(
        ws,
        *(ev("even", f"2024-03-01 10:0{i}", brand=b) for i, b in enumerate("AABB")),
        *(ev("loyal", f"2024-03-01 10:0{i}", brand=b) for i, b in enumerate("AAAB")),
        ev("loyal", "2024-03-01 11:00"),  # no brand: not counted
        ev("unbranded", "2024-03-01 10:00"),
    )
    assert got["even"]["brand_concentration"] == 0.5
    assert got["loyal"]["brand_concentration"] == 0.75 ** 2 + 0.25 ** 2
    assert clean(got["unbranded"]["brand_concentration"]) is None


def test_offline_share_and_omnichannel_with_an_offline_purchase(ws, write):
    online = ("user_id,event_time,event_type,price,quantity\n"
              "both,2024-03-01 10:00:00,purchase,15,2\n"
              "web,2024-03-02 10:00:00,purchase,8,1\n"
              "looker,2024-03-02 11:00:00,view,8,\n")
    store = "customer_id,purchase_date,sku,qty,amount\nboth,2024-03-05,s1,1,10\n"
    ingest_file(ws, write("web.csv", online))
    ingest_file(ws, write("pos.csv", store), source="offline")
    build_profiles(ws)
    both, web, looker = lookup(ws, "both"), lookup(ws, "web"), lookup(ws, "looker")
    assert both is not None and web is not None and looker is not None
    assert (both["offline_purchases"], both["offline_share"], both["omnichannel"]) == (1, 0.25, 1)
    assert (web["offline_purchases"], web["offline_share"], web["omnichannel"]) == (0, 0.0, 0)
    assert looker["offline_share"] is None and looker["omnichannel"] == 0


def test_windows_count_the_last_days_beside_lifetime_values(ws):
    got = built(
        ws,
        ev("u", "2024-01-15 10:00", "purchase", revenue=100.0),
        ev("u", "2024-03-10 10:00", "purchase", revenue=20.0),
        ev("u", "2024-03-10 10:05", "refund", revenue=-5.0),
        ev("u", "2024-03-25 10:00", "view"),
        ev("u", "2024-03-29 10:00", "view"),
        ev("u", "2024-03-30 12:00", "search"),  # exactly at as_of: counts
    )
    u = got["u"]
    assert (u["events"], u["events_30d"], u["events_7d"], u["views_7d"]) == (6, 5, 3, 2)
    assert (u["purchases_30d"], u["revenue_30d"], u["monetary"]) == (1, 15.0, 115.0)


def test_sessions_days_prices_and_categories(ws):
    got = built(
        ws,
        ev("u", "2024-03-01 10:00", "view", session_id="s1", category="shoes", price=10.0),
        ev("u", "2024-03-01 10:30", "view", session_id="s1", category="shoes", price=30.0),
        ev("u", "2024-03-01 10:40", "purchase", session_id="s1", category="shoes", price=10.0,
           revenue=10.0),
        ev("u", "2024-03-03 09:00", "wishlist", session_id="s2", category="hats"),
        ev("u", "2024-03-03 09:00", "search", session_id="s2"),
        ev("u", "2024-03-03 09:01", "search", session_id="s2"),
    )
    u = got["u"]
    assert (u["sessions"], u["active_days"], u["days_since_last_event"]) == (2, 2, 27)
    assert (u["events_per_session"], u["views_per_session"]) == (3.0, 1.0)
    assert u["avg_session_minutes"] == (40 + 1) / 2
    assert (u["wishlist_adds"], u["searches"]) == (1, 2)
    assert (u["top_category"], u["top_category_share"], u["category_count"]) == ("shoes", 0.75, 2)
    assert json.loads(u["category_shares"]) == {"shoes": 0.75, "hats": 0.25}
    assert (u["avg_price_viewed"], u["avg_price_bought"], u["price_sensitivity"]) == (20.0, 10.0, 1.0)


def test_high_value_category_visits_follow_the_quantile(ws):
    prices = {"a": 10.0, "b": 20.0, "c": 30.0, "d": 100.0}  # 0.75 quantile 47.5, median 25
    rows = [ev("catalogue", "2024-03-01 10:00", "view", category=c, price=p)
            for c, p in prices.items()]
    rows += [ev("u", f"2024-03-02 10:0{i}", "view", category=c) for i, c in enumerate("ddca")]
    got = built(ws, *rows)
    assert got["u"]["high_value_category_visits"] == 2
    build_profiles(ws, as_of=AS_OF, high_value_quantile=0.5)
    assert lookup(ws, "u")["high_value_category_visits"] == 3  # type: ignore[index]


def test_as_of_excludes_later_events_and_defaults_to_the_last_event(ws):
    insert(ws, ev("early", "2024-03-01 10:00", "purchase", revenue=5.0),
           ev("early", "2024-03-20 10:00", "purchase", revenue=7.0),
           ev("late", "2024-03-21 10:00"))
    summary = build_profiles(ws, as_of=datetime(2024, 3, 10, 13, 0, tzinfo=timezone(timedelta(hours=2))))
    assert (summary.users, summary.as_of) == (1, datetime(2024, 3, 10, 11, 0))
    early = lookup(ws, "early")
    assert early is not None and (early["monetary"], early["recency_days"]) == (5.0, 9)
    assert lookup(ws, "late") is None
    summary = build_profiles(ws)
    assert (summary.users, summary.as_of) == (2, datetime(2024, 3, 21, 10, 0))
    assert summary.features == [f.name for f in FEATURES]


def test_lookup_binds_the_id_and_rebuilding_replaces_the_table(ws):
    insert(ws, ev("u1", "2024-03-01 10:00"), ev("u2", "2024-03-02 10:00"))
    build_profiles(ws)
    build_profiles(ws)
    frame = load_profiles(ws)
    assert frame["user_id"].tolist() == ["u1", "u2"]
    assert lookup(ws, "nobody") is None
    assert lookup(ws, "x' OR '1'='1") is None
    assert len(load_profiles(ws)) == 2


def test_columns_are_user_id_the_features_and_as_of(ws):
    frame = pd.DataFrame(built(ws, ev("u", "2024-03-01 10:00")).values())
    assert list(frame.columns) == ["user_id", *(f.name for f in FEATURES), "as_of"]
    assert {f.group for f in FEATURES} == {"rfm", "engagement", "intent", "context", "affinity",
                                            "channel", "dynamic", "feedback", "crm"}
    assert all(f.help and f.kind in ("numeric", "categorical", "timestamp", "json") for f in FEATURES)


def test_the_docstring_grid_is_the_grid_the_sql_uses():
    doc = (profiles_module.__doc__ or "").splitlines()
    for r_score, row in zip(range(5, 0, -1), RFM_GRID, strict=True):
        line = next(x for x in doc if x.startswith(f"{r_score}  "))
        assert re.split(r"\s{2,}", line.strip())[1:] == list(row), line


def test_crm_attributes_come_from_the_latest_users_file(ws, write):
    ingest_file(ws, write("ev.csv", "user_id,event_time,event_type\nc1,2024-03-01 10:00:00,view\n"
                                    "c2,2024-03-01 10:00:00,view\n"))
    ingest_file(ws, write("crm1.csv", "customer_id,tier\nc1,silver\n"), kind="users")
    ingest_file(ws, write("crm2.csv", "customer_id,tier\nc1,gold\n"), kind="users")
    build_profiles(ws)
    c1, c2 = lookup(ws, "c1"), lookup(ws, "c2")
    assert c1 is not None and json.loads(c1["crm_attributes"])["tier"] == "gold"
    assert c2 is not None and c2["crm_attributes"] is None


def test_events_naming_only_their_item_count_under_the_catalogue_category(ws, write):
    # RetailRocket's events have no category; its item_properties give each item's
    ingest_file(ws, write("events.csv", "user_id,event_time,event_type,item_id,category,price\n"
                                        "u,2024-03-01 10:00:00,view,i1,,100\n"
                                        "u,2024-03-01 10:01:00,view,i1,,100\n"
                                        "u,2024-03-01 10:02:00,view,i2,,10\n"
                                        "u,2024-03-01 10:03:00,view,i3,bags,10\n"
                                        "v,2024-03-01 11:00:00,view,i9,,5\n"))
    ingest_file(ws, write("old.csv", "item_id,category\ni1,hats\ni2,hats\n"), kind="items")
    ingest_file(ws, write("new.csv", "item_id,category\ni1,shoes\ni3,belts\n"), kind="items")
    build_profiles(ws)
    u, v = lookup(ws, "u"), lookup(ws, "v")
    assert u is not None and v is not None
    # i1 from the newest file, i2 from the older one; i3's own category wins over the catalogue's
    assert json.loads(u["category_shares"]) == {"shoes": 0.5, "hats": 0.25, "bags": 0.25}
    assert (u["top_category"], u["category_count"]) == ("shoes", 3)
    assert u["high_value_category_visits"] == 2  # shoes, viewed at 100, is the premium category
    assert v["category_shares"] is None and v["category_count"] == 0  # i9 is not catalogued


def test_errors_say_what_to_do(ws):
    with pytest.raises(NotFoundError, match="no events"):
        build_profiles(ws)
    with pytest.raises(NotFoundError, match="not been built"):
        load_profiles(ws)
    with pytest.raises(NotFoundError, match="not been built"):
        lookup(ws, "u")
    insert(ws, ev("u", "2024-03-01 10:00"))
    with pytest.raises(ConfigError, match="between 0 and 1"):
        build_profiles(ws, high_value_quantile=1.5)


@needs_shared
@pytest.mark.realdata
def test_complete_journey_households(ws):
    truth = pd.read_csv(COMPLETEJOURNEY / "transactions_sample.csv")
    ingest_file(ws, COMPLETEJOURNEY / "transactions_sample.csv", source="offline")
    ingest_file(ws, COMPLETEJOURNEY / "demographics.csv", kind="users")
    summary = build_profiles(ws)
    frame = load_profiles(ws)
    assert summary.users == len(frame) == frame["user_id"].nunique() == 2_377
    assert frame["monetary"].sum() == pytest.approx(truth["sales_value"].sum())
    assert frame["crm_attributes"].notna().sum() > 0
    assert (frame["offline_share"].dropna() == 1.0).all()
    assert set(frame["rfm_segment"]) <= {s for row in RFM_GRID for s in row}


def test_incremental_refresh_equals_a_full_rebuild(demo_ws):
    from datetime import timedelta

    from analytics.profiles import refresh_profiles

    with demo_ws.cursor() as cur:
        end = cur.execute("SELECT max(event_time) FROM events").fetchall()[0][0]
        start = end - timedelta(days=3)
        changed = [r[0] for r in cur.execute(
            "SELECT DISTINCT user_id FROM events WHERE event_time > ?", [start]).fetchall()]
    build_profiles(demo_ws, as_of=start)
    summary = refresh_profiles(demo_ws, changed, as_of=end)
    refreshed = load_profiles(demo_ws).set_index("user_id")
    build_profiles(demo_ws, as_of=end)
    full = load_profiles(demo_ws).set_index("user_id")

    assert summary.recomputed == len(changed)  # window-only changes are recounted, not rebuilt
    assert summary.previous_as_of == start and summary.as_of == end
    assert list(refreshed.columns) == list(full.columns)
    refreshed = refreshed.loc[full.index]
    for column in full.columns:
        a, b = refreshed[column], full[column]
        same = (a.isna() & b.isna()) | (a == b).fillna(False).astype(bool)
        if pd.api.types.is_float_dtype(b):
            same |= ((a - b).abs() < 1e-9).fillna(False).astype(bool)
        assert same.all(), (column, a[~same].head(3).tolist(), b[~same].head(3).tolist())


# explicit feedback and unknown spend ---------------------------------------------------

def test_ratings_given_mean_and_high_share_by_hand(ws):
    got = built(
        ws,
        # ann rates 5, 4 and 2 (two high of three on the 1-5 scale: >= 4); a view has no rating.
        ev("ann", "2024-03-01 10:00", "rate", item_id="i1", rating=5.0),
        ev("ann", "2024-03-02 10:00", "rate", item_id="i2", rating=4.0),
        ev("ann", "2024-03-03 10:00", "rate", item_id="i3", rating=2.0),
        ev("ann", "2024-03-03 10:05", "view", item_id="i3"),
        ev("ben", "2024-03-04 10:00", "rate", item_id="i1", rating=3.5),
        ev("cid", "2024-03-04 10:00", "view", item_id="i1"),
    )
    ann, ben, cid = got["ann"], got["ben"], got["cid"]
    assert (ann["ratings_given"], ann["mean_rating"]) == (3, pytest.approx(11 / 3))
    assert ann["high_rating_share"] == pytest.approx(2 / 3)
    assert (ben["ratings_given"], ben["mean_rating"], ben["high_rating_share"]) == (1, 3.5, 0.0)
    assert cid["ratings_given"] == 0
    assert clean(cid["mean_rating"]) is None and clean(cid["high_rating_share"]) is None


def test_high_ratings_on_a_ten_point_scale_are_eight_and_up(ws):
    got = built(ws, ev("ann", "2024-03-01 10:00", "rate", rating=10.0),
                ev("ann", "2024-03-02 10:00", "rate", rating=7.0),
                ev("ann", "2024-03-03 10:00", "rate", rating=8.0))
    assert got["ann"]["high_rating_share"] == pytest.approx(2 / 3)


def test_purchases_without_amounts_leave_monetary_and_m_score_empty(ws):
    got = built(
        ws,
        # dora's purchases carry no price or amount: spend unknown, not 0.
        ev("dora", "2024-03-01 10:00", "purchase", order_id="d1"),
        ev("dora", "2024-03-20 10:00", "purchase", order_id="d2"),
        ev("eve", "2024-03-21 10:00", "purchase", order_id="e1", revenue=12.0),
        ev("fay", "2024-03-21 10:00", "view"),
    )
    dora, eve, fay = got["dora"], got["eve"], got["fay"]
    assert dora["frequency"] == 2 and clean(dora["monetary"]) is None
    assert clean(dora["m_score"]) is None and clean(dora["avg_order_value"]) is None
    assert dora["r_score"] >= 1 and dora["rfm_segment"] != "Never purchased"  # R and F still known
    assert (eve["monetary"], eve["m_score"]) == (12.0, 1)
    assert fay["monetary"] == 0


def _assert_same_profiles(refreshed: pd.DataFrame, full: pd.DataFrame) -> None:
    """Every column equal (floats to 1e-9: sums in another order), row for row by user id."""
    assert list(refreshed.columns) == list(full.columns)
    refreshed = refreshed.loc[full.index]
    for column in full.columns:
        a, b = refreshed[column], full[column]
        same = (a.isna() & b.isna()) | (a == b).fillna(False).astype(bool)
        if pd.api.types.is_float_dtype(b):
            same |= ((a - b).abs() < 1e-9).fillna(False).astype(bool)
        assert same.all(), (column, a[~same].head(3).tolist(), b[~same].head(3).tolist())


def test_refresh_that_moves_the_premium_categories_equals_a_full_rebuild(demo_ws, write):
    """New views of one cheap category at a huge price make it premium: the views of shoppers
    WITHOUT new events now count as high-value visits, so recomputing only the new shopper
    would be wrong; the refresh must notice and rebuild everyone."""
    from analytics.ingest import ingest_file
    from analytics.profiles import refresh_profiles

    with demo_ws.cursor() as cur:
        end = cur.execute("SELECT max(event_time) FROM events").fetchall()[0][0]
        cheapest = cur.execute("SELECT category FROM events WHERE event_type = 'view' AND price "
                               "IS NOT NULL GROUP BY category ORDER BY avg(price) LIMIT 1"
                               ).fetchall()[0][0]
    build_profiles(demo_ws, as_of=end)
    before = load_profiles(demo_ws).set_index("user_id")
    rows = "".join(f"whale,{end:%Y-%m-%d} 00:00:{i:02d},view,i-gold,{cheapest},1000000\n"
                   for i in range(50))
    ingest_file(demo_ws, write("whale.csv", "user_id,event_time,event_type,item_id,category,"
                                            "price\n" + rows))
    summary = refresh_profiles(demo_ws, ["whale"], as_of=end)
    refreshed = load_profiles(demo_ws).set_index("user_id")
    build_profiles(demo_ws, as_of=end)
    full = load_profiles(demo_ws).set_index("user_id")

    moved = full["high_value_category_visits"].drop("whale") - before["high_value_category_visits"]
    assert (moved > 0).sum() > 10  # the planted change reaches shoppers with no new events
    assert summary.recomputed == len(full)
    _assert_same_profiles(refreshed, full)


def test_refresh_counts_new_events_under_the_catalogue_category_and_equals_a_rebuild(ws, write):
    ingest_file(ws, write("ev.csv", "user_id,event_time,event_type,item_id\n"
                                    "p1,2024-03-01 10:00:00,view,i1\np2,2024-03-02 10:00:00,view,i2\n"))
    ingest_file(ws, write("items.csv", "item_id,category\ni1,shoes\ni2,hats\n"), kind="items")
    build_profiles(ws)
    ingest_file(ws, write("new.csv", "user_id,event_time,event_type,item_id\n"
                                     "p1,2024-03-03 10:00:00,view,i2\n"))
    summary = profiles_module.refresh_profiles(ws, ["p1"])
    refreshed = load_profiles(ws).set_index("user_id")
    build_profiles(ws)
    assert summary.recomputed == 1
    assert json.loads(refreshed.loc["p1", "category_shares"]) == {"hats": 0.5, "shoes": 0.5}
    _assert_same_profiles(refreshed, load_profiles(ws).set_index("user_id"))


def test_refresh_resolves_crm_only_for_its_shoppers_and_equals_a_rebuild(ws, write):
    """A refresh ranks only its own shoppers' CRM rows (ids through the identity map).
    p1's CRM rows are keyed by the alias L1 (silver, then gold in a later file), p2's by its
    own id; only p1 has a new event, and both must equal a full rebuild."""
    ingest_file(ws, write("ev.csv", "user_id,event_time,event_type\np1,2024-03-01 10:00:00,view\n"
                                    "p2,2024-03-02 10:00:00,view\n"))
    ingest_file(ws, write("ids.csv", "alias,user_id\nL1,p1\n"), kind="identities")
    ingest_file(ws, write("crm1.csv", "customer_id,tier\nL1,silver\np2,bronze\n"), kind="users")
    ingest_file(ws, write("crm2.csv", "customer_id,tier\nL1,gold\n"), kind="users")
    build_profiles(ws)
    ingest_file(ws, write("new.csv", "user_id,event_time,event_type\np1,2024-03-03 10:00:00,view\n"))
    summary = profiles_module.refresh_profiles(ws, ["p1"])
    refreshed = load_profiles(ws).set_index("user_id")
    build_profiles(ws)
    full = load_profiles(ws).set_index("user_id")

    assert summary.recomputed == 1 and refreshed.loc["p1", "events"] == 2
    assert json.loads(refreshed.loc["p1", "crm_attributes"]) == {"tier": "gold"}
    assert json.loads(refreshed.loc["p2", "crm_attributes"]) == {"tier": "bronze"}
    _assert_same_profiles(refreshed, full)
