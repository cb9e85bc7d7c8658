"""The one-pass load: the source is read once into typed rows; only failing rows keep raw text.

Hand-made files with known answers: which records fail (by number), the raw text they are kept
with, identical lines kept, only stored copies skipped, and reader parameters next to column
names that hold a ``?`` or a quote.
"""

from __future__ import annotations

import json

import pandas as pd

from analytics.ingest import ingest_file
from analytics.ingest.load import _named_positionals
from analytics.workspace import Workspace
from tests.conftest import accounted

# Records 2 (price) and 4 (time) fail; records 5 and 6 are the same line twice.
MIXED = (
    'user_id,event_time,event_type,item_id,price,"what?","it\'s"\n'
    "u1,2024-03-01 10:00:00,view,i1,10,a,x\n"
    "u1,2024-03-01 10:05:00,cart,i1,ten,b,y\n"
    "u2,2024-03-02 09:00:00,view,i2,5,c,z\n"
    "u2,someday,view,i2,5,d,w\n"
    "u3,2024-03-03 08:00:00,purchase,i3,7,e,v\n"
    "u3,2024-03-03 08:00:00,purchase,i3,7,e,v\n"
)


def _rejects(ws, dataset_id: str) -> list[tuple[int, str, dict[str, str]]]:  # type: ignore[no-untyped-def]
    with ws.cursor() as cur:
        rows = cur.execute("SELECT record, reason, raw FROM rejects WHERE dataset_id = ? "
                           "ORDER BY record", [dataset_id]).fetchall()
    return [(int(r), str(reason), json.loads(raw)) for r, reason, raw in rows]


def test_failing_records_keep_their_number_reason_and_raw_text(ws, write):
    report = ingest_file(ws, write("mixed.csv", MIXED))
    assert (report.rows_read, report.rows_loaded, report.rows_rejected,
            report.duplicates_skipped) == (6, 4, 2, 0)
    got = _rejects(ws, report.dataset_id)
    assert [(r, reason.split(" ")[0]) for r, reason, _ in got] == [(2, "price"), (4, "event_time")]
    assert got[0][2] == {"user_id": "u1", "event_time": "2024-03-01 10:05:00", "event_type": "cart",
                         "item_id": "i1", "price": "ten", "what?": "b", "it's": "y"}
    assert got[1][2]["event_time"] == "someday"
    assert any("1 rows repeat another row" in n for n in report.notes)  # kept, and said so


def test_only_copies_already_stored_are_duplicates(ws, write):
    first = ingest_file(ws, write("a.csv", MIXED))
    # The same purchase three times: two copies are stored, so one is new.
    again = MIXED.splitlines()[0] + "\n" + "u3,2024-03-03 08:00:00,purchase,i3,7,e,v\n" * 3
    second = ingest_file(ws, write("b.csv", again))
    assert (second.rows_read, second.rows_loaded, second.duplicates_skipped) == (3, 1, 2)
    with ws.cursor() as cur:
        stored = cur.execute("SELECT count(*) FROM events WHERE user_id = 'u3'").fetchall()[0][0]
    assert stored == 3
    assert first.rows_loaded + second.rows_loaded == 5


def test_no_repeat_note_when_every_line_differs(ws, write):
    lines = MIXED.splitlines()
    report = ingest_file(ws, write("c.csv", "\n".join(lines[:6]) + "\n"))
    assert report.rows_loaded == 3
    assert not any("repeat another row" in n for n in report.notes)


def test_parquet_rows_with_an_empty_required_field_are_rejected(ws, tmp_path):
    frame = pd.DataFrame({
        "user_id": ["u1", None, "u2"],
        "event_time": pd.to_datetime(["2024-01-01 10:00", "2024-01-01 11:00", "2024-01-02 09:00"]),
        "event_type": ["view", "view", "purchase"], "item_id": ["i1", "i2", "i3"],
        "price": [1.5, 2.0, 3.0]})
    path = tmp_path / "ev.parquet"
    frame.to_parquet(path, index=False)
    report = ingest_file(ws, path)
    assert (report.rows_read, report.rows_loaded, report.rows_rejected) == (3, 2, 1)
    (record, reason, raw), = _rejects(ws, report.dataset_id)
    assert (record, reason, raw["item_id"], raw["user_id"]) == (2, "user_id is empty", "i2", None)


def test_positional_parameters_are_renamed_outside_quotes_only():
    sql, params = _named_positionals(
        "SELECT \"a?\", 'b?''?', ? FROM read_csv(?, delim = ?)", [1, "f", ","])
    assert sql == "SELECT \"a?\", 'b?''?', $s0 FROM read_csv($s1, delim = $s2)"
    assert params == {"s0": 1, "s1": "f", "s2": ","}


def _norm_passes(monkeypatch) -> list[int]:  # type: ignore[no-untyped-def]
    """Count the loads that materialise the typed rows as ``_norm``."""
    from analytics.ingest import load

    calls: list[int] = []
    real = load._create_norm

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(load, "_create_norm", spy)
    return calls


APRIL = ("user_id,event_time,event_type,item_id,price\n"
         "u7,2024-04-01 10:00:00,view,i1,1\n"
         "u7,2024-04-01 10:01:00,cart,i1,ten\n"
         "u8,2024-04-02 11:00:00,purchase,i2,4\n")


def test_a_file_no_stored_event_overlaps_is_written_straight_into_events(ws, write, monkeypatch):
    norm = _norm_passes(monkeypatch)
    ingest_file(ws, write("march.csv", MIXED))  # an empty workspace
    april = ingest_file(ws, write("april.csv", APRIL))  # after every stored event
    assert norm == []
    assert (april.rows_read, april.rows_loaded, april.rows_rejected,
            april.duplicates_skipped) == (3, 2, 1, 0)
    (record, reason, raw), = _rejects(ws, april.dataset_id)
    assert (record, reason.split(" is ")[0], raw["price"]) == (2, "price 'ten'", "ten")
    # Inside the stored range: through _norm, where stored copies are found and skipped.
    again = ingest_file(ws, write("again.csv", MIXED.splitlines()[0] + "\n"
                                  + "u3,2024-03-03 08:00:00,purchase,i3,7,e,v\n" * 3))
    assert norm == [1]
    assert (again.rows_read, again.rows_loaded, again.duplicates_skipped) == (3, 1, 2)


def test_direct_load_checks_the_ids_the_file_gave_not_the_linked_ones(ws, write, monkeypatch):
    norm = _norm_passes(monkeypatch)
    aliases = "".join(f"a{i},master\n" for i in range(150))
    ingest_file(ws, write("ids.csv", "alias,user_id\n" + aliases), kind="identities")
    norm.clear()  # other kinds always go through _norm
    events = "".join(f"a{i},2024-05-01 10:{i % 60:02d}:00,view,i1\n" for i in range(150))
    report = ingest_file(ws, write("ev.csv", "user_id,event_time,event_type,item_id\n" + events))
    assert norm == []
    assert report.rows_loaded == 150
    assert not [w for w in report.warnings if w["code"] == "few_user_ids"]  # 150 ids in the file
    with ws.cursor() as cur:
        assert cur.execute("SELECT count(DISTINCT user_id), count(DISTINCT source_user_id) "
                           "FROM events").fetchall() == [(1, 150)]


def _stored(ws) -> list[tuple]:  # type: ignore[no-untyped-def]
    with ws.cursor() as cur:
        return cur.execute("SELECT * EXCLUDE (dataset_id) FROM events "
                           "ORDER BY event_time, source_user_id, item_id").fetchall()


def _reasons(ws, report) -> list[tuple[int, str]]:  # type: ignore[no-untyped-def]
    return [(r, reason) for r, reason, _ in _rejects(ws, report.dataset_id)]


def _load_both(tmp_path, frame: pd.DataFrame, csv_text: str):  # type: ignore[no-untyped-def]
    """Load ``frame`` as Parquet and ``csv_text`` as CSV, each into its own workspace."""
    out = []
    for name in ("ev.parquet", "ev.csv"):
        path = tmp_path / name
        if name.endswith(".parquet"):
            frame.to_parquet(path, index=False)
        else:
            path.write_text(csv_text)
        workspace = Workspace(tmp_path / name.replace(".", "_") / "w.duckdb", allow=[tmp_path])
        report = ingest_file(workspace, path)
        out.append((_stored(workspace), _reasons(workspace, report), report))
        workspace.close()
    return out


def test_typed_parquet_columns_store_what_the_same_csv_stores(tmp_path):
    # Integer ids, codes and quantities, a float price (one infinite: rejected)
    # and a real timestamp: the normaliser skips trim for these types and must not change a value.
    frame = pd.DataFrame({
        "user_id": [101, 102, 101, 103],
        "event_time": pd.to_datetime(["2024-01-01 10:00", "2024-01-01 11:00",
                                      "2024-01-02 09:00", "2024-01-03 08:00"]),
        "event_type": ["view", "purchase", "cart", "purchase"],
        "item_id": [7, 8, 7, 9], "category": [3, 4, 3, 4],
        "price": [1.5, 20.0, 1.5, float("inf")], "quantity": [1, 2, 1, 1]})
    csv_text = ("user_id,event_time,event_type,item_id,category,price,quantity\n"
                "101,2024-01-01 10:00:00,view,7,3,1.5,1\n102,2024-01-01 11:00:00,purchase,8,4,20.0,2\n"
                "101,2024-01-02 09:00:00,cart,7,3,1.5,1\n103,2024-01-03 08:00:00,purchase,9,4,inf,1\n")
    (pq_rows, pq_rejects, pq), (csv_rows, csv_rejects, csv) = _load_both(tmp_path, frame, csv_text)
    assert pq_rows == csv_rows
    assert [r[0] for r in pq_rows] == ["101", "102", "101"]  # ids as text, no ".0"
    assert pq_rejects == csv_rejects == [(4, "price 'inf' is not a number")]
    assert (pq.rows_read, pq.rows_loaded, pq.rows_rejected) == (4, 3, 1)


def test_parquet_text_that_needs_trimming_stores_what_the_same_csv_stores(tmp_path):
    frame = pd.DataFrame({
        "user_id": [" u1 ", "u2", "  ", "u3"],
        "event_time": ["2024-01-01 10:00:00 ", " 2024-01-01 11:00:00", "2024-01-02 09:00:00",
                       "2024-01-03 08:00:00"],
        "event_type": [" View", "purchase ", "view", ""],
        "item_id": ["i1 ", "", " i2", "i3"], "price": [" 1.5", "2", "3", "4"]})
    csv_text = ("user_id,event_time,event_type,item_id,price\n"
                '" u1 ","2024-01-01 10:00:00 "," View","i1 "," 1.5"\n'
                'u2," 2024-01-01 11:00:00","purchase ","",2\n'
                '"  ",2024-01-02 09:00:00,view," i2",3\n'
                'u3,2024-01-03 08:00:00,"",i3,4\n')
    (pq_rows, pq_rejects, pq), (csv_rows, csv_rejects, csv) = _load_both(tmp_path, frame, csv_text)
    assert pq_rows == csv_rows
    assert [(r[0], r[3], r[4]) for r in pq_rows] == [("u1", "view", "i1"), ("u2", "purchase", None)]
    assert pq_rejects == csv_rejects == [(3, "user_id is empty"), (4, "event_type is empty")]
    assert accounted(pq) and accounted(csv)
