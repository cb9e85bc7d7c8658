"""Quality checks for every kind of file; missing values judged per event type."""

from __future__ import annotations

from analytics.ingest import ingest_file
from analytics.quality import quality_report

EVENTS = ("user_id,event_time,event_type,item_id,price,quantity,order_id,search_query\n"
          "a,2026-01-01 10:00:00,view,i1,,,,\n"
          "a,2026-01-01 10:01:00,view,i2,,,,\n"
          "a,2026-01-01 10:02:00,search,,,,,shoes\n"
          "a,2026-01-01 10:03:00,search,,,,,\n"
          "a,2026-01-01 10:05:00,purchase,i1,5,1,o1,\n"
          "b,2026-01-02 09:00:00,purchase,i1,5,1,,\n")


def test_missing_values_count_only_rows_the_column_applies_to(ws, write):
    report = quality_report(ws, ingest_file(ws, write("e.csv", EVENTS)).dataset_id)
    nulls = report.nulls.set_index("column")
    # order id: missing on 1 of 2 purchases (views and searches have none, which is normal).
    assert (nulls.loc["order_id", "nulls"], nulls.loc["order_id", "rows_checked"]) == (1, 2)
    assert nulls.loc["order_id", "share"] == 0.5
    assert nulls.loc["price", "nulls"] == 0  # prices missing only on views and searches
    assert (nulls.loc["search_query", "nulls"], nulls.loc["search_query", "rows_checked"]) == (1, 2)
    assert (nulls.loc["item_id", "nulls"], nulls.loc["item_id", "rows_checked"]) == (0, 4)
    assert nulls.loc["user_id", "applies_to"] == "every row"
    assert nulls.loc["user_id", "rows_checked"] == 6


def test_items_users_identities_and_experiments_have_checks(ws, write):
    ingest_file(ws, write("e.csv", EVENTS))
    items = ingest_file(ws, write("items.csv", "item_id,title,category,price\n"
                                  "i1,Shoe,shoes,5\ni1,Shoe again,shoes,5\ni9,,hats,0\n"),
                        kind="items")
    checks = quality_report(ws, items.dataset_id).checks.set_index("check")["rows"].to_dict()
    assert checks == {"item id listed twice in this file": 2, "no title": 1, "no category": 0,
                      "zero or negative price": 1, "item never seen in events": 1}
    users = ingest_file(ws, write("crm.csv", "user_id,tier\na,gold\nzed,silver\n"), kind="users")
    checks = quality_report(ws, users.dataset_id).checks.set_index("check")["rows"].to_dict()
    assert checks == {"user id listed twice in this file": 0, "shopper with no events (CRM only)": 1}
    ids = ingest_file(ws, write("ids.csv", "alias,user_id\ncard1,a\ncard1,b\nb,b\n"),
                      kind="identities")
    checks = quality_report(ws, ids.dataset_id).checks.set_index("check")["rows"].to_dict()
    assert checks == {"alias linked to more than one shopper": 2,
                      "alias equal to its own shopper id": 1, "master id with no events": 0}
    exp = ingest_file(ws, write("exp.csv", "user_id,experiment,variant,assigned_at\n"
                                "a,promo,treatment,2026-01-01\na,promo,control,2026-01-01\n"
                                "q,promo,control,\n"), kind="experiments")
    checks = quality_report(ws, exp.dataset_id).checks.set_index("check")["rows"].to_dict()
    assert checks == {"shopper in several arms of one experiment": 2, "no assignment time": 1,
                      "assigned in the future": 0, "shopper with no events": 1}


def test_the_stored_report_is_read_back_until_the_data_changes(ws, write, monkeypatch):
    from analytics import quality

    dataset = ingest_file(ws, write("e.csv", EVENTS)).dataset_id
    built: list[str] = []
    real = quality.quality_report

    def counted(ws_: object, dataset_id: str) -> quality.QualityReport:
        built.append(dataset_id)
        return real(ws_, dataset_id)

    monkeypatch.setattr(quality, "quality_report", counted)
    first = quality.stored_quality_report(ws, dataset)
    again = quality.stored_quality_report(ws, dataset)
    assert built == [dataset] and again.rows == first.rows == 6
    assert again.nulls.equals(first.nulls) and again.checks.equals(first.checks)
    ingest_file(ws, write("more.csv", EVENTS.replace("a,", "c,")))  # new data: a new version
    assert quality.stored_quality_report(ws, dataset).rows == 6 and built == [dataset, dataset]
