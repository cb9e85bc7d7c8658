"""Typed canonical values from raw source columns, as SQL, with one reject reason per bad row.

Parsing choices (timestamp format or epoch unit, decimal comma, id formatting) are made once
from a sample of the file and then applied to every row in DuckDB. Every choice that could be
wrong is reported as a note (for example an ambiguous day/month order).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import duckdb

from analytics.errors import IngestError
from analytics.ingest.mapping import ColumnMapping
from analytics.ingest.readers import quote_ident
from analytics.schema import EVENT_TYPE_SYNONYMS, KIND_FIELDS, Field

SAMPLE_ROWS = 5000
_MAX_MICROS = 9.2e18  # make_timestamp's range (microseconds since 1970, either sign)
_MONEY = r"-?[\p{Sc}A-Za-z ]{0,4}-?\d[\d,. ]*[\p{Sc}A-Za-z ]{0,4}"
_OFFSET = r"(Z|[+-]\d{2}:?\d{2}|\s?UTC|\s?GMT)$"
_OFFSET_FORMATS = ("%Y-%m-%d %H:%M:%S %z", "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d %H:%M:%S%z",
                   "%a, %d %b %Y %H:%M:%S %z")
_NAIVE_FORMATS = (
    "%m/%d/%Y %H:%M", "%d/%m/%Y %H:%M", "%m/%d/%Y %H:%M:%S", "%d/%m/%Y %H:%M:%S",
    "%m/%d/%Y", "%d/%m/%Y", "%m/%d/%y %H:%M", "%d/%m/%y %H:%M", "%m/%d/%y", "%d/%m/%y",
    "%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M", "%d.%m.%Y", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d",
    "%d-%m-%Y %H:%M:%S", "%d-%m-%Y %H:%M", "%d-%m-%Y", "%d %b %Y %H:%M", "%d %b %Y",
    "%b %d, %Y", "%B %d, %Y", "%Y%m%d%H%M%S",
)


@dataclass(frozen=True)
class Typed:
    """SQL for one canonical field: its typed value and, if it can fail, the check."""

    name: str
    value: str
    raw: str | None = None  # the raw source value (any type), kept to explain a failure
    failure: str = ""  # human wording of what a non-null raw value failed to be


@dataclass
class Plan:
    """Everything the loader needs to turn ``_raw`` rows into canonical rows."""

    kind: str
    typed: list[Typed] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    day_first: bool = False

    def param(self, value: Any) -> str:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return f"${name}"


def bind(sql: str, params: dict[str, Any]) -> dict[str, Any]:
    """The named parameters ``sql`` uses (DuckDB refuses unused ones)."""
    return {k: v for k, v in params.items() if re.search(rf"\${re.escape(k)}\b", sql)}


def source_expr(mapping: ColumnMapping, name: str, plan: Plan) -> str | None:
    """The raw SQL value of canonical field ``name`` (column, preset expression or constant)."""
    nulls = mapping.null_strings

    def ref(column: str) -> str:
        quoted = quote_ident(column)
        if not nulls:
            return quoted
        listed = ", ".join(plan.param(v) for v in nulls)
        return f"(CASE WHEN trim(CAST({quoted} AS VARCHAR)) IN ({listed}) THEN NULL ELSE {quoted} END)"

    if name in mapping.expressions:
        template = mapping.expressions[name]
        columns = re.findall(r"\{([^{}]+)\}", template)
        for column in columns:
            template = template.replace("{" + column + "}", ref(column))
        return f"({template})"
    if name in mapping.columns:
        return ref(mapping.columns[name])
    if name in mapping.constants:
        return plan.param(mapping.constants[name])
    return None


class Sampler:
    """Runs probe queries over the first rows of ``_raw``."""

    def __init__(self, cur: duckdb.DuckDBPyConnection, dtypes: dict[str, str]) -> None:
        self.cur = cur
        self.dtypes = dtypes

    def dtype(self, mapping: ColumnMapping, name: str) -> str:
        if name in mapping.columns:
            return self.dtypes.get(mapping.columns[name], "VARCHAR")
        return "VARCHAR"

    def counts(self, expr: str, probes: list[str], params: dict[str, Any]) -> list[int]:
        """Non-null count of ``expr`` and, for each probe template ``{x}``, of the probe."""
        cols = ", ".join([f"count({expr})"] + [f"count({_fill(p, expr)})" for p in probes])
        sql = f"SELECT {cols} FROM (SELECT * FROM _raw LIMIT {SAMPLE_ROWS})"
        return [int(v) for v in self.cur.execute(sql, bind(sql, params)).fetchall()[0]]

    def values(self, expr: str, params: dict[str, Any], limit: int = 3) -> list[str]:
        sql = (f"SELECT DISTINCT CAST({expr} AS VARCHAR) AS v FROM (SELECT * FROM _raw LIMIT "
               f"{SAMPLE_ROWS}) WHERE v IS NOT NULL LIMIT {limit}")
        return [str(r[0]) for r in self.cur.execute(sql, bind(sql, params)).fetchall()]


def _fill(template: str, expr: str) -> str:
    """Put ``expr`` where ``{x}`` stands (templates hold regexes, so no str.format)."""
    return template.replace("{x}", expr)


def _numeric_type(dtype: str) -> bool:
    return dtype.upper().split("(")[0] in {
        "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
        "UINTEGER", "UBIGINT", "FLOAT", "DOUBLE", "DECIMAL", "REAL"}


# Source types whose values, printed as text, never have surrounding spaces and are never
# empty: for them trim and NULLIF(…, '') change nothing, so they are not run (typed Parquet).
_UNPADDED = {"BOOLEAN", "DATE"}


def _unpadded(dtype: str) -> bool:
    return _numeric_type(dtype) or dtype.upper() in _UNPADDED


def _text(src: str, dtype: str = "VARCHAR") -> str:
    if _unpadded(dtype):
        return f"CAST({src} AS VARCHAR)"
    return f"NULLIF(trim(CAST({src} AS VARCHAR)), '')"


def _id(src: str, dtype: str, sampler: Sampler, plan: Plan) -> str:
    text = _text(src, dtype)
    probe = "{x}" if _numeric_type(dtype) else "CASE WHEN regexp_full_match({x}, '-?\\d+\\.0+') THEN 1 END"
    total, integral_floats = sampler.counts(text, [probe], plan.params)
    if total and integral_floats == total and dtype.upper() in ("DOUBLE", "FLOAT", "VARCHAR"):
        return f"regexp_replace({text}, '\\.0+$', '')"
    return text


def _finite(expr: str) -> str:
    """Infinities (``1e400``, ``-inf``) are not prices or quantities: NULL, so the row is rejected."""
    return f"(CASE WHEN isfinite({expr}) THEN {expr} END)"


def _number(src: str, dtype: str, sampler: Sampler, plan: Plan, name: str) -> Typed:
    # NaN is how pandas and json.dumps write a missing number: missing, not a reject.
    if _numeric_type(dtype):
        number = f"CAST({src} AS DOUBLE)"
        # The raw value stays a number: the reject reason turns it into text only for the rows
        # that fail, not for every row (at 1M rows that cast cost ~0.02 CPU s per column).
        return Typed(name, _finite(number), f"nullif({number}, 'NaN'::DOUBLE)", "a number")
    text = f"(CASE WHEN lower({_text(src)}) IN ('nan', '-nan') THEN NULL ELSE {_text(src)} END)"
    plain = _finite("TRY_CAST({x} AS DOUBLE)")
    comma = _finite("TRY_CAST(replace(replace({x}, '.', ''), ',', '.') AS DOUBLE)")
    # Only money-like text ("$1,234.50", "12.50 EUR"): never digits picked out of "[1, 2]".
    symbols = _finite("CASE WHEN regexp_full_match({x}, '" + _MONEY + "') THEN "
                      "TRY_CAST(regexp_replace({x}, '[^0-9eE.+-]', '', 'g') AS DOUBLE) END")
    total, n_plain, n_comma, n_symbols = sampler.counts(text, [plain, comma, symbols], plan.params)
    chosen = plain
    if total and n_plain < total and n_comma == total:
        chosen = comma
        plan.notes.append(f"{name}: decimal commas read as decimal points (e.g. 12,50 = 12.5).")
    elif total and n_plain < total and n_symbols == total:
        chosen = symbols
        plan.notes.append(f"{name}: currency symbols and thousands separators removed.")
    return Typed(name, _fill(chosen, text), text, "a number")


def _timestamp(src: str, dtype: str, sampler: Sampler, plan: Plan, name: str) -> Typed:
    upper = dtype.upper()
    if upper.startswith("TIMESTAMP WITH TIME ZONE"):
        return Typed(name, f"timezone('UTC', {src})")
    if upper.startswith(("TIMESTAMP", "DATE")):
        return Typed(name, _to_utc(f"CAST({src} AS TIMESTAMP)", plan))
    text = _text(src, dtype)
    digits = "CASE WHEN regexp_full_match({x}, '-?\\d+(\\.\\d+)?') THEN 1 END"
    offset = "CASE WHEN regexp_matches({x}, '" + _OFFSET + "') THEN 1 END"
    total, n_digits, n_offset = sampler.counts(text, [digits, offset], plan.params)
    if total == 0:
        return Typed(name, "CAST(NULL AS TIMESTAMP)", text, "a date/time")
    if n_digits == total:
        return _epoch(text, sampler, plan, name)
    if n_offset == total:
        return _formats(text, sampler, plan, name, with_offset=True)
    return _formats(text, sampler, plan, name, with_offset=False)


def _epoch(text: str, sampler: Sampler, plan: Plan, name: str) -> Typed:
    # The median, not the maximum: one absurd value must not switch every row to another unit.
    sql = f"SELECT median(abs(TRY_CAST({text} AS DOUBLE))) FROM (SELECT * FROM _raw LIMIT {SAMPLE_ROWS})"
    typical = float(sampler.cur.execute(sql, bind(sql, plan.params)).fetchall()[0][0] or 0)
    number = f"TRY_CAST({text} AS DOUBLE)"
    if 19000101 <= typical <= 21001231:
        plan.notes.append(f"{name}: read as yyyymmdd dates.")
        return Typed(name, f"try_strptime({text}, '%Y%m%d')", text, "a yyyymmdd date")
    for limit, unit, micros in (
        (1e11, "seconds", f"{number} * 1e6"),
        (1e14, "milliseconds", f"{number} * 1e3"),
        (1e17, "microseconds", number),
        (float("inf"), "nanoseconds", f"{number} / 1e3"),
    ):
        if typical < limit:
            plan.notes.append(f"{name}: read as Unix epoch {unit} (UTC).")
            # Beyond the TIMESTAMP range: NULL, so the row is rejected rather than the file.
            in_range = f"CASE WHEN abs({micros}) < {_MAX_MICROS} THEN {micros} END"
            expr = f"make_timestamp(CAST({in_range} AS BIGINT))"
            return Typed(name, expr, text, f"a Unix time in {unit}")
    raise AssertionError("unreachable")


def _formats(text: str, sampler: Sampler, plan: Plan, name: str, with_offset: bool) -> Typed:
    if with_offset:
        candidates = [("cast", "timezone('UTC', TRY_CAST({x} AS TIMESTAMPTZ))")]
        candidates += [(f, f"timezone('UTC', try_strptime({{x}}, '{f}'))") for f in _OFFSET_FORMATS]
    else:
        formats = sorted(_NAIVE_FORMATS, key=lambda f: not f.startswith("%d")) \
            if plan.day_first else _NAIVE_FORMATS
        candidates = [("cast", "TRY_CAST({x} AS TIMESTAMP)")]
        candidates += [(f, f"try_strptime({{x}}, '{f}')") for f in formats]
    total, *hits = sampler.counts(text, [c for _, c in candidates], plan.params)
    full = [fmt for (fmt, _), n in zip(candidates, hits, strict=True) if n == total]
    if not full:
        best = max(range(len(hits)), key=hits.__getitem__)
        if hits[best] < total / 2:
            examples = ", ".join(repr(v) for v in sampler.values(text, plan.params))
            raise IngestError(
                f"the column mapped to {name} has values like {examples}, which are not dates "
                "or times in any format we know.",
                hint="Map another column to it, or export dates as ISO 8601 "
                "(2024-01-31 13:45:00).")
        full = [candidates[best][0]]
        plan.notes.append(f"{name}: some values do not match the main format and are rejected.")
    chosen = full[0]
    if chosen[:5] in ("%m/%d", "%d/%m") and len({f[:5] for f in full} & {"%m/%d", "%d/%m"}) == 2:
        order = "day/month (--date-order dmy)" if plan.day_first else "month/day (US)"
        plan.notes.append(
            f"{name}: day/month order is ambiguous (every sampled date reads both ways); "
            f"read as {order}. Change the date order if that is wrong.")
    template = dict(candidates)[chosen]
    value = _fill(template, text)
    shown = "ISO 8601" if chosen == "cast" else chosen
    return Typed(name, value if with_offset else _to_utc(value, plan), text,
                 f"a date/time ({shown})")


def _to_utc(expr: str, plan: Plan) -> str:
    tz = plan.params.get("tz", "UTC")
    if tz == "UTC":
        return expr
    return f"timezone('UTC', timezone($tz, {expr}))"


def _event_type(src: str, value_map: dict[str, str], plan: Plan, dtype: str = "VARCHAR") -> Typed:
    """Canonical type: the value map first (bound values; "skip" gives NULL, so the row is
    rejected with the reason), then the built-in synonyms, else the value itself."""
    cases = " ".join(f"WHEN '{k.replace(chr(39), chr(39) * 2)}' THEN '{v}'"
                     for k, v in EVENT_TYPE_SYNONYMS.items())
    text = f"lower({_text(src, dtype)})"
    # "12.0" from a float column is the code 12.
    key = f"regexp_replace({text}, '^(\\d+)\\.0+$', '\\1')"
    mapped = " ".join(f"WHEN {plan.param(k)} THEN "
                      + ("NULL" if v == "skip" else plan.param(v)) for k, v in value_map.items())
    value = f"(CASE {text} {cases} ELSE {text} END)"
    if mapped:
        value = f"(CASE {key} {mapped} ELSE {value} END)"
    skipped = [k for k, v in value_map.items() if v == "skip"]
    if not skipped:
        return Typed("event_type", value)
    return Typed("event_type", value, _text(src, dtype),
                 "loaded: the event-type value map skips it")


def price_scale(mapping: ColumnMapping) -> float | None:
    """``--set price_scale=0.000001``: the factor prices and amounts are multiplied by."""
    raw = mapping.constants.get("price_scale")
    if raw is None:
        return None
    try:
        scale = float(raw)
    except ValueError:
        scale = 0.0
    if not (scale > 0 and scale == scale and scale != float("inf")):
        raise IngestError(f"price_scale {raw!r} is not a positive number.",
                          hint="For prices in micro-units use --set price_scale=0.000001.")
    return scale


_SQL_TYPES = {"id": "VARCHAR", "text": "VARCHAR", "event_type": "VARCHAR",
              "timestamp": "TIMESTAMP", "number": "DOUBLE"}


def build(cur: duckdb.DuckDBPyConnection, mapping: ColumnMapping, dtypes: dict[str, str],
          timezone: str = "UTC", day_first: bool = False) -> Plan:
    """Choose a typed SQL expression for every field of ``mapping.kind`` (NULL if unmapped)."""
    plan = Plan(mapping.kind, day_first=day_first)
    if timezone != "UTC":
        known = cur.execute("SELECT count(*) FROM pg_timezone_names() WHERE name = ?",
                            [timezone]).fetchall()[0][0]
        if not known:
            raise IngestError(f"{timezone!r} is not a time zone we know.",
                              hint="Use an IANA name such as Europe/Berlin or America/New_York.")
        plan.params["tz"] = timezone
    sampler = Sampler(cur, dtypes)
    scale = price_scale(mapping)
    for field_ in KIND_FIELDS[mapping.kind]:
        src = source_expr(mapping, field_.name, plan)
        if src is None:
            plan.typed.append(Typed(field_.name, f"CAST(NULL AS {_SQL_TYPES[field_.type]})"))
            continue
        # A preset expression is text whatever its columns' types.
        dtype = "VARCHAR" if field_.name in mapping.expressions else sampler.dtype(mapping, field_.name)
        if field_.type == "event_type":
            plan.typed.append(_event_type(src, mapping.value_map, plan, dtype))
            continue
        if field_.type == "timestamp" and "time_unit" in mapping.constants:
            plan.typed.append(relative_time(src, mapping, sampler, plan, field_.name))
            continue
        if field_.type == "timestamp" and mapping.constants.get("time_format") == "mmdd":
            plan.typed.append(month_day_time(src, mapping, plan, field_.name))
            continue
        typed = _typed(field_, src, dtype, sampler, plan)
        if scale is not None and field_.name in ("price", "revenue"):
            typed = Typed(typed.name, f"({typed.value}) * {plan.param(scale)}", typed.raw,
                          typed.failure)
        plan.typed.append(typed)
    if scale is not None:
        plan.notes.append(f"Prices and amounts multiplied by price_scale={scale:g}.")
    return plan


def _typed(field_: Field, src: str, dtype: str, sampler: Sampler, plan: Plan) -> Typed:
    if field_.type == "timestamp":
        return _timestamp(src, dtype, sampler, plan, field_.name)
    if field_.type == "number":
        return _number(src, dtype, sampler, plan, field_.name)
    if field_.type == "id":
        return Typed(field_.name, _id(src, dtype, sampler, plan))
    return Typed(field_.name, _text(src, dtype))


# times counted from the start of a test (Starbucks' transcript: hours since it
# began). Read as an epoch they would be January 1970, so without the start date the file is
# refused; with ``--set time_origin=YYYY-MM-DD`` each time is that date plus the offset.
TIME_UNITS = {"seconds": 1e6, "minutes": 6e7, "hours": 3.6e9, "days": 8.64e10}


def month_day_time(src: str, mapping: ColumnMapping, plan: Plan, name: str) -> Typed:
    """Dates written as month and day only (Tmall's time_stamp 1111 = 11 November), in the
    year the user gives with ``time_year``: without it the file is refused, never guessed."""
    column = mapping.columns.get(name, name)
    year = mapping.constants.get("time_year", "").strip()
    if not year:
        raise IngestError(
            f"`{column}` holds a month and a day only (1111 = 11 November), no year: read as "
            "a number every row would fall on 1 January 1970, and a guessed year would shift "
            "every date, weekday and season.",
            hint="Give the year of the data: --set time_year=YYYY (Data page: the year box). "
            "Nothing was changed.")
    if not (year.isdigit() and 1990 <= int(year) <= 2100):
        raise IngestError(f"time_year {year!r} is not a year.",
                          hint="Use four digits, e.g. --set time_year=2014.")
    text = f"lpad({_text(src)}, 4, '0')"
    value = (f"CAST(try_strptime({plan.param(year)} || {text}, '%Y%m%d') AS TIMESTAMP)")
    plan.notes.append(f"{name}: `{column}` read as month and day in {year} (time_year).")
    return Typed(name, value, _text(src), "a month and day (MMDD)")


def relative_time(src: str, mapping: ColumnMapping, sampler: Sampler, plan: Plan,
                  name: str) -> Typed:
    """``time_origin + value × time_unit`` for a column of offsets since the test started."""
    unit = mapping.constants["time_unit"].strip().lower()
    if unit not in TIME_UNITS:
        raise IngestError(f"time_unit {unit!r} is not one of {', '.join(TIME_UNITS)}.",
                          hint="For hours since the start use --set time_unit=hours.")
    column = mapping.columns.get(name) or " and ".join(
        f"`{c}`" for c in dict.fromkeys(re.findall(r"\{([^{}]+)\}", mapping.expressions.get(name, "")))
    ) or name
    column = column if column.startswith("`") else f"`{column}`"
    since = mapping.constants.get("time_since", "the test started")
    text = _text(src)
    origin = mapping.constants.get("time_origin")
    if not origin:
        sql = (f"SELECT min(TRY_CAST({text} AS DOUBLE)), max(TRY_CAST({text} AS DOUBLE)) "
               f"FROM (SELECT * FROM _raw LIMIT {SAMPLE_ROWS})")
        lo, hi = sampler.cur.execute(sql, bind(sql, plan.params)).fetchall()[0]
        span = f" (values {lo:g} to {hi:g})" if lo is not None else ""
        raise IngestError(
            f"{column} count{'' if ' and ' in column else 's'} {unit} since {since}{span}, not "
            "dates: read as an epoch every row would fall in January 1970, so no row gets a "
            "calendar date.",
            hint=f"Give the date of the start ({since}): --set time_origin=YYYY-MM-DD (Data "
            "page: the start date box); each time is then that date plus the offset. Nothing was changed.")
    try:
        start = datetime.fromisoformat(origin.strip())
    except ValueError:
        raise IngestError(f"time_origin {origin!r} is not a date.",
                          hint="Use an ISO date such as --set time_origin=2018-07-01.") from None
    factor = TIME_UNITS[unit]
    number = f"TRY_CAST({text} AS DOUBLE)"
    micros = f"CASE WHEN isfinite({number}) AND abs({number} * {factor}) < 3e17 THEN {number} END"
    value = (f"(CAST({plan.param(start.replace(tzinfo=None))} AS TIMESTAMP) + "
             f"to_microseconds(CAST(round(({micros}) * {factor}) AS BIGINT)))")
    plan.notes.append(f"{name}: {column} read as {unit} since {start:%Y-%m-%d %H:%M} "
                      f"(time_origin, {since}).")
    return Typed(name, value, text, f"a number of {unit}")
