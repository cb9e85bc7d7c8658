"""Issue 11, product-analytics and shop-platform exports: each loads right with no typed mapping,
or is refused with what is wrong and what to do.

Every file is generated here in the documented shape of its export (field names, nesting, time
formats, identity and status quirks); the expected rows, revenue and rejects are hand-counted.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from analytics.cli import main
from analytics.ingest import ingest_file, inspect_file
from analytics.workspace import Workspace

T0 = 1704103200  # 2024-01-01 10:00:00 UTC


@pytest.fixture
def write(tmp_path: Path):  # type: ignore[no-untyped-def]
    def _write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path
    return _write


def ndjson(records: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def events(ws: Workspace) -> pd.DataFrame:
    with ws.cursor() as cur:
        return cur.execute("SELECT * FROM events ORDER BY event_time, event_type").df()


def balanced(report) -> bool:  # type: ignore[no-untyped-def]
    return report.rows_read == report.rows_loaded + report.rows_rejected + report.duplicates_skipped


# --- Mixpanel raw export ----------------------------------------------------------------------

def mixpanel(unit: int = 1) -> list[dict[str, Any]]:
    """A visit of u1 (page view, cart, order, an identify call), the order re-sent once, and a
    custom event; ``unit`` 1000 writes time in milliseconds as newer exports do."""
    def ev(name: str, dt: int, insert: str, **props: Any) -> dict[str, Any]:
        return {"event": name, "properties": {"time": (T0 + dt) * unit, "distinct_id": "u1",
                                              "$insert_id": insert, "$device_id": "d-1",
                                              "mp_country_code": "DE", "$os": "Windows",
                                              "$browser": "Chrome", **props}}
    order = ev("Order Completed", 120, "i3", order_id="o1", revenue=19.0)
    return [
        ev("$mp_web_page_view", 0, "i1", **{"$current_url": "https://shop.example/p/1"}),
        ev("Added to Cart", 60, "i2", product_id="p1", price=9.5, quantity=2),
        order, order,
        ev("$identify", 130, "i4"),
        ev("Order Completed", 120, "i5", order_id="o1", revenue=19.0),  # another insert id: kept
    ]


@pytest.mark.parametrize("unit", [1, 1000])
def test_mixpanel_export_loads_with_types_times_revenue_and_resent_copies_rejected(ws, write,
                                                                                   unit):
    report = ingest_file(ws, write("mixpanel.ndjson", ndjson(mixpanel(unit))))
    assert report.preset == "mixpanel" and balanced(report)
    assert (report.rows_read, report.rows_loaded, report.rows_rejected) == (6, 4, 2)
    assert report.reject_reasons == {
        "repeats the event, distinct_id, time, $insert_id of an earlier row: a re-sent copy "
        "(the analytics tool counts it once)": 1,
        "event_type '…' is not loaded: the event-type value map skips it": 1}
    assert report.warnings == []
    frame = events(ws)
    assert list(frame["event_type"]) == ["view", "cart", "purchase", "purchase"]
    assert frame["event_time"].iloc[0] == datetime(2024, 1, 1, 10, 0)
    assert set(frame["user_id"]) == {"u1"} and set(frame["country"]) == {"DE"}
    assert list(frame["item_id"])[1] == "p1" and frame["revenue"].sum() == pytest.approx(38.0)
    assert any("Unix epoch " + ("seconds" if unit == 1 else "milliseconds") in n
               for n in report.notes)


def test_mixpanel_custom_events_meet_the_unknown_type_gate(ws, write):
    rows = mixpanel()[:2] + [{"event": "Signed Up", "properties": {"time": T0 + 9,
                                                                    "distinct_id": "u2"}}]
    with pytest.raises(Exception, match=r"'signed up' \(1\).*--event-map") as refused:
        ingest_file(ws, write("mp.ndjson", ndjson(rows)))
    assert "Nothing was changed" in refused.value.hint
    report = ingest_file(ws, write("mp.ndjson", ndjson(rows)), event_map={"Signed Up": "skip"})
    assert (report.rows_loaded, report.rows_rejected) == (2, 1)


# --- Amplitude export -------------------------------------------------------------------------

def amplitude() -> list[dict[str, Any]]:
    """An anonymous visit (user_id null) that logs in for the purchase, the purchase exported
    twice (same uuid), and a session_start outside any session (session_id -1)."""
    session = (T0 * 1000)
    def ev(name: str, when: str, uuid: str, user: str | None, props: dict[str, Any],
           session_id: int = session) -> dict[str, Any]:
        return {"event_type": name, "user_id": user, "device_id": "dev-1", "amplitude_id": 101,
                "event_time": when, "session_id": session_id, "uuid": uuid,
                "event_properties": props, "user_properties": {"plan": "free"},
                "platform": "Web", "country": "France", "device_type": "Windows"}
    buy = ev("Purchase", "2024-01-01 10:05:00.500000", "e3", "cust-9",
             {"$productId": "p1", "$price": 5.0, "$quantity": 2, "$revenue": 10.0,
              "order_id": "o1"})
    return [ev("Product Viewed", "2024-01-01 10:00:00.123456", "e1", None,
               {"product_id": "p1", "price": 5.0}),
            ev("Add to Cart", "2024-01-01 10:01:00.000000", "e2", None,
               {"product_id": "p1", "price": 5.0, "quantity": 2}),
            buy, buy,
            ev("session_start", "2024-01-02 08:00:00.000000", "e4", "cust-9", {}, -1)]


def test_amplitude_export_keys_anonymous_rows_by_device_and_reads_revenue_properties(ws, write):
    report = ingest_file(ws, write("amplitude.json", ndjson(amplitude())))
    assert report.preset == "amplitude" and balanced(report)
    assert (report.rows_read, report.rows_loaded, report.rows_rejected) == (5, 3, 2)
    assert any("2 of 5 rows have no user_id and are keyed by their device_id" in n
               for n in report.notes)
    frame = events(ws)
    assert list(frame["user_id"]) == ["dev-1", "dev-1", "cust-9"]
    assert list(frame["event_type"]) == ["view", "cart", "purchase"]
    assert frame["event_time"].iloc[0] == datetime(2024, 1, 1, 10, 0, 0, 123456)
    assert list(frame["item_id"]) == ["p1"] * 3  # product_id on views, $productId on revenue
    assert frame["revenue"].sum() == pytest.approx(10.0)
    assert set(frame["session_id"]) == {f"dev-1:{T0 * 1000}"}
    assert "repeats the uuid of an earlier row: a re-sent copy (the analytics tool counts it " \
           "once)" in report.reject_reasons


# --- WooCommerce orders export ----------------------------------------------------------------

WOO_HEAD = ("Order Number,Order Status,Order Date,Customer User ID,Billing Email,Billing Country,"
            "Order Total,Item Name,SKU,Quantity,Item Cost\n")
WOO_LINES = WOO_HEAD + (
    "1001,wc-completed,2024-03-01 09:15:00,7,Cy@Example.com,DE,34.00,Hat,HAT-1,1,14.00\n"
    "1001,wc-completed,2024-03-01 09:15:00,7,Cy@Example.com,DE,34.00,Socks,SOCK-2,2,10.00\n"
    "1002,processing,2024-03-02 18:00:00,0,di@example.com,FR,42.00,Bag,,1,42.00\n"
    "1003,cancelled,2024-03-03 08:00:00,7,cy@example.com,DE,14.00,Hat,HAT-1,1,14.00\n"
    "1004,wc-refunded,2024-03-04 08:00:00,0,di@example.com,FR,42.00,Bag,,1,42.00\n"
    "1005,failed,2024-03-05 08:00:00,12,,FR,5.00,Pin,PIN-1,1,5.00\n")


def test_woocommerce_line_items_statuses_and_hashed_email_ids(ws, write):
    report = ingest_file(ws, write("orders.csv", WOO_LINES))
    assert report.preset == "woocommerce_lines" and balanced(report)
    # 1003 cancelled and 1005 failed are no sale: rejected with the reason, counted.
    assert (report.rows_read, report.rows_loaded, report.rows_rejected) == (6, 4, 2)
    assert report.reject_reasons == {
        "event_type '…' is not loaded: the event-type value map skips it": 2}
    frame = events(ws)
    assert list(frame["event_type"]) == ["purchase", "purchase", "purchase", "refund"]
    assert list(frame["item_id"]) == ["HAT-1", "SOCK-2", "Bag", "Bag"]  # no SKU: the item name
    by_user = frame.groupby("user_id")["revenue"].sum().sort_values()
    assert list(by_user) == pytest.approx([0.0, 34.0])  # di: 42 bought, 42 refunded; Cy: 14 + 2 x 10
    # Cy@Example.com and cy@example.com are one shopper, and no e-mail is stored in clear.
    assert frame["user_id"].nunique() == 2 and not frame["user_id"].str.contains("@").any()
    assert any("Billing Email" in n and "hash" in n for n in report.notes)


def test_woocommerce_order_rows_use_the_order_total_and_guest_ids_fall_back(ws, write):
    text = ("Order Number,Order Status,Order Date,Customer User ID,Billing Email,Order Total\n"
            "2001,completed,2024-04-01 10:00,0,ann@example.com,25.50\n"
            "2002,completed,2024-04-02 10:00,31,,12.00\n"
            "2003,on-hold,2024-04-03 10:00,0,,9.00\n")
    report = ingest_file(ws, write("orders.csv", text))
    assert report.preset == "woocommerce_orders" and balanced(report)
    assert (report.rows_loaded, report.rows_rejected) == (2, 1)
    frame = events(ws)
    assert list(frame["revenue"]) == pytest.approx([25.5, 12.0])
    assert frame["user_id"].iloc[1] == "31"  # no e-mail: the registered customer's id


# --- one CLI check ----------------------------------------------------------------------------

def test_cli_load_json_reports_the_preset_rejects_and_notes(tmp_path, capsys):
    path = tmp_path / "export.ndjson"
    path.write_text(ndjson(amplitude()))
    code = main(["ingest", str(path), "--db", str(tmp_path / "w.duckdb"), "--json"])
    assert code == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    file = result["files"][0]
    assert (file["preset"], file["rows_read"], file["rows_loaded"], file["rows_rejected"]) == \
        ("amplitude", 5, 3, 2)
    assert file["warnings"] == [] and result["events_total"] == 3


def test_inspection_names_the_vocabulary_of_the_export(ws, write):
    found = inspect_file(ws, write("mixpanel.ndjson", ndjson(mixpanel())))
    assert found.preset == "mixpanel"
    assert found.vocabulary == "Mixpanel / Amplitude / Segment event names"
    assert found.mapping.value_map["$identify"] == "skip"
