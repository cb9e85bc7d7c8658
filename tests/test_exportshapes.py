"""Issue 11, product-analytics and shop-platform exports: each loads right with no typed mapping,
or is refused with what is wrong and what to do.

Every file is generated here in the documented shape of its export (field names, nesting, time
formats, identity and status quirks); the expected rows, revenue and rejects are hand-counted.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pandas as pd
import pytest

from analytics.cli import main
from analytics.errors import IngestError, MappingError
from analytics.ingest import ingest_file, inspect_file
from analytics.workspace import Workspace
from tests.conftest import accounted, table_counts

T0 = 1704103200  # 2024-01-01 10:00:00 UTC


def ndjson(records: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def events(ws: Workspace) -> pd.DataFrame:
    with ws.cursor() as cur:
        return cur.execute("SELECT * FROM events ORDER BY event_time, event_type").df()



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
    assert report.preset == "mixpanel" and accounted(report)
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
    assert report.preset == "amplitude" and accounted(report)
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
    # The fix the note gives: the same file as identities joins the device to the login.
    note = next(n for n in report.notes if "keyed by their device_id" in n)
    assert "--kind identities --map alias=device_id --map user_id=user_id" in note
    ingest_file(ws, write("amplitude.json", ndjson(amplitude())), kind="identities",
                mapping={"alias": "device_id", "user_id": "user_id"})
    assert set(events(ws)["user_id"]) == {"cust-9"}


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
    assert report.preset == "woocommerce_lines" and accounted(report)
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
    assert report.preset == "woocommerce_orders" and accounted(report)
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


# --- experiment files of public uplift data sets ----------------------------------------------

def criteo_like(n: int = 200) -> str:
    """Criteo uplift columns: 12 anonymous features, treatment, conversion, visit, exposure (only
    a treated user can be exposed), no user id; the treated convert more."""
    lines = [",".join([f"f{i}" for i in range(12)] + ["treatment", "conversion", "visit",
                                                      "exposure"])]
    for r in range(n):
        treated = r % 2
        exposed = treated and r % 4 == 1
        converted = int(r % 10 == 0 or (treated and r % 10 == 3))
        lines.append(",".join([f"{(r * (i + 3)) % 17 / 3:.4f}" for i in range(12)]
                              + [str(treated), str(converted), str(max(converted, r % 3 == 0)),
                                 str(int(exposed))]))
    return "\n".join(lines) + "\n"


def test_criteo_results_file_is_refused_as_events_and_analysed_as_a_results_file(ws, write):
    from analytics.experiments import describe_columns, guess_columns, prepare, read_results

    path = write("criteo-uplift.csv", criteo_like())
    before = table_counts(ws)
    with pytest.raises(MappingError, match="results file of an uplift test .*no customer id") as e:
        ingest_file(ws, path)
    assert "uplift --file criteo-uplift.csv --treatment treatment --outcome conversion" in \
        e.value.hint and table_counts(ws) == before
    frame = read_results(ws, path)
    guess = guess_columns(describe_columns(frame))
    assert (guess["treatment"], guess["outcome"]) == ("treatment", "conversion")
    data = prepare(frame, guess["treatment"], guess["outcome"])
    # exposure happens after the arm is drawn (only the treated): never a model feature.
    assert "exposure" not in data.features and "visit" not in data.features
    assert set(data.features) == {f"f{i}" for i in range(12)}
    assert (data.treatment_label, data.control_label) == ("1", "0")


def test_x5_retailhero_train_file_points_to_file_mode_with_its_id(ws, write):
    from analytics.experiments import describe_columns, guess_columns, prepare, read_results

    rows = "".join(f"{c:06x}ab,{c % 2},{int(c % 3 == 0)}\n" for c in range(60))
    path = write("uplift_train.csv", "client_id,treatment_flg,target\n" + rows)
    with pytest.raises(MappingError, match=r"one row per customer \(client_id\)") as e:
        ingest_file(ws, path)
    assert "--treatment treatment_flg --outcome target --id client_id" in e.value.hint
    frame = read_results(ws, path)
    guess = guess_columns(describe_columns(frame))
    assert guess == {"treatment": "treatment_flg", "outcome": "target", "id": "client_id"}
    data = prepare(frame, "treatment_flg", "target", id_column="client_id")
    assert data.frame["treatment"].sum() == 30 and data.frame["outcome"].sum() == 20


TRANSCRIPT = (
    "person,event,value,time\n"
    "78afa995795e4d85,offer received,\"{'offer id': '9b98b8c7a33c4b65'}\",0\n"
    "78afa995795e4d85,offer viewed,\"{'offer id': '9b98b8c7a33c4b65'}\",6\n"
    "78afa995795e4d85,transaction,\"{'amount': 19.89}\",132\n"
    "78afa995795e4d85,offer completed,\"{'offer_id': '9b98b8c7a33c4b65', 'reward': 5}\",132\n"
    "fe8264108d5b4f19,transaction,\"{'amount': 0.83}\",714\n")


def test_starbucks_transcript_relative_hours_are_refused_never_1970(ws, write):

    with pytest.raises(IngestError, match=r"`time` counts hours since the test started \(values "
                                          r"0 to 714\).*January 1970") as e:
        ingest_file(ws, write("transcript.csv", TRANSCRIPT))
    assert "--set time_origin=YYYY-MM-DD" in e.value.hint and table_counts(ws)["events"] == 0
    with pytest.raises(IngestError, match="time_origin '1 July' is not a date"):
        ingest_file(ws, write("transcript2.csv", TRANSCRIPT), constants={"time_origin": "1 July"})
    assert table_counts(ws)["events"] == 0


@pytest.mark.parametrize("as_json", [False, True])
def test_starbucks_transcript_with_its_start_date_loads_transactions(ws, write, as_json):
    if as_json:  # the original transcript.json: value is an object, not dict text
        records = [{"person": "78afa995795e4d85", "event": "offer received",
                    "value": {"offer id": "9b98b8c7a33c4b65"}, "time": 0},
                   {"person": "78afa995795e4d85", "event": "transaction",
                    "value": {"amount": 19.89}, "time": 132},
                   {"person": "78afa995795e4d85", "event": "offer completed",
                    "value": {"offer_id": "9b98b8c7a33c4b65", "reward": 5}, "time": 132},
                   {"person": "fe8264108d5b4f19", "event": "transaction",
                    "value": {"amount": 0.83}, "time": 714}]
        path, read = write("transcript.json", ndjson(records)), 4
    else:
        path, read = write("transcript.csv", TRANSCRIPT), 5
    report = ingest_file(ws, path, constants={"time_origin": "2018-07-01"})
    assert report.preset == "starbucks_transcript" and accounted(report)
    assert (report.rows_read, report.rows_loaded, report.rows_rejected) == (read, 2, read - 2)
    frame = events(ws)
    assert list(frame["event_time"]) == [datetime(2018, 7, 6, 12), datetime(2018, 7, 30, 18)]
    assert list(frame["revenue"]) == pytest.approx([19.89, 0.83])
    assert set(frame["event_type"]) == {"purchase"} and report.warnings == []


def test_mixpanel_identify_events_load_again_as_the_identity_map(ws, write):
    rows = [{"event": "Page View", "properties": {"time": T0, "distinct_id": "anon-1",
                                                  "$insert_id": "a1"}},
            {"event": "$identify", "properties": {"time": T0 + 100, "distinct_id": "u1",
                                                  "$insert_id": "a2", "$anon_distinct_id": "anon-1",
                                                  "$identified_id": "u1"}},
            {"event": "Purchase", "properties": {"time": T0 + 200, "distinct_id": "u1",
                                                 "$insert_id": "a3", "revenue": 5}}]
    path = write("mixpanel.ndjson", ndjson(rows))
    assert ingest_file(ws, path).rows_loaded == 2
    ids = ingest_file(ws, path, kind="identities",
                      mapping={"alias": "properties.$anon_distinct_id",
                               "user_id": "properties.$identified_id"})
    assert (ids.rows_loaded, ids.rows_rejected) == (1, 2) and accounted(ids)
    assert list(events(ws)["user_id"]) == ["u1", "u1"]  # the anonymous page view joins u1
