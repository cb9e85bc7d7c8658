"""Shopper 360 view: hand-made tiny shops with known answers, then the demo shop's planted truth."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

from analytics.errors import ConfigError, NotFoundError
from analytics.profiles import build_profiles
from analytics.segments.runs import SegmentSpec, members, run_segmentation
from analytics.shopper import data_version, escape_like, key_metrics, search_users, shopper_view
from analytics.workspace import Workspace
from tests.conftest import demo_truth

COLUMNS = ("user_id", "event_time", "event_type", "item_id", "category", "price", "quantity",
           "revenue", "session_id", "order_id", "device", "channel", "source")


def ev(user: str, time: str, kind: str = "view", **fields: Any) -> dict[str, Any]:
    return {"user_id": user, "event_time": time, "event_type": kind, "source": "online", **fields}


def insert_events(ws: Workspace, *rows: dict[str, Any]) -> None:
    sql = (f"INSERT INTO events ({', '.join(COLUMNS)}, dataset_id) "
           f"VALUES ({', '.join('?' for _ in COLUMNS)}, 'd-events')")
    with ws.cursor() as cur:
        cur.executemany(sql, [[row.get(c) for c in COLUMNS] for row in rows])


def dataset(cur: Any, dataset_id: str, kind: str, loaded_at: str) -> None:
    cur.execute("INSERT INTO datasets (dataset_id, name, kind, sha256, rows_read, rows_loaded, "
                "rows_rejected, duplicates_skipped, loaded_at) VALUES (?, ?, ?, ?, 1, 1, 0, 0, ?)",
                [dataset_id, f"{dataset_id}.csv", kind, dataset_id, loaded_at])


@pytest.fixture
def shop(ws: Workspace) -> Workspace:
    """Alice buys online and in store, has a loyalty card and two CRM records; ids with % and _."""
    insert_events(
        ws,
        ev("alice", "2024-03-01 10:00", "view", item_id="i1", category="home", session_id="a1"),
        ev("alice", "2024-03-01 10:05", "cart", item_id="i1", category="home", session_id="a1"),
        ev("alice", "2024-03-02 18:00", "purchase", item_id="i1", category="home", price=20.0,
           quantity=1.0, revenue=20.0, order_id="o1", source="offline"),
        ev("bob_1", "2024-03-03 09:00"), ev("bob%1", "2024-03-03 09:00"),
        ev("bobx1", "2024-03-03 09:00"), ev("bob11", "2024-03-03 09:00"),
    )
    with ws.cursor() as cur:
        dataset(cur, "d-items", "items", "2024-03-05")
        cur.execute("INSERT INTO items (item_id, title, category, dataset_id) "
                    "VALUES ('i1', 'Blue mug', 'home', 'd-items')")
        dataset(cur, "d-crm-old", "users", "2024-03-05")
        dataset(cur, "d-crm-new", "users", "2024-03-06")
        cur.execute("""INSERT INTO users VALUES ('alice', '{"tier": "silver"}', 'd-crm-old'),
                       ('alice', '{"tier": "gold"}', 'd-crm-new')""")
        dataset(cur, "d-ids", "identities", "2024-03-05")
        cur.execute("INSERT INTO identities VALUES ('card-9', 'alice', 'loyalty', 'd-ids')")
    return ws


def test_the_view_of_a_shopper_by_hand(shop: Workspace):
    view = shopper_view(shop, "alice", recent=2)
    assert view.user_id == view.requested_id == "alice"
    assert (view.events_total, view.offline_events) == (3, 1)
    assert view.event_counts == {"cart": 1, "purchase": 1, "view": 1}
    assert (view.first_seen, view.last_seen) == (datetime(2024, 3, 1, 10), datetime(2024, 3, 2, 18))
    assert view.shopping_channel == "omnichannel (online and in store)"
    assert view.recent_events["event_type"].tolist() == ["purchase", "cart"]  # newest first
    assert view.recent_events["title"].tolist() == ["Blue mug", "Blue mug"]
    assert [(a.alias, a.alias_type) for a in view.aliases] == [("card-9", "loyalty")]
    assert view.crm == {"tier": "gold"}  # the latest CRM file wins
    assert view.profile is None and not view.profiles_built
    assert view.segments == () and view.current_segment is None and view.uplift is None
    assert json.loads(json.dumps(view.as_json()))["recent_events"][0]["event_time"] == \
        "2024-03-02T18:00:00"

    build_profiles(shop)
    view = shopper_view(shop, "alice")
    assert view.profiles_built and view.profile is not None
    card = {m.name: m.value for m in key_metrics(view.profile)}
    assert (card["frequency"], card["monetary"], card["top_category"]) == ("1", "20.00 USD", "home")
    assert card["offline_share"] == "100%" and card["recency_days"] == "1"  # the day before the last event
    assert shopper_view(shop, "bob_1").shopping_channel == "online only"


def test_an_alias_opens_its_shopper(shop: Workspace):
    view = shopper_view(shop, " card-9 ")
    assert (view.user_id, view.requested_id) == ("alice", "card-9")
    assert search_users(shop, "CARD") == ["alice"]


def test_crm_rows_of_a_linked_card_are_merged_and_hashed_values_shortened(shop: Workspace):
    """The loyalty register's row of alice's card adds what the CRM file lacks (her own
    rows win a key they share); a hashed value is never shown whole, other values are."""
    digest = "ab" + "0" * 60 + "cd"
    with shop.cursor() as cur:
        dataset(cur, "d-register", "users", "2024-03-07")  # newest, but an alias's row
        cur.execute("INSERT INTO users VALUES ('card-9', ?, 'd-register')",
                    [json.dumps({"tier": "bronze", "home_store": "S1", "email": digest,
                                 "phone": ""})])
        dataset(cur, "d-ids-hashed", "identities", "2024-03-07")
        cur.execute("INSERT INTO identities VALUES (?, 'alice', 'email', 'd-ids-hashed')",
                    [digest[::-1]])
    view = shopper_view(shop, "alice")
    assert view.crm == {"tier": "gold", "home_store": "S1", "email": "ab…cd (hashed)"}
    assert sorted(a.alias for a in view.aliases) == ["card-9", "dc…ba (hashed)"]
    assert digest not in json.dumps(view.as_json()) and digest[::-1] not in json.dumps(view.as_json())
    # profiles keep the newest CRM row (here the card's); shown, its hash is shortened too
    from analytics.profile_views import profile_sample
    build_profiles(shop)
    shown = shopper_view(shop, "alice").profile
    assert shown is not None and json.loads(shown["crm_attributes"])["email"] == "ab…cd (hashed)"
    sample = profile_sample(shop).frame
    text = sample.loc[sample["user_id"] == "alice", "crm_attributes"].iloc[0]
    assert json.loads(text)["home_store"] == "S1" and digest not in text


def test_an_unknown_id_is_refused_with_look_alike_ids(shop: Workspace, ws: Workspace):
    with pytest.raises(NotFoundError, match="Similar ids: alice") as caught:
        shopper_view(shop, "ALICE")
    assert caught.value.title == "Shopper not found" and "case-sensitive" in caught.value.hint
    with pytest.raises(NotFoundError, match="'nobody'") as caught:
        shopper_view(shop, "nobody")
    assert "Similar ids" not in str(caught.value)
    with pytest.raises(ConfigError):
        shopper_view(shop, "alice", recent=0)


def test_an_empty_workspace_says_there_are_no_shoppers(ws: Workspace):
    with pytest.raises(NotFoundError, match="no shoppers"):
        shopper_view(ws, "u1")
    assert search_users(ws, "u") == []


def test_search_treats_percent_and_underscore_literally(shop: Workspace):
    assert escape_like(r"a%b_c\d") == r"a\%b\_c\\d"
    assert search_users(shop, "bob_1") == ["bob_1"]  # not bobx1 / bob11
    assert search_users(shop, "_") == ["bob_1"]
    assert search_users(shop, "%") == ["bob%1"]
    assert search_users(shop, "B%1") == ["bob%1"]
    # Exact match first, then ids starting with the text, shorter first; limit is bound.
    assert search_users(shop, "bob11") == ["bob11"]
    assert search_users(shop, "b") == ["bob%1", "bob11", "bob_1", "bobx1"]
    assert search_users(shop, "1", limit=2) == ["bob%1", "bob11"]
    assert search_users(shop, "ice") == ["alice"]
    assert search_users(shop, "", limit=2) == ["alice", "bob%1"]  # most events first, then id
    with pytest.raises(ConfigError):
        search_users(shop, "b", limit=0)


def test_segment_history_is_newest_first_and_uplift_is_shown(shop: Workspace):
    with shop.cursor() as cur:
        cur.execute("""INSERT INTO segment_runs (run_id, name, method, created_at) VALUES
                       ('r-old', 'spring', 'kmeans', '2024-03-10'),
                       ('r-new', 'summer', 'gmm', '2024-06-10'),
                       ('r-other', 'others only', 'rules', '2024-07-10')""")
        cur.execute("""INSERT INTO segment_members VALUES
                       ('r-old', 'alice', 0, 'Browsers', NULL), ('r-new', 'alice', 2, 'Buyers', 0.9),
                       ('r-other', 'bob_1', 0, 'Bobs', NULL)""")
        cur.execute("""INSERT INTO segment_history VALUES
                       ('r-new', 'alice', 1, 'Window shoppers', '2024-06-10', '2024-07-01'),
                       ('r-new', 'alice', 2, 'Buyers', '2024-07-01', NULL),
                       ('r-other', 'bob_1', 0, 'Bobs', '2024-07-10', NULL)""")
    with shop.cursor() as cur:
        cur.execute("INSERT INTO uplift_runs (run_id, source, outcome, outcome_kind, treatment, "
                    "control, model, users) VALUES ('u1', 'experiment promo', 'conversion', "
                    "'binary', 'treatment', 'control', 't_learner', 10)")
        cur.execute("INSERT INTO uplift_scores VALUES ('u1', 'alice', 0.08, 0.9)")
    view = shopper_view(shop, "alice")
    assert [s.run_id for s in view.segments] == ["r-new", "r-old"]
    assert view.current_segment is not None
    assert (view.current_segment.segment_name, view.current_segment.probability) == ("Buyers", 0.9)
    history = view.history_frame()
    assert history["segment_name"].tolist() == ["Buyers", "Browsers"]
    assert history.columns[:4].tolist() == ["run_name", "method", "created_at", "segment_name"]
    moves = view.spells_frame()
    assert moves["segment_name"].tolist() == ["Buyers", "Window shoppers"]  # newest first
    assert moves["valid_to"].isna().tolist() == [True, False]  # still a Buyer
    assert view.uplift is not None and view.uplift.uplift == pytest.approx(0.08)
    assert "raise" in view.uplift.meaning and "top 10%" in view.uplift.meaning
    assert json.dumps(view.as_json())


def test_data_version_changes_with_new_events(shop: Workspace):
    before = data_version(shop)
    assert data_version(shop) == before
    insert_events(shop, ev("carol", "2024-03-04 10:00"))
    assert data_version(shop) != before


# --------------------------------------------------------------------------- demo shop


def test_demo_history_shows_a_segmentation_and_aliases_match_the_planted_cards(demo_ws: Workspace):
    truth = demo_truth()
    carded = truth.dropna(subset=["offline_loyalty_id"]).iloc[0]
    user, card = str(carded["user_id"]), str(carded["offline_loyalty_id"])
    view = shopper_view(demo_ws, card)
    assert view.user_id == user and card in [a.alias for a in view.aliases]
    assert view.offline_events > 0 and view.profile is not None and view.segments == ()

    run = run_segmentation(demo_ws, SegmentSpec(k=6))
    view = shopper_view(demo_ws, user)
    assert len(view.segments) == 1 and view.current_segment is not None
    assert view.current_segment.run_id == run.run_id
    member = members(demo_ws, run.run_id).set_index("user_id").loc[user]
    assert view.current_segment.segment_name == member["segment_name"]
    assert view.current_segment.segment_name in run.sizes


def test_cli_prints_the_view_as_json_and_refuses_an_unknown_id(shop: Workspace, capsys):
    from analytics.cli import main

    shop.close()  # one DuckDB connection per file: the CLI opens its own
    assert main(["shopper", "card-9", "--events", "1", "--json", "--db", str(shop.path)]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (out["user_id"], out["requested_id"], out["events_total"]) == ("alice", "card-9", 3)
    assert [e["event_type"] for e in out["recent_events"]] == ["purchase"]
    assert out["crm"] == {"tier": "gold"} and out["current_segment"] is None
    assert main(["shopper", "Alice", "--db", str(shop.path)]) == 2
    assert "Similar ids: alice" in capsys.readouterr().err
