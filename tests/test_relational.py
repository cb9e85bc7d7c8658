"""Relational exports: recognition, detected keys, joined events keyed by the person, accounting."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from analytics.errors import DuplicateDatasetError
from analytics.ingest import ingest_file
from analytics.ingest.relational import (
    RelationalError,
    detect_keys,
    load_relational,
    recognise,
    recognise_sets,
)
from analytics.workspace import Workspace
from tests.conftest import table_fingerprint
from tests.relational_data import (
    OLIST_EXPECTED,
    OLIST_FILES,
    SHOPIFY_EXPECTED,
    SHOPIFY_FILE,
    WOO_EXPECTED,
    WOO_FILE,
    write_olist,
)


def _revenue(ws: Workspace) -> dict[str, float]:
    with ws.cursor() as cur:
        rows = cur.execute("SELECT user_id, round(sum(revenue), 2) FROM events GROUP BY 1").fetchall()
    return {str(u): float(r) for u, r in rows}


def _load_olist(ws: Workspace, folder: Path):  # type: ignore[no-untyped-def]
    recognition = recognise(ws, write_olist(folder))
    assert recognition is not None
    return load_relational(ws, recognition)


def test_olist_set_is_recognised_with_its_keys_measured(ws, tmp_path):
    recognition = recognise(ws, write_olist(tmp_path / "in"))
    assert recognition is not None and recognition.shape.name == "olist"
    assert set(recognition.files) == {"order_items", "orders", "customers", "products",
                                      "category_translation"}
    keys = {(k.child, k.parent, k.column): (k.matched, k.child_values)
            for k in detect_keys(ws, recognition) if k.expected}
    assert keys == {("order_items", "orders", "order_id"): (4, 5),  # o9 has no header
                    ("orders", "customers", "customer_id"): (3, 3),
                    ("order_items", "products", "product_id"): (3, 3),
                    ("products", "category_translation", "product_category_name"): (2, 3)}


def test_olist_events_are_keyed_by_the_person_with_every_unit_and_exact_accounting(ws, tmp_path):
    report = _load_olist(ws, tmp_path / "in")
    got = {(f.name, f.kind): (f.rows_read, f.rows_loaded, f.rows_rejected, f.duplicates_skipped)
           for f in report.files}
    assert got == OLIST_EXPECTED["files"]
    assert all(f.rows_read == f.rows_loaded + f.rows_rejected + f.duplicates_skipped
               for f in report.files)
    revenue = _revenue(ws)
    assert revenue == pytest.approx(OLIST_EXPECTED["revenue"])  # two units of pA both count
    with ws.cursor() as cur:
        orders = dict(cur.execute("SELECT user_id, count(DISTINCT order_id) FROM events "
                                  "GROUP BY 1").fetchall())
        unit = cur.execute("SELECT quantity, revenue, category, source_user_id FROM events "
                           "WHERE order_id = 'o1' AND item_id = 'pA'").fetchall()
        reasons = [r[0] for r in cur.execute("SELECT reason FROM rejects ORDER BY record").fetchall()]
        users = [r[0] for r in cur.execute("SELECT user_id FROM users ORDER BY 1").fetchall()]
    assert orders == OLIST_EXPECTED["orders"]  # P1's two orders under c1 and c2
    assert unit == [(2.0, pytest.approx(59.8), "bed_bath_table", "c1")]
    assert reasons == ["order status 'canceled' is not a purchase (only delivered, shipped, "
                       "invoiced, approved, processing are)",
                       "order 'o9' is not in olist_orders_dataset.csv"]
    assert users == ["P1", "P2"]


def test_the_source_timezone_applies_to_every_file_of_the_set(ws, tmp_path):
    recognition = recognise(ws, write_olist(tmp_path / "in"))
    assert recognition is not None
    load_relational(ws, recognition, timezone="America/Sao_Paulo")  # UTC-3 in early October 2017
    with ws.cursor() as cur:
        (when,) = cur.execute("SELECT DISTINCT strftime(event_time, '%Y-%m-%d %H:%M:%S') "
                              "FROM events WHERE order_id = 'o1'").fetchall()[0]
    assert when == "2017-10-02 13:56:33"


def test_rejected_lines_keep_their_line_numbers_and_units_are_counted_as_lines(ws, tmp_path):
    folder = tmp_path / "in"
    write_olist(folder)
    lines = OLIST_FILES["olist_order_items_dataset.csv"].splitlines()
    (folder / "olist_order_items_dataset.csv").write_text(
        "\n".join([lines[0], lines[-1], *lines[1:-1]]) + "\n")  # o9's line first
    (folder / "olist_orders_dataset.csv").write_text(
        OLIST_FILES["olist_orders_dataset.csv"].replace("2017-11-05 09:00:00", "soon"))
    recognition = recognise(ws, sorted(folder.iterdir()))
    assert recognition is not None
    report = load_relational(ws, recognition)
    events = next(f for f in report.files if f.kind == "events")
    assert (events.rows_read, events.rows_loaded, events.rows_rejected,
            events.duplicates_skipped) == (7, 4, 3, 0)
    with ws.cursor() as cur:
        records = cur.execute("SELECT record, reason FROM rejects ORDER BY record").fetchall()
    assert [r for r, _ in records] == [1, 5, 7]  # o9, o2 (no valid time), o4 (canceled)
    assert "is not in" in records[0][1] and "soon" in records[1][1] and "canceled" in records[2][1]


def test_untranslated_category_keeps_the_source_name(ws, tmp_path):
    _load_olist(ws, tmp_path / "in")
    with ws.cursor() as cur:
        items = dict(cur.execute("SELECT item_id, category FROM items").fetchall())
    assert items == {"pA": "bed_bath_table", "pB": "health_beauty", "pC": "informatica_acessorios"}


def test_identity_map_follows_order_to_customer_to_person(ws, tmp_path):
    _load_olist(ws, tmp_path / "in")
    with ws.cursor() as cur:
        mapped = dict(cur.execute("SELECT alias, user_id FROM identity_map").fetchall())
    assert mapped["o1"] == "P1" and mapped["o2"] == "P1" and mapped["c2"] == "P1"
    from analytics.shopper import shopper_view
    aliases = {(a.alias, a.alias_type) for a in shopper_view(ws, "P1").aliases}
    assert aliases == {("c1", "olist customer_id"), ("c2", "olist customer_id"),
                       ("o1", "olist order_id"), ("o2", "olist order_id")}


def test_identity_map_resolves_three_hops_and_survives_a_cycle(ws, write):
    ident = "alias,user_id\no1,c1\nc1,p1\np1,m1\na,b\nb,a\nx,a\n"
    ingest_file(ws, write("ids.csv", ident), kind="identities")
    with ws.cursor() as cur:
        mapped = dict(cur.execute("SELECT alias, user_id FROM identity_map").fetchall())
    assert mapped == {"o1": "m1", "c1": "m1", "p1": "m1",  # 3 hops, 2 hops, 1 hop
                      "a": "a", "b": "a", "x": "a"}  # a cycle resolves to its smallest member


def test_a_file_may_be_loaded_in_a_second_role_but_not_twice_in_one(ws, write):
    path = write("crm.csv", "customer_id,user_id\nk1,u1\nk2,u2\n")
    first = ingest_file(ws, path, kind="identities", mapping={"alias": "customer_id"})
    second = ingest_file(ws, path, kind="users", mapping={"user_id": "user_id"})
    assert (first.rows_loaded, second.rows_loaded) == (2, 2)
    with pytest.raises(DuplicateDatasetError, match="already loaded"):
        ingest_file(ws, path, kind="users", mapping={"user_id": "user_id"})


def test_reloading_the_same_set_is_refused_and_changes_nothing(ws, tmp_path):
    _load_olist(ws, tmp_path / "in")
    before = table_fingerprint(ws)
    with pytest.raises(DuplicateDatasetError):
        _load_olist(ws, tmp_path / "in")
    assert table_fingerprint(ws) == before


def test_missing_customers_file_is_named_and_nothing_changes(ws, tmp_path):
    paths = write_olist(tmp_path / "in", ("olist_orders_dataset.csv",
                                          "olist_order_items_dataset.csv"))
    recognition = recognise(ws, paths)
    assert recognition is not None and recognition.missing == ["customers"]
    before = table_fingerprint(ws)
    with pytest.raises(RelationalError, match=r"no customers file \(columns customer_id, "
                                              r"customer_unique_id\)"):
        load_relational(ws, recognition)
    assert table_fingerprint(ws) == before


def test_a_translation_without_its_products_file_is_named(ws, tmp_path):
    paths = write_olist(tmp_path / "in", ("olist_orders_dataset.csv", "olist_customers_dataset.csv",
                                          "olist_order_items_dataset.csv",
                                          "product_category_name_translation.csv"))
    recognition = recognise(ws, paths)
    assert recognition is not None and recognition.missing == ["products"]
    with pytest.raises(RelationalError, match="no products file"):
        load_relational(ws, recognition)


def test_missing_key_column_names_the_file_and_column(ws, tmp_path):
    folder = tmp_path / "in"
    paths = write_olist(folder, ("olist_orders_dataset.csv", "olist_order_items_dataset.csv"))
    customers = folder / "customers.csv"
    customers.write_text(OLIST_FILES["olist_customers_dataset.csv"].replace(
        "customer_unique_id", "customer_key"))
    recognition = recognise(ws, [*paths, customers])
    assert recognition is not None
    with pytest.raises(RelationalError, match="customers.csv looks like the customers file but "
                                              "has no customer_unique_id column"):
        load_relational(ws, recognition)


def test_files_of_different_exports_are_refused(ws, tmp_path):
    folder = tmp_path / "in"
    paths = write_olist(folder, ("olist_customers_dataset.csv", "olist_order_items_dataset.csv"))
    orders = folder / "orders.csv"
    orders.write_text("order_id,customer_id,order_status,order_purchase_timestamp\n"
                      "x1,c1,delivered,2017-10-02 10:56:33\n")
    recognition = recognise(ws, [*paths, orders])
    assert recognition is not None
    with pytest.raises(RelationalError, match="No order_id of olist_order_items_dataset.csv is in "
                                              "orders.csv"):
        load_relational(ws, recognition)


def test_unrelated_single_files_are_not_a_relational_set(ws, write):
    path = write("ev.csv", "user_id,event_time,event_type\nu1,2024-01-01 10:00:00,view\n")
    assert recognise(ws, [path]) is None
    lines = write("lines.csv", OLIST_FILES["olist_order_items_dataset.csv"])
    assert recognise(ws, [lines]) is None  # one file of a multi-file export: the single-file path


def test_an_unreadable_file_beside_a_set_is_left_to_the_single_file_path(ws, tmp_path):
    paths = write_olist(tmp_path / "in", ("olist_orders_dataset.csv", "olist_customers_dataset.csv",
                                          "olist_order_items_dataset.csv"))
    junk = tmp_path / "in" / "junk.csv"
    junk.write_bytes(bytes(range(256)) * 4)
    recognition = recognise(ws, [*paths, junk])
    assert recognition is not None and not recognition.missing
    assert [f.name for f in recognition.others] == ["junk.csv"]


def test_shopify_lines_inherit_the_order_fields_of_the_first_line(ws, write):
    path = write("orders_export.csv", SHOPIFY_FILE)
    recognition = recognise(ws, [path])
    assert recognition is not None and recognition.shape.name == "shopify"
    report = load_relational(ws, recognition)
    (lines,) = report.files
    assert (lines.rows_read, lines.rows_loaded, lines.rows_rejected,
            lines.duplicates_skipped) == SHOPIFY_EXPECTED["rows"]
    with ws.cursor() as cur:
        rows = cur.execute("SELECT order_id, user_id, revenue, strftime(event_time, '%H:%M') "
                           "FROM events ORDER BY order_id, revenue").fetchall()
    by_order = {}
    for order, user, revenue, time in rows:
        by_order.setdefault(order, []).append((user, revenue, time))
    assert by_order["#1002"][0][0] == by_order["#1002"][1][0]  # the second line has the buyer
    assert [r for _, r, _ in by_order["#1002"]] == [15.0, 20.0]
    assert by_order["#1002"][0][2] == "14:00"  # Paid at, in UTC, also on the second line
    assert "#1003" not in by_order  # voided: rejected with its reason
    totals = sorted(round(sum(r for _, r, _ in v), 2) for v in by_order.values())
    assert totals == [16.0, 20.0, 35.0]
    assert all("@" not in user for user, _, _ in sum(by_order.values(), []))  # e-mail hashed
    assert sorted(_revenue(ws).values()) == sorted(SHOPIFY_EXPECTED["revenue"].values())


def test_woocommerce_lines_keep_every_line_and_skip_unpaid_orders(ws, write):
    recognition = recognise(ws, [write("orders-2024-03.csv", WOO_FILE)])
    assert recognition is not None and recognition.shape.name == "woocommerce"
    (lines,) = load_relational(ws, recognition).files
    assert (lines.rows_read, lines.rows_loaded, lines.rows_rejected,
            lines.duplicates_skipped) == WOO_EXPECTED["rows"]
    with ws.cursor() as cur:
        per_order = dict(cur.execute("SELECT order_id, count(DISTINCT user_id) || ':' || "
                                     "round(sum(revenue), 2) FROM events GROUP BY 1").fetchall())
        reason = cur.execute("SELECT reason FROM rejects").fetchall()
    assert per_order == {"501": "1:34.0", "502": "1:42.0"}  # gift wrap line kept, same buyer
    assert reason == [("order '503' has status 'cancelled': not revenue (only completed, "
                       "processing orders are)",)]
    assert sorted(_revenue(ws).values()) == sorted(WOO_EXPECTED["revenue"].values())


def test_two_shopify_exports_and_an_olist_set_are_three_sets_and_the_rest_loads_alone(
        ws, tmp_path, write):
    january = write("orders_jan.csv", SHOPIFY_FILE)
    february = write("orders_feb.csv", SHOPIFY_FILE.replace("#10", "#20").replace("2024-0", "2025-0"))
    plain = write("ev.csv", "user_id,event_time,event_type\nu1,2024-01-01 10:00:00,view\n")
    olist = write_olist(tmp_path / "in")
    sets, rest = recognise_sets(ws, [january, *olist, plain, february])
    assert [s.shape.name for s in sets] == ["olist", "shopify", "shopify"]
    assert {s.files["orders"].name for s in sets[1:]} == {"orders_jan.csv", "orders_feb.csv"}
    assert rest == [plain]


def test_cli_loads_the_set_with_no_flags_and_reports_shape_keys_and_files(tmp_path):
    paths = write_olist(tmp_path / "in")
    out = subprocess.run([sys.executable, "-m", "analytics", "ingest", *map(str, paths), "--json",
                          "--db", str(tmp_path / "w.duckdb")],
                         capture_output=True, text=True, check=False, timeout=120)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["shape"] == "olist"
    assert {(k["child"], k["column"]) for k in result["keys"] if k["expected"]} == {
        ("order_items", "order_id"), ("orders", "customer_id"), ("order_items", "product_id"),
        ("products", "product_category_name")}
    for f in result["files"]:
        assert f["rows_read"] == f["rows_loaded"] + f["rows_rejected"] + f["duplicates_skipped"]
    assert (result["events_total"], result["users_total"]) == (4, 2)


def test_order_statuses_come_from_one_table():
    """The event-type value map and the relational loaders agree on which statuses are sales."""
    from analytics.ingest import relational, vocab

    suggested, label = vocab.suggest({"created": 3, "delivered": 5, "canceled": 1, "on-hold": 2})
    assert label == "order statuses"
    assert {s: suggested[s] for s in ("created", "delivered", "canceled", "on-hold")} == {
        "created": "skip", "delivered": "purchase", "canceled": "skip", "on-hold": "skip"}
    assert relational.OLIST_PURCHASE_STATUSES == ("delivered", "shipped", "invoiced", "approved",
                                                  "processing")
    assert relational.WOO_PURCHASE_STATUSES == ("completed", "processing")
    assert set(relational.SHOPIFY_NOT_REVENUE) == {"pending", "voided", "expired", "refunded"}
    for status in (*vocab.OLIST_STATUSES, *vocab.WOO_STATUSES):  # no status unknown to the table
        assert status in vocab.ORDER_STATUSES, status
