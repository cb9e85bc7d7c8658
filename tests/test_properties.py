"""Property-based tests of the parsers and the mapping: arbitrary input is loaded, rejected with a
reason or refused with a message, never a crash; timestamps in any supported format give the
same UTC instant."""

from __future__ import annotations

import csv
import io
import itertools
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from analytics.errors import ShopperLensError
from analytics.ingest import ingest_file, inspect_file
from analytics.ingest.mapping import guess_kind, suggest
from analytics.ingest.presets import detect
from analytics.profiles import FEATURES
from analytics.schema import KIND_FIELDS
from analytics.segments.rules import OPS, RuleError, RuleSet
from analytics.workspace import Workspace

SLOW = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])  # examples that ingest
_names = itertools.count()


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Workspace, Path]]:
    """One workspace for every example (hypothesis runs many examples per test)."""
    folder = tmp_path_factory.mktemp("props")
    with Workspace(folder / "ws" / "w.duckdb", allow=[folder]) as ws:
        yield ws, folder


def _write(folder: Path, suffix: str, data: bytes) -> Path:
    path = folder / f"f{next(_names)}{suffix}"
    path.write_bytes(data)
    return path


def _csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue().encode("utf-8")


def _check_refusal(error: ShopperLensError, name: str) -> None:
    assert error.hint, error.message
    assert name in error.message, error.message


def _accounted(ws: Workspace, report: Any) -> None:
    assert report.rows_read == report.rows_loaded + report.rows_rejected + report.duplicates_skipped
    with ws.cursor() as cur:
        stored = cur.execute("SELECT (SELECT count(*) FROM events WHERE dataset_id = $d), "
                             "(SELECT count(*) FROM rejects WHERE dataset_id = $d), "
                             "(SELECT count(*) FROM rejects WHERE dataset_id = $d AND reason = '')",
                             {"d": report.dataset_id}).fetchall()[0]
    assert stored == (report.rows_loaded, report.rows_rejected, 0)


cells = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
times = st.one_of(st.just("2024-03-01 10:00:00"), st.just("1710000000"), cells)


@settings(SLOW, max_examples=40)
@given(rows=st.lists(st.tuples(cells, times, cells, cells, cells), min_size=1, max_size=5))
def test_arbitrary_cells_are_loaded_or_rejected_with_a_reason(
        shared: tuple[Workspace, Path], rows: list[tuple[str, ...]]) -> None:
    ws, folder = shared
    header = ["user_id", "event_time", "event_type", "item_id", "price"]
    path = _write(folder, ".csv", _csv([header, *map(list, rows)]))
    try:
        report = ingest_file(ws, path)
    except ShopperLensError as e:
        _check_refusal(e, path.name)
        return
    _accounted(ws, report)
    assert report.rows_read == len(rows)  # nothing silently dropped or split


texts = st.text(max_size=200)
files = st.one_of(
    st.binary(max_size=300),
    texts.map(lambda t: t.encode("utf-8")),
    texts.map(lambda t: ("user_id,event_time,event_type\n" + t).encode("utf-8", "surrogatepass")),
    texts.map(lambda t: ("a;b\n" + t).encode("utf-16-le", "surrogatepass")),
    texts.map(lambda t: ('[{"user_id": ' + t).encode("utf-8", "surrogatepass")),
)


@settings(SLOW, max_examples=60)
@given(data=files)
@example(data=b"! \x80")  # a stray byte at the end of a whole file once passed for UTF-8
def test_arbitrary_bytes_are_inspected_or_refused(shared: tuple[Workspace, Path], data: bytes) -> None:
    ws, folder = shared
    path = _write(folder, ".csv", data)
    try:
        inspection = inspect_file(ws, path)
    except ShopperLensError as e:
        _check_refusal(e, path.name)
        return
    assert inspection.kind in KIND_FIELDS
    assert set(inspection.mapping.columns.values()) <= set(inspection.columns)


headers = st.lists(st.one_of(
    st.text(max_size=20),
    st.sampled_from([f.name for fields in KIND_FIELDS.values() for f in fields]
                    + [s for fields in KIND_FIELDS.values() for f in fields for s in f.synonyms]),
), max_size=12)


@settings(deadline=None, max_examples=300)
@given(columns=headers)
def test_mapping_suggestions_never_crash_and_use_real_distinct_columns(columns: list[str]) -> None:
    kind = guess_kind(columns)
    assert kind in KIND_FIELDS
    for each in KIND_FIELDS:
        mapping, score = suggest(each, columns)
        chosen = list(mapping.columns.values())
        assert mapping.kind == each and score >= 0
        assert set(chosen) <= set(columns) and len(chosen) == len(set(chosen))
    preset = detect(columns, None)
    assert preset is None or preset.kind in KIND_FIELDS


FORMATS = {
    "iso": lambda t: t.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
    "iso_t_z": lambda t: t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    "iso_offset": lambda t: t.isoformat(sep=" "),
    "rfc2822": format_datetime,
    "epoch_s": lambda t: str(int(t.timestamp())),
    "epoch_ms": lambda t: str(int(t.timestamp() * 1000)),
    "dotted": lambda t: t.astimezone(UTC).strftime("%d.%m.%Y %H:%M:%S"),
    "us_slash": lambda t: t.astimezone(UTC).strftime("%m/%d/%Y %H:%M:%S"),
    "ymd_slash": lambda t: t.astimezone(UTC).strftime("%Y/%m/%d %H:%M:%S"),
}
instants = st.builds(
    lambda naive, minutes: naive.replace(tzinfo=timezone(timedelta(minutes=minutes))),
    st.datetimes(datetime(2000, 1, 1), datetime(2090, 12, 31)).map(lambda d: d.replace(microsecond=0)),
    st.integers(-14 * 4, 14 * 4).map(lambda q: 15 * q))


@settings(SLOW, max_examples=30)
@given(fmt=st.sampled_from(sorted(FORMATS)), moments=st.lists(instants, min_size=1, max_size=4))
def test_timestamps_in_any_format_give_the_same_utc_instant(
        shared: tuple[Workspace, Path], fmt: str, moments: list[datetime]) -> None:
    ws, folder = shared
    tag = next(_names)
    rows = [["user_id", "event_time", "event_type"]]
    rows += [[f"t{tag}-{i}", FORMATS[fmt](m), "view"] for i, m in enumerate(moments)]
    report = ingest_file(ws, _write(folder, ".csv", _csv(rows)))
    assert (report.rows_loaded, report.rows_rejected) == (len(moments), 0), report.reject_reasons
    with ws.cursor() as cur:
        stored = cur.execute("SELECT event_time FROM events WHERE dataset_id = ? ORDER BY user_id",
                             [report.dataset_id]).fetchall()
    expected = sorted(zip((r[0] for r in rows[1:]), moments, strict=True))
    assert [r[0] for r in stored] == [m.astimezone(UTC).replace(tzinfo=None) for _, m in expected]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=12)
features = st.sampled_from([f.name for f in FEATURES] + ["nope", ""]) | json_values
conditions = st.recursive(
    st.fixed_dictionaries({"feature": features, "op": st.sampled_from(OPS) | json_values},
                          optional={"value": json_values, "percent": json_values}),
    lambda inner: st.dictionaries(st.sampled_from(["all", "any", "not"]),
                                  st.lists(inner, max_size=3) | inner, min_size=1, max_size=1),
    max_leaves=8)
rule_sets = st.fixed_dictionaries(
    {"segments": st.lists(st.fixed_dictionaries({"name": json_values, "when": conditions}), max_size=3)},
    optional={"name": json_values, "otherwise": json_values})


@settings(deadline=None, max_examples=300)
@given(doc=rule_sets | json_values, as_text=st.booleans())
def test_rule_parsing_raises_only_rule_errors(doc: Any, as_text: bool) -> None:
    try:
        RuleSet.from_json(json.dumps(doc) if as_text or not isinstance(doc, dict) else doc)
    except RuleError as e:
        assert e.message


@settings(deadline=None, max_examples=100)
@given(text=st.text(max_size=60))
def test_rule_text_raises_only_rule_errors(text: str) -> None:
    try:
        RuleSet.from_json(text)
    except RuleError as e:
        assert e.message


def test_rules_with_a_list_as_feature_are_refused() -> None:
    with pytest.raises(RuleError):
        RuleSet.from_json({"segments": [{"name": "x", "when": {"feature": ["a"], "op": ">", "value": 1}}]})
