"""Known-answer tests for the sample-data generator (analytics/sample.py).

One 6000-user data set (generated in three chunks) is shared by the structural tests: the
planted segments, bundles, experiment and loyalty links must be visible in the written
CSVs, read back with pandas exactly as a downstream user would.
"""

from __future__ import annotations

import gzip
import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from analytics.errors import ConfigError
from analytics.sample import (
    CATEGORIES,
    CHANNELS,
    COUNTRIES,
    CUSTOMER_COLUMNS,
    DEVICES,
    EVENT_COLUMNS,
    EVENT_TYPES,
    EXPERIMENT_COLUMNS,
    FILES,
    IDENTITY_COLUMNS,
    ITEM_COLUMNS,
    SEGMENTS,
    TRUTH_USER_COLUMNS,
    generate,
)

END = datetime(2026, 10, 31)
DAYS = 180
N_USERS = 6000
EMAIL = re.compile(r"^[a-z0-9]+(\.[a-z0-9]+)*@[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}$")
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")


class Data:
    """The shared data set, loaded once."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.summary = generate(out, users=N_USERS, seed=11, chunk_users=2500)
        self.truth: dict[str, Any] = json.loads((out / FILES["truth"]).read_text())
        self.events = _read(out / FILES["events"])
        self.pos = _read(out / FILES["pos"])
        self.users = pd.read_csv(out / FILES["truth_users"], keep_default_na=False)
        self.customers = pd.read_csv(out / FILES["customers"], keep_default_na=False)
        self.items = pd.read_csv(out / FILES["items"])
        self.identities = pd.read_csv(out / FILES["identities"])
        self.experiment = pd.read_csv(out / FILES["experiment"], parse_dates=["assigned_at"])
        self.segment_of = self.users.set_index("user_id")["segment"]


def _read(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path, dtype={"search_query": str, "session_id": str, "device": str})
    frame["event_time"] = pd.to_datetime(frame["event_time"], format="%Y-%m-%d %H:%M:%S")
    return frame


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Data:
    return Data(tmp_path_factory.mktemp("sample"))


def _header(path: Path) -> str:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        return f.readline().rstrip("\n")


def _with_segment(data: Data, frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(segment=frame["user_id"].map(data.segment_of))


# --------------------------------------------------------------------------- files


def test_files_exist_with_exact_headers(data: Data) -> None:
    expected = {
        "events": EVENT_COLUMNS, "pos": EVENT_COLUMNS, "identities": IDENTITY_COLUMNS,
        "customers": CUSTOMER_COLUMNS, "items": ITEM_COLUMNS,
        "experiment": EXPERIMENT_COLUMNS, "truth_users": TRUTH_USER_COLUMNS,
    }
    assert set(data.summary.files) == set(FILES)
    for name, columns in expected.items():
        assert _header(data.out / FILES[name]) == ",".join(columns), name
    assert _header(data.out / "events.csv.gz") == (
        "user_id,event_time,event_type,item_id,category,brand,price,quantity,session_id,"
        "order_id,device,channel,country,search_query"
    )
    assert data.summary.events == len(data.events)
    assert data.summary.pos_rows == len(data.pos)
    assert data.truth["counts"]["events"] == len(data.events)


def test_same_arguments_give_identical_bytes(tmp_path: Path) -> None:
    runs = [tmp_path / "a", tmp_path / "b", tmp_path / "c"]
    for run, seed in zip(runs, (3, 3, 4), strict=True):
        generate(run, users=400, seed=seed, chunk_users=150)
    for name in FILES.values():
        assert (runs[0] / name).read_bytes() == (runs[1] / name).read_bytes(), name
    assert (runs[0] / FILES["events"]).read_bytes() != (runs[2] / FILES["events"]).read_bytes()


def test_gzip_headers_carry_no_time_or_name(data: Data) -> None:
    for name in ("events", "pos", "truth_users"):
        header = (data.out / FILES[name]).read_bytes()[:10]
        assert header[:3] == b"\x1f\x8b\x08"
        assert header[3] & 0x08 == 0  # no file name stored
        assert header[4:8] == b"\0\0\0\0"  # mtime 0


def test_end_need_not_be_midnight(tmp_path: Path) -> None:
    end = datetime(2026, 10, 31, 13, 30)
    generate(tmp_path, users=300, end=end)
    events = _read(tmp_path / FILES["events"])
    pos = _read(tmp_path / FILES["pos"])
    start = end - timedelta(days=DAYS)
    for frame in (events, pos):
        assert frame["event_time"].min() >= start and frame["event_time"].max() < end
    exp = pd.read_csv(tmp_path / FILES["experiment"], parse_dates=["assigned_at"])
    assert exp["assigned_at"].min() >= end - timedelta(days=21)
    assert exp["assigned_at"].max() < end - timedelta(days=18)


def test_existing_files_are_overwritten(tmp_path: Path) -> None:
    (tmp_path / FILES["items"]).write_text("stale\n" * 10_000)
    generate(tmp_path, users=50)
    assert _header(tmp_path / FILES["items"]) == ",".join(ITEM_COLUMNS)
    assert "stale" not in (tmp_path / FILES["items"]).read_text()


def test_default_size_is_a_small_demo(tmp_path: Path) -> None:
    summary = generate(tmp_path / "demo")
    total_mb = sum(p.stat().st_size for p in (tmp_path / "demo").iterdir()) / 1e6
    assert summary.users == 3000
    assert 100_000 <= summary.events <= 220_000
    assert 0.5 < total_mb < 8


def test_timezone_aware_end_means_the_same_instant(tmp_path: Path) -> None:
    generate(tmp_path / "naive", users=60, end=END)
    utc_plus_one = timezone(timedelta(hours=1))  # 01:00 at UTC+1 is midnight UTC
    generate(tmp_path / "aware", users=60, end=datetime(2026, 10, 31, 1, tzinfo=utc_plus_one))
    for name in FILES.values():
        assert (tmp_path / "naive" / name).read_bytes() == (tmp_path / "aware" / name).read_bytes()


@pytest.mark.parametrize("kwargs", [{"users": 0}, {"days": 30}, {"chunk_users": 0}, {"seed": -1}])
def test_invalid_arguments_are_refused(tmp_path: Path, kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        generate(tmp_path, **kwargs)


# --------------------------------------------------------------------------- events


def test_event_values_are_canonical(data: Data) -> None:
    ev = data.events
    assert set(ev["event_type"]) == set(EVENT_TYPES)
    assert ev["user_id"].str.fullmatch(r"u\d{6}").all()
    assert ev["session_id"].str.fullmatch(r"s\d+").all()
    assert set(ev["device"]) <= set(DEVICES)
    assert set(ev["channel"]) <= set(CHANNELS)
    assert set(ev["country"]) <= set(COUNTRIES)
    assert set(ev["category"].dropna()) == set(CATEGORIES)
    start = END - timedelta(days=DAYS)
    assert ev["event_time"].min() >= start
    assert ev["event_time"].max() < END
    with gzip.open(data.out / FILES["events"], "rt") as f:
        f.readline()
        stamps = [f.readline().split(",")[1] for _ in range(1000)]
    assert all(TIMESTAMP.match(s) for s in stamps)


def test_purchases_have_order_price_and_quantity(data: Data) -> None:
    buys = data.events[data.events["event_type"] == "purchase"]
    assert len(buys) > 1000
    assert buys["order_id"].str.fullmatch(r"o\d+").all()
    assert (buys["price"] > 0).all()
    assert buys["quantity"].notna().all()
    assert (buys["quantity"] >= 1).all() and (buys["quantity"] % 1 == 0).all()
    assert buys["item_id"].str.fullmatch(r"i\d{4}").all()
    assert buys.groupby("order_id")["user_id"].nunique().max() == 1
    assert buys.groupby("order_id")["session_id"].nunique().max() == 1
    lines = buys.groupby("order_id").size()
    assert (lines > 1).mean() > 0.2  # multi-line orders exist
    prices = data.items.set_index("item_id")["price"]
    assert np.allclose(buys["price"], buys["item_id"].map(prices))


def test_searches_views_and_refunds(data: Data) -> None:
    ev = data.events
    searches = ev[ev["event_type"] == "search"]
    assert searches["search_query"].notna().all() and searches["item_id"].isna().all()
    views = ev[ev["event_type"] == "view"]
    assert views["price"].notna().all() and views["item_id"].notna().all()
    refunds = ev[ev["event_type"] == "refund"]
    assert len(refunds) > 50
    buys = ev[ev["event_type"] == "purchase"]
    matched = refunds.merge(buys, on=["user_id", "order_id", "item_id"], suffixes=("", "_buy"))
    assert len(matched) == len(refunds)  # every refund names a line the same user bought
    assert (matched["event_time_buy"] < matched["event_time"]).all()


def test_sessions_are_bursts_more_than_30_minutes_apart(data: Data) -> None:
    ev = data.events
    assert ev.groupby("session_id")["user_id"].nunique().max() == 1
    bounds = ev.groupby(["user_id", "session_id"])["event_time"].agg(["min", "max"])
    bounds = bounds.sort_values(["user_id", "min"]).reset_index()
    same_user = bounds["user_id"].eq(bounds["user_id"].shift())
    gap = bounds["min"] - bounds["max"].shift()
    assert (gap[same_user] > pd.Timedelta(minutes=30)).all()
    ordered = ev.sort_values(["session_id", "event_time"])
    step = ordered["event_time"].diff()[ordered["session_id"].eq(ordered["session_id"].shift())]
    assert (step < pd.Timedelta(minutes=30)).all()
    length = bounds["max"] - bounds["min"]
    assert (length < pd.Timedelta(minutes=30)).mean() > 0.5


# --------------------------------------------------------------------------- segments


def test_segment_sizes_match_truth(data: Data) -> None:
    counts = data.users["segment"].value_counts()
    assert len(data.users) == N_USERS
    for seg in data.truth["segments"]:
        assert seg["size"] == counts[seg["name"]]
        assert 0.14 <= seg["size"] / N_USERS <= 0.30, seg["name"]
    assert [s["name"] for s in data.truth["segments"]] == [s.name for s in SEGMENTS]


def test_lapsed_are_silent_for_60_days_except_converters(data: Data) -> None:
    ev = _with_segment(data, data.events)
    lapsed = ev[ev["segment"] == "lapsed"]
    late = lapsed[lapsed["event_time"] >= END - timedelta(days=60)]
    assert late["session_id"].nunique() == late["user_id"].nunique()  # one session each
    exp = data.experiment.set_index("user_id")
    assert late["user_id"].isin(exp.index).all()
    late_buys = late[late["event_type"] == "purchase"]
    assert set(late_buys["user_id"]) == set(late["user_id"])
    at = late_buys["user_id"].map(exp["assigned_at"])
    window = (late_buys["event_time"] >= at) & (late_buys["event_time"] < at + timedelta(14))
    assert window.all()
    orders = lapsed.groupby("user_id")["order_id"].nunique()
    assert orders.mean() >= 2 and (orders >= 1).mean() > 0.95  # they used to buy


def _user_stats(ev: pd.DataFrame) -> pd.DataFrame:
    kind = pd.crosstab(ev["user_id"], ev["event_type"])
    stats = pd.DataFrame({
        "orders": ev.groupby("user_id")["order_id"].nunique(),
        "sessions": ev.groupby("user_id")["session_id"].nunique(),
        "mobile": ev.groupby("user_id")["device"].apply(lambda d: (d == "mobile").mean()),
        "last": ev.groupby("user_id")["event_time"].max(),
    })
    return stats.join(kind)


def test_segments_behave_as_planted(data: Data) -> None:
    ev = _with_segment(data, data.events)
    stats = _user_stats(ev).join(data.segment_of)
    by = stats.groupby("segment")
    total = by[["cart", "purchase", "view", "search"]].sum()
    cart_per_buy = total["cart"] / total["purchase"]
    assert cart_per_buy["mobile_cart_abandoners"] >= 10
    assert cart_per_buy["mobile_cart_abandoners"] > 5 * cart_per_buy["loyal_high_value"]
    mobile = by["mobile"].mean()
    assert mobile["mobile_cart_abandoners"] > 0.75 > 0.35 > mobile["loyal_high_value"]
    orders = by["orders"].mean()
    assert orders["loyal_high_value"] > 3 * orders["mobile_cart_abandoners"]
    assert orders.idxmax() == "loyal_high_value"
    assert by["orders"].max()["window_shoppers"] <= 1
    assert (total["search"] / total.sum(axis=1)).idxmax() == "bargain_hunters"
    assert (total["view"] / total.sum(axis=1)).idxmax() == "window_shoppers"
    recent = stats["last"] >= END - timedelta(days=7)
    assert recent[stats["segment"] == "mobile_cart_abandoners"].mean() > 0.95


def test_segment_taste_in_categories_channels_and_price(data: Data) -> None:
    ev = _with_segment(data, data.events)
    share = pd.crosstab(ev["segment"], ev["category"], normalize="index")
    assert share.loc["loyal_high_value", ["electronics", "home"]].sum() > 0.6
    assert share.loc["mobile_cart_abandoners", ["fashion", "beauty"]].sum() > 0.6
    assert share.loc["bargain_hunters", ["sports", "toys", "grocery"]].sum() > 0.6
    assert share.loc["window_shoppers", ["books", "home"]].sum() > 0.6
    channel = pd.crosstab(ev["segment"], ev["channel"], normalize="index")
    assert channel["email"].idxmax() == "loyal_high_value"
    assert channel["social"].idxmax() == "mobile_cart_abandoners"
    assert channel["affiliate"].idxmax() == "bargain_hunters"
    views = ev[ev["event_type"] == "view"]
    catalogue_median = data.items.groupby("category")["price"].median()
    relative = views["price"] / views["category"].map(catalogue_median)
    taste = relative.groupby(views["segment"]).median()
    assert taste.idxmin() == "bargain_hunters" and taste.idxmax() == "loyal_high_value"
    hours = ev.groupby("segment")["event_time"].apply(lambda t: t.dt.hour.mode().iloc[0])
    assert hours.nunique() >= 4  # each segment has its own peak hour


def test_segments_are_separable_by_a_nearest_centroid(data: Data) -> None:
    ev = data.events
    stats = _user_stats(ev)
    recency = (END - stats.pop("last")).dt.days
    category = pd.crosstab(ev["user_id"], ev["category"], normalize="index")
    counts = stats.fillna(0).astype(float).transform(np.log1p)
    features = counts.join(category).assign(recency=recency / 30).fillna(0)
    labels = data.segment_of.reindex(features.index)
    train = np.arange(len(features)) % 2 == 0
    mean, std = features[train].mean(), features[train].std() + 1e-9
    z = (features - mean) / std
    centroids = z[train].groupby(labels[train]).mean()
    distance = ((z[~train].to_numpy()[:, None, :] - centroids.to_numpy()[None]) ** 2).sum(-1)
    predicted = centroids.index.to_numpy()[distance.argmin(axis=1)]
    assert (predicted == labels[~train].to_numpy()).mean() > 0.9


# --------------------------------------------------------------------------- bundles


def test_bundles_drive_co_purchase(data: Data) -> None:
    bundles = data.truth["bundles"]
    assert 35 <= len(bundles) <= 45
    assert all(2 <= len(b) <= 3 for b in bundles)
    assert set(sum(bundles, [])) <= set(data.items["item_id"])
    buys = data.events[data.events["event_type"] == "purchase"]
    buyers = buys.groupby("item_id")["user_id"].apply(set)
    n_users = data.events["user_id"].nunique()
    both = seen = 0
    base = []
    for bundle in bundles:
        for a in bundle:
            for b in bundle:
                bought_a = buyers.get(a, set())
                if a == b or len(bought_a) < 10:
                    continue
                seen += len(bought_a)
                both += len(bought_a & buyers.get(b, set()))
                base.append(len(buyers.get(b, set())) / n_users)
    conditional = both / seen
    assert len(base) > 40
    assert conditional > 0.5
    assert conditional > 10 * float(np.mean(base))


def test_bundles_span_categories(data: Data) -> None:
    category = data.items.set_index("item_id")["category"]
    kinds = [category[b].nunique() > 1 for b in data.truth["bundles"]]
    assert 0.2 < np.mean(kinds) < 0.8  # both within- and cross-category bundles


# --------------------------------------------------------------------------- experiment


def test_experiment_assignment_is_random_and_balanced(data: Data) -> None:
    exp = data.experiment.assign(segment=lambda f: f["user_id"].map(data.segment_of))
    assert set(exp["experiment"]) == {"personalised_email"}
    assert 0.56 < len(exp) / N_USERS < 0.64
    treated = exp["variant"].eq("treatment")
    assert set(exp["variant"]) == {"treatment", "control"}
    assert 0.47 < treated.mean() < 0.53
    by_segment = treated.groupby(exp["segment"]).mean()
    assert by_segment.between(0.42, 0.58).all()
    share = exp["segment"].value_counts(normalize=True)
    overall = data.users["segment"].value_counts(normalize=True)
    assert (share - overall).abs().max() < 0.03
    first = END - timedelta(days=21)
    assert exp["assigned_at"].min() >= first
    assert exp["assigned_at"].max() < first + timedelta(days=3)


def _conversions(data: Data) -> pd.DataFrame:
    exp = data.experiment
    buys = data.events[data.events["event_type"] == "purchase"].merge(exp, on="user_id")
    window = (buys["event_time"] >= buys["assigned_at"]) & (
        buys["event_time"] < buys["assigned_at"] + timedelta(days=14)
    )
    converted = exp["user_id"].isin(buys.loc[window, "user_id"])
    return exp.assign(converted=converted, segment=exp["user_id"].map(data.segment_of))


def test_conversion_rates_realise_the_planted_effects(data: Data) -> None:
    conv = _conversions(data)
    rates = conv.groupby(["segment", "variant"])["converted"].agg(["mean", "size"])
    for seg in data.truth["segments"]:
        for variant, true in (("control", seg["control_rate"]),
                              ("treatment", seg["treatment_rate"])):
            observed, n = rates.loc[(seg["name"], variant)]
            tolerance = max(0.02, 3 * np.sqrt(true * (1 - true) / n))
            assert abs(observed - true) <= tolerance, (seg["name"], variant, observed, true)
    lift = rates["mean"].unstack()["treatment"] - rates["mean"].unstack()["control"]
    assert lift.idxmax() == "mobile_cart_abandoners" and lift.max() > 0.06
    assert abs(lift["window_shoppers"]) < 0.04


def test_truth_ate_and_user_effects_agree(data: Data) -> None:
    effects = {s["name"]: s["effect"] for s in data.truth["segments"]}
    assert (data.users["treatment_effect"] == data.users["segment"].map(effects)).all()
    assigned = data.users["user_id"].isin(data.experiment["user_id"])
    expected = data.users.loc[assigned, "treatment_effect"].mean()
    assert data.truth["experiment"]["true_ate"] == pytest.approx(expected, abs=1e-6)
    conv = _conversions(data)
    rate = conv.groupby("variant")["converted"].mean()
    assert rate["treatment"] - rate["control"] == pytest.approx(expected, abs=0.035)
    assert data.truth["conversion_window_days"] == 14


# --------------------------------------------------------------------------- offline & CRM


def test_pos_rows_are_store_purchases_by_loyalty_id(data: Data) -> None:
    pos = data.pos
    assert len(pos) > 1000
    assert (pos["event_type"] == "purchase").all() and (pos["channel"] == "store").all()
    assert pos["device"].isna().all() and pos["session_id"].isna().all()
    assert pos["search_query"].isna().all()
    assert pos["user_id"].str.fullmatch(r"L\d{5,}").all()
    assert (pos["price"] > 0).all() and (pos["quantity"] >= 1).all()
    assert pos.groupby("order_id")["user_id"].nunique().max() == 1
    assert not set(pos["order_id"]) & set(data.events["order_id"].dropna())


def test_offline_shoppers_by_segment_and_offline_only(data: Data) -> None:
    holders = data.users[data.users["offline_loyalty_id"] != ""]
    assert 0.28 < len(holders) / N_USERS < 0.42
    share = (data.users["offline_loyalty_id"] != "").groupby(data.users["segment"]).mean()
    assert share.idxmax() == "loyal_high_value" and share.max() > 0.55
    assert holders["offline_loyalty_id"].is_unique
    offline_only = set(data.pos["user_id"]) - set(holders["offline_loyalty_id"])
    assert 0.07 < len(offline_only) / N_USERS < 0.13


def test_identities_link_about_70_percent_correctly(data: Data) -> None:
    ids = data.identities
    assert (ids["alias_type"] == "loyalty").all()
    holders = data.users[data.users["offline_loyalty_id"] != ""]
    truth = holders.set_index("offline_loyalty_id")["user_id"]
    assert (ids["user_id"] == ids["alias"].map(truth)).all()  # every link is right
    coverage = len(ids) / len(holders)
    assert 0.63 < coverage < 0.77
    assert data.truth["loyalty"]["link_coverage"] == pytest.approx(coverage, abs=1e-3)
    # Card numbers must not reveal the online id they belong to.
    numbers = ids["alias"].str[1:].astype(int)
    users = ids["user_id"].str[1:].astype(int)
    assert abs(np.corrcoef(numbers, users)[0, 1]) < 0.1


def test_no_store_purchases_inside_experiment_windows(data: Data) -> None:
    holders = data.users[data.users["offline_loyalty_id"] != ""]
    pos = data.pos.merge(holders, left_on="user_id", right_on="offline_loyalty_id",
                         suffixes=("_card", ""))
    pos = pos.merge(data.experiment, on="user_id")
    inside = (pos["event_time"] >= pos["assigned_at"]) & (
        pos["event_time"] < pos["assigned_at"] + timedelta(days=14)
    )
    assert len(pos) > 100 and not inside.any()


def test_customers_look_like_real_crm_records(data: Data) -> None:
    crm = data.customers
    assert 0.76 < len(crm) / N_USERS < 0.84
    assert crm["user_id"].isin(data.users["user_id"]).all() and crm["user_id"].is_unique
    assert crm["email"].map(lambda e: bool(EMAIL.match(e))).all()
    assert crm["email"].is_unique
    assert crm["email"].str.fullmatch(r"[a-z]+\.[a-z]+\d+@example\.(com|org|net)").all()
    assert crm["phone"].str.fullmatch(r"\+\d{1,3}( \d{1,6})+").all()
    assert crm["phone"].str.startswith("+44 7700 900").mean() > 0.3
    assert pd.to_datetime(crm["signup_date"], format="%Y-%m-%d").max() < END
    assert set(crm["loyalty_tier"]) == {"none", "silver", "gold"}
    gold = crm["loyalty_tier"].eq("gold").groupby(crm["user_id"].map(data.segment_of)).mean()
    assert gold.idxmax() == "loyal_high_value" and gold.max() > 0.35
    assert crm["birth_year"].between(1940, 2010).all()


def test_catalogue(data: Data) -> None:
    items = data.items
    assert 200 <= len(items) <= 700 and items["item_id"].is_unique
    assert items["item_id"].str.fullmatch(r"i\d{4}").all()
    assert set(items["category"]) == set(CATEGORIES)
    assert items.groupby("category")["brand"].nunique().eq(5).all()
    assert (items["price"] > 0).all()
    assert all(t.startswith(b + " ") for t, b in zip(items["title"], items["brand"], strict=True))
    median = items.groupby("category")["price"].median()
    assert median["electronics"] > 3 * median["grocery"]
    popularity = data.events.loc[data.events["event_type"] == "view", "item_id"].value_counts()
    assert popularity.iloc[:10].sum() > 5 * popularity.iloc[-10:].sum()  # Zipf-like skew
