"""Issue 11, single files: every shape loads right or says loudly what is wrong.

Each fixture is synthetic and tiny, with row and revenue accounting computed by hand.
"""

from __future__ import annotations

import pandas as pd
import pytest

from analytics.errors import IngestError, MappingError
from analytics.ingest import LoadOptions, ingest_file, inspect_file, preview_file, vocab
from analytics.ingest.readers import header_verdict
from analytics.workspace import Workspace
from tests.conftest import accounted, table_counts


def events(ws: Workspace) -> pd.DataFrame:
    with ws.cursor() as cur:
        return cur.execute("SELECT * FROM events ORDER BY event_time, user_id, item_id").df()



HEAD = "user_id,event_time,event_type,item_id,price,quantity,order_id\n"
MILK = "u1,2024-01-05 10:00:00,purchase,milk,1.20,1,o1\n"
BREAD = "u1,2024-01-05 10:00:00,purchase,bread,2.50,1,o1\n"
EGGS = "u2,2024-01-05 11:00:00,purchase,eggs,3.00,1,o2\n"


def test_identical_lines_are_all_kept_and_earlier_copies_counted_by_multiplicity(ws, write):
    first = ingest_file(ws, write("a.csv", HEAD + MILK * 2 + BREAD))
    assert (first.rows_loaded, first.duplicates_skipped) == (3, 0)
    assert any("1 rows repeat another row" in n for n in first.notes)
    # milk 3 times (2 stored: adds 1), bread once (stored: adds 0), eggs new.
    second = ingest_file(ws, write("b.csv", HEAD + MILK * 3 + BREAD + EGGS))
    assert (second.rows_read, second.rows_loaded, second.duplicates_skipped) == (5, 2, 3)
    assert accounted(first) and accounted(second)
    got = events(ws)
    assert got["item_id"].value_counts().to_dict() == {"milk": 3, "bread": 1, "eggs": 1}
    assert got["revenue"].sum() == pytest.approx(3 * 1.20 + 2.50 + 3.00)


def test_ga360_hits_preset_times_prices_codes_and_sessions(ws, write):
    head = ("fullVisitorId,visitId,visitStartTime,date,time,eCommerceAction_type,productSKU,"
            "v2ProductCategory,productPrice,transactionId,channelGrouping,country\n")
    rows = [  # visit starts 2016-08-01 00:00:00 UTC (1470009600)
        "v1,1470009600,1470009600,20160801,0,2,S1,Bags,20990000,,Organic Search,US",
        "v1,1470009600,1470009600,20160801,61500,3,S1,Bags,20990000,,Organic Search,US",
        "v1,1470009600,1470009600,20160801,120000,6,S1,Bags,20990000,T1,Organic Search,US",
        "v2,1470013200,1470013200,20160801,0,0,S2,Mugs,5000000,,Direct,DE",
        "v2,1470013200,1470013200,20160801,500,7,S2,Mugs,5000000,T0,Direct,DE",
    ]
    report = ingest_file(ws, write("ga_sessions.csv", head + "\n".join(rows) + "\n"))
    assert (report.preset, report.rows_loaded, report.warnings) == ("ga360_hits", 5, [])
    got = events(ws)
    assert got["event_type"].tolist() == ["view", "cart", "purchase", "view", "refund"]
    assert str(got["event_time"][1]) == "2016-08-01 00:01:01.500000"
    assert got["price"].tolist() == pytest.approx([20.99, 20.99, 20.99, 5.0, 5.0])
    assert got["revenue"].sum() == pytest.approx(20.99 - 5.0)
    assert set(got["session_id"]) == {"v1:1470009600", "v2:1470013200"}
    assert got["channel"][0] == "Organic Search" and got["category"][3] == "Mugs"


def test_headerless_whitespace_purchase_log_with_yyyymmdd_dates(ws, write):
    text = ("1001 20240105 2 12.50\n1002 20240106 1 3.99\n1001 20240107 3 7.25\n"
            "1001 20240105 2 12.50\n")
    inspection = inspect_file(ws, write("cdnow.txt", text))
    assert not inspection.format.header and inspection.columns[0] == "column_1"
    assert inspection.mapping.columns == {"user_id": "column_1", "event_time": "column_2",
                                          "quantity": "column_3", "revenue": "column_4"}
    report = ingest_file(ws, write("cdnow.txt", text))
    assert (report.rows_read, report.rows_loaded) == (4, 4)  # the first line is data
    assert any("a purchase log" in n for n in report.notes), report.notes
    assert any("1 rows repeat another row" in n for n in report.notes)
    got = events(ws)
    assert set(got["event_type"]) == {"purchase"}
    assert got["revenue"].sum() == pytest.approx(12.50 * 2 + 3.99 + 7.25)
    assert str(got["event_time"].min()) == "2024-01-05 00:00:00"


@pytest.mark.parametrize("sep", ["::", "\t"])
def test_headerless_ratings_read_as_user_item_rating_timestamp(ws, write, sep):
    rows = [("1", "10", "5", "978300760"), ("1", "11", "3", "978302109"), ("2", "10", "4", "978301968")]
    report = ingest_file(ws, write("ratings.dat", "".join(sep.join(r) + "\n" for r in rows)))
    assert (report.rows_read, report.rows_loaded) == (3, 3)
    got = events(ws).sort_values(["user_id", "item_id"])
    assert set(got["event_type"]) == {"rate"}
    assert got["rating"].tolist() == [5.0, 3.0, 4.0]
    assert got["item_id"].tolist() == ["10", "11", "10"]


def test_movielens_csv_with_a_header_is_a_preset(ws, write):
    text = "userId,movieId,rating,timestamp\n1,31,2.5,1260759144\n1,1029,3.0,1260759179\n"
    report = ingest_file(ws, write("ratings.csv", text))
    assert (report.preset, report.rows_loaded) == ("movielens_ratings", 2)
    assert events(ws)["rating"].tolist() == [2.5, 3.0]


def test_header_option_forces_either_reading(ws, write):
    text = "1\t10\t5\t978300760\n1\t11\t3\t978302109\n"
    with pytest.raises(MappingError, match="header row may be missing"):
        ingest_file(ws, write("r.tsv", text), header="yes")
    with_header = "user_id\tevent_time\tevent_type\nu1\t2024-01-01\tview\n"
    report = ingest_file(ws, write("h.tsv", with_header), header="auto")
    assert report.rows_read == 1
    forced = inspect_file(ws, write("h2.tsv", with_header), header="no")
    assert forced.columns == ["column_1", "column_2", "column_3"]


@pytest.mark.parametrize(("rows", "verdict"), [
    ([["user_id", "ts"], ["1", "2024-01-01"], ["2", "2024-01-02"]], "yes"),
    ([["1", "2024-01-01"], ["2", "2024-01-02"]], "no"),
    ([["name", "city"], ["Ann", "Oslo"]], "yes"),  # "name" is a known field synonym
    ([["Ann", "Oslo"], ["Bob", "Rome"]], "unsure"),
])
def test_header_verdict(rows, verdict):
    assert header_verdict(rows) == verdict


def test_order_statuses_map_by_value_with_canceled_skipped_and_counted(ws, write):
    text = ("customer_id,order_date,status,order_id,amount\n"
            "c1,2024-03-01,delivered,o1,10.00\nc1,2024-03-02,shipped,o2,20.00\n"
            "c2,2024-03-03,canceled,o3,30.00\nc2,2024-03-04,refunded,o4,5.00\n")
    inspection = inspect_file(ws, write("orders.csv", text))
    assert inspection.vocabulary == "order statuses"
    assert inspection.event_values == {"canceled": 1, "delivered": 1, "refunded": 1, "shipped": 1}
    report = ingest_file(ws, write("orders.csv", text))
    assert (report.rows_loaded, report.rows_rejected) == (3, 1) and accounted(report)
    assert "skips it" in next(iter(report.reject_reasons))
    assert events(ws)["revenue"].sum() == pytest.approx(10 + 20 - 5)


def test_event_map_overrides_the_suggestion(ws, write):
    text = ("customer_id,order_date,status,order_id,amount\n"
            "c1,2024-03-01,delivered,o1,10.00\nc2,2024-03-03,canceled,o3,30.00\n")
    report = ingest_file(ws, write("orders.csv", text), event_map={"Canceled": "refund"})
    assert (report.rows_loaded, report.rows_rejected) == (2, 0)
    assert events(ws)["revenue"].sum() == pytest.approx(10 - 30)
    with pytest.raises(MappingError, match="not an event type"):
        ingest_file(ws, write("o2.csv", text), event_map={"canceled": "gone"})


def test_vocabularies_are_recognised_from_values():
    assert vocab.suggest({"0": 5, "2": 3, "6": 1})[1] == vocab.VOCABULARIES[0][1]
    assert vocab.suggest({"session_start": 4, "view_item": 2})[0]["session_start"] == vocab.SKIP
    assert vocab.suggest({"paid": 3, "voided": 1})[1] == "Shopify financial statuses"
    assert vocab.suggest({"view": 3, "purchase": 1}) == ({}, None)  # canonical already


def test_micro_unit_prices_warn_and_price_scale_fixes_them(ws, write):
    text = HEAD + "u1,2024-01-05 10:00:00,purchase,a,20990000,2,o1\n" \
        "u2,2024-01-06 10:00:00,purchase,b,1500000,1,o2\n"
    preview, _ = preview_file(ws, write("m.csv", text))
    assert [w["code"] for w in preview.warnings] == ["micro_unit_prices"]
    assert "price_scale=0.000001" in preview.warnings[0]["hint"]
    report = ingest_file(ws, write("m.csv", text), constants={"price_scale": "0.000001"})
    assert report.warnings == []
    assert events(ws)["revenue"].sum() == pytest.approx(2 * 20.99 + 1.5)
    with pytest.raises(IngestError, match="price_scale 'x' is not a positive number"):
        ingest_file(ws, write("m2.csv", text), constants={"price_scale": "x"})


def test_purchases_without_amounts_warn_and_name_the_amount_column(ws, write):
    text = "household_id,transaction_timestamp,basket_id,dollar_value\n" \
        "h1,2024-01-01 10:00:00,b1,3.50\nh2,2024-01-02 10:00:00,b2,4.25\n"
    report = ingest_file(ws, write("t.csv", text), mapping={"revenue": None})
    (warning,) = report.warnings
    assert warning["code"] == "no_monetary" and "Map `dollar_value`?" in warning["message"]
    assert "--map revenue=dollar_value" in warning["hint"]


def test_strict_refuses_on_any_warning_and_changes_nothing(ws, write):
    text = HEAD + "u1,2024-01-05 10:00:00,purchase,a,20990000,1,o1\n"
    before = table_counts(ws)
    with pytest.raises(IngestError, match=r"refused under --strict: \[micro_unit_prices\]"):
        ingest_file(ws, write("s.csv", text), strict=True)
    assert table_counts(ws) == before


def test_a_1970_epoch_warns_with_the_cause_and_the_column_with_dates(ws, write):
    text = "visitor_id,visitStartTime,time,event_type\n" + "".join(
        f"v{i},{1470009600 + i * 60},{i * 1500},view\n" for i in range(4))
    report = ingest_file(ws, write("e.csv", text))
    (warning,) = report.warnings
    assert warning["code"] == "timestamp_implausible"
    assert "4 of 4 rows" in warning["message"] and "since the visit began" in warning["message"]
    assert "`visitStartTime` (2016)" in warning["hint"]


def test_few_distinct_user_ids_warn(ws, write):
    text = "user_id,event_time,event_type\n" + "".join(
        f"store{i % 2},2024-01-01 {i % 24:02d}:{i % 60:02d}:00,view\n" for i in range(120))
    report = ingest_file(ws, write("f.csv", text))
    assert [w["code"] for w in report.warnings] == ["few_user_ids"]


def test_unknown_event_types_refuse_over_five_percent_unless_allowed(ws, write):
    rows = "".join(f"u{i},2024-01-01 10:00:{i:02d},view\n" for i in range(18))
    text = "user_id,event_time,event_type\n" + rows + "u1,2024-01-02,teleport\nu2,2024-01-02,beam\n"
    before = table_counts(ws)
    with pytest.raises(IngestError, match=r"2 of 20 rows \(10.0%\) have event types"):
        ingest_file(ws, write("u.csv", text))
    assert table_counts(ws) == before
    report = ingest_file(ws, write("u.csv", text), allow_unknown_types=True)
    assert report.rows_loaded == 20 and report.warnings[0]["code"] == "unknown_event_types"
    later = rows.replace("2024-01-01", "2024-02-01")
    small = "user_id,event_time,event_type\n" + later * 2 + "u1,2024-02-03,teleport\n"
    report = ingest_file(ws, write("few.csv", small))  # 1 of 37: warned, loaded
    assert report.rows_loaded == 37 and report.warnings[0]["code"] == "unknown_event_types"


def test_timestamps_order_ids_and_amounts_are_never_users(ws, write):
    text = "customer_id,purchase_dt,order_no,amount\nc1,2024-01-01 10:00:00,o1,9.99\n" \
        "c2,2024-01-02 11:00:00,o2,19.50\n"
    inspection = inspect_file(ws, write("x.csv", text))
    assert inspection.kind == "events"
    assert "timestamps (purchase_dt)" in inspection.preset_reason
    assert "amounts (amount)" in inspection.preset_reason
    report = ingest_file(ws, write("x.csv", text))
    assert report.rows_loaded == 2 and events(ws)["revenue"].sum() == pytest.approx(29.49)


def test_a_catalogue_with_dates_and_prices_stays_items(ws, write):
    text = "sku,title,price,added_on\nS1,Red mug,9.99,2024-01-01\nS2,Blue mug,12.50,2024-02-01\n"
    inspection = inspect_file(ws, write("catalogue.csv", text))
    assert inspection.kind == "items" and "guessed items" in inspection.preset_reason


def test_fixed_value_wins_over_the_column(ws, write):
    text = "user_id,event_time,event_type\nu1,2024-01-01 10:00:00,view\n"
    report = ingest_file(ws, write("p.csv", text), constants={"event_type": "purchase"})
    assert events(ws)["event_type"].tolist() == ["purchase"]
    assert "Event type fixed: every row is a purchase." in report.notes
    assert LoadOptions().header == "auto"


def test_value_table_rows_and_edits_become_an_event_map():
    value_map = vocab.suggest({"delivered": 5, "canceled": 2, "on_hold": 1})[0]
    rows = vocab.value_rows({"delivered": 5, "canceled": 2, "on_hold": 1}, value_map)
    assert [(r["source value"], r["rows"], r["canonical type"]) for r in rows] == [
        ("delivered", 5, "purchase"), ("canceled", 2, "skip"), ("on_hold", 1, vocab.UNKNOWN)]
    rows[1]["canonical type"] = "refund"
    rows[2]["canonical type"] = "skip"
    assert vocab.edited_map(rows, value_map) == {"canceled": "refund", "on_hold": "skip"}


def test_a_ga360_export_loaded_without_its_preset_points_to_it(ws, write):
    text = "fullVisitorId,visitId,visitStartTime,time,eCommerceAction_type\n" + "".join(
        f"v{i},{1470009600 + i},{1470009600 + i},{i * 1000},2\n" for i in range(3))
    report = ingest_file(ws, write("hits.csv", text), preset="none",
                         mapping={"user_id": "fullVisitorId", "event_time": "time",
                                  "event_type": "eCommerceAction_type"})
    (warning,) = report.warnings
    assert "--preset ga360_hits" in warning["hint"] and "`visitStartTime` (2016)" in warning["hint"]
    assert set(events(ws)["event_type"]) == {"view"}  # code 2 by value, even without the preset
