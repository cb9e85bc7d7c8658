"""The DuckDB spelling of the SQL units' macros (DuckDB binds ``$name`` natively)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from analytics.engines.base import Engine


class DuckDBEngine(Engine):
    """DuckDB: the workspace engine; the units run on a workspace cursor."""

    name = "DuckDB"
    macros = {
        # 'Mon'..'Sun' in English whatever the locale (a list lookup: a third of strftime's cost
        # per event).
        "weekday": lambda t: f"['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'][dayofweek({t}) + 1]",
        # Seconds since 1970 with the microseconds as a fraction.
        "epoch_seconds": lambda t: f"epoch({t})",
        # Calendar days from date a to date b (both DATE: boundaries = whole days).
        "days_between": lambda a, b: f"date_diff('day', {a}, {b})",
        # Exact quantile with linear interpolation.
        "quantile_cont": lambda x, q: f"quantile_cont({x}, {q})",
        # The share n / total rounded to `digits` decimals: the binary double rounded exactly,
        # halves away from zero (DuckDB's round; Spark's round reads the decimal text instead).
        "round_share": lambda n, total, digits: f"round({n} / {total}, {digits})",
        # A value that sorts by a, then b (for min_by and ORDER BY of a tie-broken rank).
        "ordered_pair": lambda a, b: f"row({a}, {b})",
        # JSON object text {key: value} with keys in ascending `order` (unique per object):
        # the entries collected unordered and sorted as (order, key, value) structs, which
        # sort by their fields in turn; an ordered list() aggregate sorted each group apart
        # (the same text, about 25% slower on the category mix at 20k shoppers).
        "json_object_by": lambda key, value, order: (
            f"CAST(to_json(map_from_entries(list_transform(list_sort(list(row({order}, {key}, "
            f"{value}))), lambda e: row(e[2], e[3])))) AS VARCHAR)"),
    }

    def bind(self, sql: str, params: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        return sql, dict(params)
