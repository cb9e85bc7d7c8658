"""Ingestion: formats, presets, normalisation, accounting, dedup, atomicity, PII, identities."""

from __future__ import annotations

import gzip
import json

import pandas as pd
import pytest

from analytics.errors import DuplicateDatasetError, IngestError, MappingError
from analytics.ingest import delete_dataset, ingest_file, inspect_file, preview_file
from analytics.workspace import Workspace
from tests.conftest import DATA, accounted, table_counts

CANONICAL = (
    "user_id,event_time,event_type,item_id,price,quantity\n"
    "u1,2024-03-01 10:00:00,view,i1,10,\n"
    "u1,2024-03-01 10:05:00,cart,i1,10,1\n"
    "u1,2024-03-01 10:07:00,purchase,i1,10,2\n"
    "u2,2024-03-02 09:00:00,view,i2,5,\n"
)


def events(ws: Workspace, where: str = "TRUE") -> pd.DataFrame:
    with ws.cursor() as cur:
        return cur.execute(f"SELECT * FROM events WHERE {where} ORDER BY user_id, event_time").df()



@pytest.mark.parametrize("delim", [",", ";", "\t", "|"])
def test_delimited_text_is_read_whatever_the_delimiter(ws, write, delim):
    path = write("ev.txt", CANONICAL.replace(",", delim))
    report = ingest_file(ws, path)
    assert (report.rows_read, report.rows_loaded, report.rows_rejected) == (4, 4, 0)
    assert events(ws)["revenue"].dropna().tolist() == [20.0]


def test_whitespace_separated_text(ws, write):
    text = "user_id event_time event_type item_id\nu1 1709287200 view i1\nu2 1709287300 cart i2 x\n"
    report = ingest_file(ws, write("ws.txt", text))
    assert (report.rows_loaded, report.rows_rejected) == (1, 1)
    assert "whitespace" in report.format


def test_gzip_parquet_json_and_ndjson_give_the_same_rows(ws, write, tmp_path):
    frame = pd.read_csv(write("base.csv", CANONICAL), dtype=str)
    records = frame.where(frame.notna(), None).to_dict(orient="records")
    frame.to_parquet(tmp_path / "ev.parquet")
    write("ev.json", json.dumps(records))
    write("ev.ndjson", "\n".join(json.dumps(r) for r in records) + "\n")
    write("ev.ndjson.gz", gzip.compress("\n".join(json.dumps(r) for r in records).encode()))
    loaded = {}
    for name in ("base.csv", "ev.parquet", "ev.json", "ev.ndjson", "ev.ndjson.gz"):
        with Workspace(tmp_path / f"ws-{name}" / "w.duckdb", allow=[tmp_path]) as one:
            report = ingest_file(one, tmp_path / name)
            loaded[name] = events(one)[["user_id", "event_time", "event_type", "revenue"]]
            assert report.rows_loaded == 4, name
    for name, frame_ in loaded.items():
        pd.testing.assert_frame_equal(frame_, loaded["base.csv"], obj=name)


def test_utf8_bom_and_cp1252_fallback_is_reported(ws):
    report = ingest_file(ws, DATA / "bad" / "not_utf8.csv")
    assert report.rows_loaded == 1
    assert any("cp1252" in n for n in report.notes)
    assert events(ws)["category"].tolist() == ["Café €"]


def test_a_cp1252_file_whose_last_byte_is_an_accent_is_read_as_cp1252(ws, tmp_path):
    """A whole small file ending in cp1252's é (0xE9, which starts a 3-byte UTF-8 character)
    is not a UTF-8 sample cut short: it was once read as UTF-8 and failed in DuckDB."""
    path = tmp_path / "short.csv"
    path.write_bytes("user_id,event_time,event_type,category\nu1,2024-01-01,view,Caf\xe9".encode("cp1252"))
    report = ingest_file(ws, path)
    assert report.rows_loaded == 1 and any("cp1252" in n for n in report.notes)
    assert events(ws)["category"].tolist() == ["Café"]


def test_timestamp_formats_epochs_offsets_and_timezones(ws, write):
    text = ("user_id,t,event_type\n"
            "a,2024-01-01T10:00:00+02:00,view\nb,2024-01-01 10:00:00Z,view\n")
    ingest_file(ws, write("tz.csv", text), mapping={"event_time": "t"})
    assert [str(t) for t in events(ws)["event_time"]] == ["2024-01-01 08:00:00",
                                                           "2024-01-01 10:00:00"]
    ms = "visitor,ts,event\nv,1433221332117,view\n"
    ingest_file(ws, write("ms.csv", ms), mapping={"user_id": "visitor", "event_time": "ts",
                                                 "event_type": "event"})
    assert str(events(ws, "user_id = 'v'")["event_time"][0]) == "2015-06-02 05:02:12.117000"
    local = "user_id,event_time,event_type\nl,2024-07-01 12:00:00,view\n"
    ingest_file(ws, write("local.csv", local), timezone="Europe/Berlin")
    assert str(events(ws, "user_id = 'l'")["event_time"][0]) == "2024-07-01 10:00:00"


def test_ambiguous_day_month_order_is_reported_and_can_be_overridden(ws, write):
    text = "user_id,event_time,event_type\nu,03/04/2024 10:00,view\nv,05/06/2024 11:00,view\n"
    report = ingest_file(ws, write("amb.csv", text))
    assert any("ambiguous" in n for n in report.notes)
    assert events(ws)["event_time"][0].month == 3
    text2 = text.replace("u,", "x,").replace("v,", "y,")
    ingest_file(ws, write("amb2.csv", text2), day_first=True)
    assert events(ws, "user_id = 'x'")["event_time"][0].month == 4


def test_rees46_retailrocket_and_online_retail_are_mapped_without_typing(ws, write):
    rees = ("event_time,event_type,product_id,category_id,category_code,brand,price,user_id,"
            "user_session\n2019-10-01 00:00:00 UTC,view,44600062,2103807459595387724,,shiseido,"
            "35.79,541312140,72d76fde-8bb3-4e00-8c23-a032dfed738c\n2019-10-01 00:01:00 UTC,purchase,"
            "3900821,2053013552326770905,appliances.environment.water_heater,aqua,33.20,554748717,"
            "9333dfbd-b87a-4708-9857-6336556b0fcc\n")
    rocket = ("timestamp,visitorid,event,itemid,transactionid\n1433221332117,257597,view,355908,\n"
              "1433224214164,992329,addtocart,248676,\n1433224214999,992329,transaction,248676,4000\n")
    uci = ("InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
           "536365,85123A,WHITE HANGING HEART,6,12/1/2010 8:26,2.55,17850,United Kingdom\n"
           "C536379,D,Discount,-1,12/1/2010 9:41,27.5,14527,United Kingdom\n"
           "536414,22139,,56,12/1/2010 11:52,0,NA,United Kingdom\n")
    expected = {"rees.csv": "rees46", "rocket.csv": "retailrocket", "uci.csv": "online_retail"}
    for name, text in (("rees.csv", rees), ("rocket.csv", rocket), ("uci.csv", uci)):
        assert inspect_file(ws, write(name, text)).preset == expected[name]
        assert accounted(ingest_file(ws, write(name, text)))
    rows = events(ws)
    assert set(rows["event_type"]) == {"view", "purchase", "cart", "refund"}
    refund = rows[rows["event_type"] == "refund"].iloc[0]
    assert (refund["quantity"], refund["revenue"]) == (-1.0, -27.5)
    assert rows.loc[rows["user_id"] == "554748717", "category"].item() == \
        "appliances.environment.water_heater"
    with ws.cursor() as cur:
        reasons = [r[0] for r in cur.execute("SELECT reason FROM rejects").fetchall()]
    assert reasons == ["user_id is empty"]  # the UCI guest row with CustomerID NA


def test_ga4_segment_and_shopify_presets(ws, write):
    ga4 = ("event_date,event_timestamp,event_name,user_pseudo_id,ga_session_id,device.category,"
           "geo.country,item_id,price\n20240101,1704103200000000,view_item,p1,77,mobile,DE,sku1,9\n"
           "20240101,1704103260000000,add_to_cart,p1,77,mobile,DE,sku1,9\n")
    segment = [{"type": "track", "event": "Product Viewed", "anonymousId": "anon1",
                "userId": None, "timestamp": "2024-01-01T10:00:00.000Z",
                "properties": {"product_id": "p9", "price": 12.5, "category": "shoes"}},
               {"type": "track", "event": "Order Completed", "anonymousId": "anon1",
                "userId": "cust1", "timestamp": "2024-01-01T10:05:00.000Z",
                "properties": {"order_id": "o1", "revenue": 25.0}}]
    shopify = ("Name,Email,Financial Status,Created at,Lineitem quantity,Lineitem name,"
               "Lineitem price,Lineitem sku,Billing Country\n#1001,ann@example.com,paid,"
               "2024-01-15 10:23:45 -0500,2,Mug,8.00,MUG-1,US\n")
    for name, text, preset in (("ga4.csv", ga4, "ga4"),
                               ("seg.json", json.dumps(segment), "segment"),
                               ("shop.csv", shopify, "shopify_orders")):
        assert inspect_file(ws, write(name, text)).preset == preset
        assert ingest_file(ws, write(name, text)).rows_loaded > 0
    rows = events(ws)
    ga = rows[rows["source_user_id"] == "p1"]
    assert ga["session_id"].tolist() == ["p1:77", "p1:77"]
    assert ga["event_type"].tolist() == ["view", "cart"]
    seg = rows[rows["item_id"].eq("p9") | rows["order_id"].eq("o1")]
    assert seg["event_type"].tolist() == ["purchase", "view"] or \
        sorted(seg["event_type"]) == ["purchase", "view"]
    shop = rows[rows["order_id"] == "#1001"].iloc[0]
    assert str(shop["event_time"]) == "2024-01-15 15:23:45"
    assert shop["revenue"] == 16.0 and "@" not in shop["user_id"]


def test_unknown_format_gets_a_suggested_mapping(ws, write):
    text = "Customer Id,Purchase Date,SKU,Qty,Amount\nc1,2024-02-01,s1,2,10\n"
    inspection = inspect_file(ws, write("x.csv", text))
    assert inspection.preset is None
    assert inspection.mapping.columns == {"user_id": "Customer Id", "event_time": "Purchase Date",
                                          "item_id": "SKU", "quantity": "Qty", "revenue": "Amount"}
    report = ingest_file(ws, write("x.csv", text), source="offline")
    assert report.rows_loaded == 1
    row = events(ws).iloc[0]
    assert (row["event_type"], row["price"], row["source"]) == ("purchase", 5.0, "offline")


def test_every_row_is_loaded_rejected_or_skipped_and_reasons_are_specific(ws):
    report = ingest_file(ws, DATA / "bad" / "ragged_truncated.csv")
    assert (report.rows_read, report.rows_loaded, report.rows_rejected) == (5, 2, 3)
    assert accounted(report)
    reasons = " | ".join(report.reject_reasons)
    assert "too few fields" in reasons and "too many fields" in reasons
    for name, bad in (("mixed_types.csv", "price 'three' is not a number"),
                      ("bad_timestamps.csv", "event_time 'yesterday' is not a date/time")):
        r = ingest_file(ws, DATA / "bad" / name)
        assert accounted(r) and r.rows_rejected >= 1
        with ws.cursor() as cur:
            got = [x[0] for x in cur.execute("SELECT reason FROM rejects WHERE dataset_id = ?",
                                             [r.dataset_id]).fetchall()]
        assert any(g.startswith(bad) for g in got), got


def test_broken_ndjson_lines_are_rejected_not_lost(ws, write):
    lines = ['{"user_id": "a", "event_time": "2024-01-01 10:00:00", "event_type": "view"}',
             '{"user_id": "b", "event_time": "2024-01-01 11:00:00", "event_ty',
             '{"user_id": "c", "event_time": "2024-01-01 12:00:00", "event_type": "cart"}']
    report = ingest_file(ws, write("e.ndjson", "\n".join(lines) + "\n"))
    assert (report.rows_read, report.rows_loaded, report.rows_rejected) == (3, 2, 1)
    assert "line 2: not a JSON object" in report.reject_reasons


def test_mixed_delimiter_rows_are_rejected_not_lost(ws):
    report = ingest_file(ws, DATA / "bad" / "mixed_delimiter.csv")
    assert (report.rows_loaded, report.rows_rejected) == (2, 1) and accounted(report)


@pytest.mark.parametrize("name, words", [
    ("empty.csv", "empty"),
    ("header_only.csv", "no data rows"),
    ("binary.csv", "binary"),
    ("wrong_delimiter.csv", "delimiter"),
    ("all_timestamps_unparseable.csv", "not dates"),
    ("required_missing.csv", "required field"),
    ("case_collision.csv", "upper/lower case"),
    ("corrupt.csv.gz", "gzip"),
    ("not_records.json", "NDJSON"),
    ("scalar_array.json", "json"),
])
def test_bad_files_are_refused_with_a_specific_message_and_change_nothing(ws, write, name, words):
    ingest_file(ws, write("good.csv", CANONICAL))
    before = table_counts(ws)
    with pytest.raises(IngestError) as caught:
        ingest_file(ws, DATA / "bad" / name)
    message = str(caught.value)
    assert name in message and words.lower() in message.lower(), message
    assert caught.value.hint
    assert table_counts(ws) == before


def test_a_one_megabyte_field_is_kept(ws, write):
    big = "x" * (1 << 20)
    report = ingest_file(ws, write("big.csv", f"user_id,event_time,event_type,search_query\n"
                                              f"u,2024-01-01 00:00:00,search,{big}\n"))
    assert report.rows_loaded == 1 and len(events(ws)["search_query"][0]) == 1 << 20


def test_upload_over_the_limit_is_refused(ws, monkeypatch):
    monkeypatch.setenv("SHOPPER_LENS_MAX_UPLOAD_MB", "1")
    with pytest.raises(IngestError, match="over the upload limit"):
        ws.save_upload("big.csv", b"x" * (2 << 20))


def test_same_file_twice_is_refused_and_overlapping_exports_are_not_doubled(ws, write):
    ingest_file(ws, write("a.csv", CANONICAL))
    with pytest.raises(DuplicateDatasetError, match="already loaded"):
        ingest_file(ws, write("again.csv", CANONICAL))
    overlap = CANONICAL + "u3,2024-03-03 09:00:00,view,i3,7,\n"
    report = ingest_file(ws, write("b.csv", overlap))
    assert (report.rows_loaded, report.duplicates_skipped) == (1, 4)
    assert len(events(ws)) == 5


def test_failure_midway_rolls_back_everything(ws, write, monkeypatch):
    import analytics.ingest.load as load

    ingest_file(ws, write("a.csv", CANONICAL))
    before = table_counts(ws)

    def explode(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("disk full")
    monkeypatch.setattr(load, "_insert_rejects", explode)
    with pytest.raises(RuntimeError):
        ingest_file(ws, write("b.csv", CANONICAL.replace("u1", "u9")))
    assert table_counts(ws) == before


def test_mapping_override_and_missing_required_field(ws, write):
    text = "who,when,what\nu1,2024-01-01 10:00:00,view\n"
    # no column name fits, but the values do: an id, a time and event names
    filled = inspect_file(ws, write("m0.csv", text), kind="events").mapping.columns
    assert filled == {"user_id": "who", "event_time": "when", "event_type": "what"}
    with pytest.raises(MappingError, match="user_id"):  # a name with spaces is not an id
        ingest_file(ws, write("m.csv", "who,when,what\nAnn Lee,2024-01-01 10:00:00,view\n"),
                    kind="events")
    report = ingest_file(ws, write("m.csv", text),
                         mapping={"user_id": "who", "event_time": "when", "event_type": "what"})
    assert report.rows_loaded == 1
    with pytest.raises(MappingError, match="does not have"):
        ingest_file(ws, write("m2.csv", text), mapping={"user_id": "nope"})


def test_sessions_are_derived_from_30_minute_gaps(ws, write):
    text = ("user_id,event_time,event_type\nu,2024-01-01 10:00:00,view\nu,2024-01-01 10:20:00,view\n"
            "u,2024-01-01 11:00:00,view\nw,2024-01-01 10:10:00,view\n")
    ingest_file(ws, write("s.csv", text))
    assert events(ws)["session_id"].tolist() == ["auto:u:20240101T100000"] * 2 + [
        "auto:u:20240101T110000", "auto:w:20240101T101000"]


def test_pii_is_hashed_before_storage_and_links_identities(ws, write, tmp_path):
    crm = "customer_id,email,phone,first_name,tier\nc1,Ann@Example.com,+44 7700 900123,Ann,gold\n"
    ident = "alias,user_id,alias_type\nann@example.com,web-1,email\nL7,web-1,loyalty\n"
    pos = "loyalty_id,ts,sku,qty,amount\nL7,2024-01-01 10:00:00,s1,1,9.5\nL8,2024-01-01 11:00:00,s2,1,3\n"
    ingest_file(ws, write("crm.csv", crm))
    ingest_file(ws, write("pos.csv", pos), source="offline",
                mapping={"user_id": "loyalty_id", "event_time": "ts"})
    assert sorted(events(ws)["user_id"]) == ["L7", "L8"]
    report = ingest_file(ws, write("ident.csv", ident), kind="identities")
    assert any("e-mail" in n or "email" in n for n in report.notes)
    rows = events(ws)
    assert sorted(rows["user_id"]) == ["L8", "web-1"]  # relinked after the identity map arrived
    with ws.cursor() as cur:
        attrs = json.loads(cur.execute("SELECT attributes FROM users").fetchall()[0][0])
    assert attrs["tier"] == "gold" and "Ann" not in json.dumps(attrs)
    ws.close()
    raw = (tmp_path / "ws" / "shopper_lens.duckdb").read_bytes()
    for secret in (b"Ann@Example.com", b"ann@example.com", b"7700 900123", b"7700900123"):
        assert secret not in raw


def test_delete_dataset_removes_its_rows_and_unlinks_identities(ws, write):
    ingest_file(ws, write("ev.csv", "user_id,event_time,event_type\nL1,2024-01-01 10:00:00,purchase\n"))
    report = ingest_file(ws, write("id.csv", "alias,user_id\nL1,web-9\n"), kind="identities")
    assert events(ws)["user_id"].tolist() == ["web-9"]
    assert delete_dataset(ws, report.dataset_id) == "id.csv"
    assert events(ws)["user_id"].tolist() == ["L1"]
    with pytest.raises(IngestError.__mro__[1]):
        delete_dataset(ws, "nope")


def test_preview_shows_stored_rows_and_writes_nothing(ws, write):
    before = table_counts(ws)
    report, frame = preview_file(ws, write("p.csv", CANONICAL))
    assert len(frame) == 4 and "revenue" in frame.columns and report.rows_loaded == 4
    assert table_counts(ws) == before


def test_items_users_experiments_kinds(ws, write):
    items = "product_id,name,department,brand,price,color\np1,Mug,home,Acme,8.5,red\n"
    r = ingest_file(ws, write("items.csv", items), kind="items")
    assert r.kind == "items" and r.rows_loaded == 1
    exp = "user_id,group,assigned\nu1,treatment,2024-01-01\nu2,control,2024-01-01\n"
    r = ingest_file(ws, write("email_test.csv", exp), kind="experiments",
                    mapping={"assigned_at": "assigned"})
    with ws.cursor() as cur:
        assert cur.execute("SELECT DISTINCT experiment FROM experiments").fetchall() == \
            [("email_test",)]
        item = cur.execute("SELECT item_id, title, category, attributes FROM items").fetchall()[0]
    assert item[:3] == ("p1", "Mug", "home") and json.loads(item[3])["color"] == "red"


def test_a_file_outside_the_allowed_folders_gets_an_accurate_message(tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "ev.csv").write_text(CANONICAL)
    with Workspace(tmp_path / "locked" / "w.duckdb") as locked, \
            pytest.raises(IngestError, match="outside the folders this workspace may read"):
        ingest_file(locked, outside / "ev.csv")
