"""Home and Data pages driven headless with AppTest."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.app.conftest import no_exceptions

REES46 = (
    "event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session\n"
    "2019-10-01 00:00:00 UTC,view,44600062,2103807459595387724,,shiseido,35.79,541312140,s1\n"
    "2019-10-01 00:01:00 UTC,cart,44600062,2103807459595387724,,shiseido,35.79,541312140,s1\n"
    "2019-10-01 00:02:00 UTC,purchase,44600062,2103807459595387724,,shiseido,35.79,541312140,s1\n"
    "2019-10-01 00:03:00 UTC,view,3900821,2053013552326770905,appliances.kettle,aqua,33.2,5547,s2\n"
    "2019-10-01 00:04:00 UTC,view,bad-row-missing-fields\n"
)


def preview_frame(at: AppTest):  # type: ignore[no-untyped-def]
    """The preview table (not the event-type value map editor above it)."""
    return next(d for d in at.dataframe if not str(d.key or "").endswith(":values"))


def test_home_on_an_empty_workspace_points_to_data_and_the_demo(app: AppTest):
    at = app.run()
    no_exceptions(at)
    assert at.title[0].value == "Shopper Lens"
    assert any("workspace is empty" in i.value for i in at.info)


def test_home_loads_the_demo_shop_and_shows_kpis(app: AppTest):
    at = app.run()
    demo = [b for b in at.button if b.label == "Load the demo shop"]
    assert demo, "the demo bundle should be committed in sample_data/demo"
    demo[0].click().run()
    no_exceptions(at)
    at.run()  # the page reruns itself after loading; AppTest needs the explicit next run
    metrics = {m.label: m.value for m in at.metric}
    assert int(metrics["Shoppers"].replace(",", "")) > 1000
    assert int(metrics["Events"].replace(",", "")) > 10_000


def test_data_page_upload_preview_load_and_quality(app: AppTest):
    at = app.run()
    at.switch_page("pages/data.py").run()
    no_exceptions(at)
    at.file_uploader[0].upload("export.csv", REES46.encode(), "text/csv").run()
    no_exceptions(at)
    assert any("REES46" in s.value for s in at.success), [s.value for s in at.success]
    assert len(preview_frame(at).value) == 4  # the preview: rows as they will be stored
    load = [b for b in at.button if b.label.startswith("Load export.csv")]
    load[0].click().run()
    at.run()  # the page reruns itself after loading
    no_exceptions(at)
    metrics = {m.label: m.value for m in at.metric}
    assert (metrics["Rows read"], metrics["Loaded"], metrics["Rejected"]) == ("5", "4", "1")
    quality = at.tabs[1]
    assert quality.selectbox[0].value.startswith("export.csv")
    assert any("Rejected rows" in m.value for m in at.markdown)
    assert at.download_button, "the rejects download should be offered"


def test_data_page_shows_a_clear_error_for_a_bad_file(app: AppTest):
    at = app.run()
    at.switch_page("pages/data.py").run()
    at.file_uploader[0].upload("junk.csv", bytes(range(256)) * 10, "text/csv").run()
    no_exceptions(at)
    assert any("binary" in e.value for e in at.error)


# value map, header toggle, warnings -----------------------------------------------------
ACTION_CODES = "visitor,when,action,sku,price\n" + "".join(
    f"v{i % 3},2024-01-0{i % 9 + 1} 10:00:00,{(0, 2, 3, 6)[i % 4]},S{i % 5},{(20990000, 1500000)[i % 2]}\n"
    for i in range(24))


def test_data_page_value_map_table_warnings_and_unknown_type_confirm(app: AppTest):
    at = app.run()
    at.switch_page("pages/data.py").run()
    at.file_uploader[0].upload("hits.csv", ACTION_CODES.encode(), "text/csv").run()
    no_exceptions(at)
    editor = next(d for d in at.dataframe if str(d.key or "").endswith(":values"))
    table = dict(zip(editor.value["source value"], editor.value["canonical type"], strict=True))
    assert table == {"0": "view", "2": "view", "3": "cart", "6": "purchase"}
    assert dict(zip(editor.value["source value"], editor.value["rows"], strict=True)) == \
        {"0": 6, "2": 6, "3": 6, "6": 6}
    assert any("micro-units" in w.value for w in at.warning), [w.value for w in at.warning]
    assert "Universal Analytics" in " ".join(m.value for m in at.markdown)
    at.selectbox(key=next(s.key for s in at.selectbox if str(s.key).endswith(":scale"))) \
        .set_value("micro-units (× 0.000001)").run()
    no_exceptions(at)
    assert not any("micro-units" in w.value for w in at.warning)
    assert set(preview_frame(at).value["price"]) == {20.99, 1.5}


def test_data_page_header_toggle(app: AppTest):
    at = app.run()
    at.switch_page("pages/data.py").run()
    rows = "1\t10\t5\t978300760\n1\t11\t3\t978302109\n2\t10\t4\t978301968\n"
    at.file_uploader[0].upload("ratings.tsv", rows.encode(), "text/tab-separated-values").run()
    no_exceptions(at)
    frame = preview_frame(at).value
    assert len(frame) == 3 and set(frame["event_type"]) == {"rate"}
    assert sorted(frame["rating"]) == [3.0, 4.0, 5.0]
    assert any("No header row" in c.value for c in at.caption)
    at.radio(key=next(r.key for r in at.radio if str(r.key).endswith(":header"))).set_value("Yes").run()
    no_exceptions(at)
    assert any("header row may be missing" in e.value for e in at.error), [e.value for e in at.error]


# a file whose times are hours since a test began asks for the start date ----------
TRANSCRIPT = ("person,event,value,time\n"
              "p1,offer received,\"{'offer id': 'o9'}\",0\n"
              "p1,transaction,\"{'amount': 19.89}\",132\n"
              "p2,transaction,\"{'amount': 0.83}\",714\n")


def answered(app: AppTest, name: str, body: str, asked: str, box: str, answer: str) -> AppTest:
    """The Data page after uploading ``body``, which it refuses saying ``asked``, and typing
    ``answer`` into the text box whose key ends with ``box``."""
    at = app.run()
    at.switch_page("pages/data.py").run()
    at.file_uploader[0].upload(name, body.encode(), "text/csv").run()
    no_exceptions(at)
    assert any(asked in e.value for e in at.error), [e.value for e in at.error]
    at.text_input(key=next(t.key for t in at.text_input if str(t.key).endswith(box))) \
        .input(answer).run()
    no_exceptions(at)
    return at


def test_data_page_asks_for_the_start_of_a_test_counted_in_hours(app: AppTest):
    at = answered(app, "transcript.csv", TRANSCRIPT, "hours since the test started", ":origin",
                  "2018-07-01")
    frame = preview_frame(at).value.sort_values("event_time")
    assert [str(t) for t in frame["event_time"]] == ["2018-07-06 12:00:00", "2018-07-30 18:00:00"]
    assert list(frame["revenue"]) == [19.89, 0.83]


# a file of month-and-day dates asks for the year; an in-store export comes in as offline ---
TMALL = ("user_id,item_id,cat_id,seller_id,brand_id,time_stamp,action_type\n"
         "328862,323294,833,2882,2661,0829,0\n"
         "328862,323294,833,2882,2661,1111,2\n")
DUNNHUMBY = ("household_key,BASKET_ID,DAY,PRODUCT_ID,QUANTITY,SALES_VALUE,STORE_ID,RETAIL_DISC,"
             "TRANS_TIME,WEEK_NO,COUPON_DISC,COUPON_MATCH_DISC\n"
             "2375,26984851472,1,1004906,1,1.39,364,-0.6,1631,1,0,0\n"
             "1364,26984896261,2,842930,1,2.19,31742,0,1520,1,0,0\n")


def test_data_page_asks_for_the_year_of_month_day_dates(app: AppTest):
    at = answered(app, "user_log_format1.csv", TMALL, "no year", ":year", "2014")
    frame = preview_frame(at).value.sort_values("event_time")
    assert [str(t) for t in frame["event_time"]] == ["2014-08-29 00:00:00", "2014-11-11 00:00:00"]
    assert list(frame["event_type"]) == ["view", "purchase"]


def test_data_page_takes_dunnhumby_as_offline_and_asks_for_the_date_of_day_1(app: AppTest):
    at = app.run()
    at.switch_page("pages/data.py").run()
    at.file_uploader[0].upload("transaction_data.csv", DUNNHUMBY.encode(), "text/csv").run()
    no_exceptions(at)
    assert at.selectbox(key=next(s.key for s in at.selectbox
                                 if str(s.key).endswith(":source"))).value == "offline"
    origin = next(t for t in at.text_input if str(t.key).endswith(":origin"))
    assert "day 1 of the data" in origin.label
    at.text_input(key=origin.key).input("2020-03-02").run()
    no_exceptions(at)
    frame = preview_frame(at).value.sort_values("event_time")
    assert [str(t) for t in frame["event_time"]] == ["2020-03-02 16:31:00", "2020-03-03 15:20:00"]


# a session log without an event column: refused until every row is given its type ----------
SESSIONS = ("session_id,item_id,date\n"
            "3,9655,2020-12-18 21:25:00.373\n"
            "13,15654,2020-03-13 19:35:27.136\n")


def test_data_page_takes_a_fixed_event_type_for_a_session_log(app: AppTest):
    at = app.run()
    at.switch_page("pages/data.py").run()
    at.file_uploader[0].upload("train_sessions.csv", SESSIONS.encode(), "text/csv").run()
    no_exceptions(at)
    assert any("Fixed value" in e.value for e in at.error), [e.value for e in at.error]
    at.selectbox(key=next(s.key for s in at.selectbox if str(s.key).endswith(":fixfield"))) \
        .set_value("event_type").run()
    at.text_input(key=next(t.key for t in at.text_input if str(t.key).endswith(":fixvalue"))) \
        .input("view").run()
    no_exceptions(at)
    frame = preview_frame(at).value.sort_values("event_time")
    assert list(frame["event_type"]) == ["view", "view"]
    assert list(frame["user_id"]) == list(frame["session_id"]) == ["13", "3"]
