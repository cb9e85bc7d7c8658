"""Load one file into the workspace: inspect, stage, normalise, dedup, link, record.

One file is one transaction: it lands whole or not at all. Every input row is accounted for:
``rows_read == rows_loaded + rows_rejected + duplicates_skipped``.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from analytics import settings
from analytics.errors import DuplicateDatasetError, IngestError, MappingError
from analytics.ingest import (
    exportshapes,
    headerless,
    normalise,
    pii,
    plausibility,
    presets,
    realshapes,
    vocab,
)
from analytics.ingest.mapping import ColumnMapping, guess_kind, suggest, validate
from analytics.ingest.readers import (
    READER_ERROR,
    SourceFormat,
    ndjson_rejects_sql,
    out_of_memory,
    quote_ident,
    read_error,
    relation_sql,
    sniff,
)
from analytics.schema import KIND_FIELDS, KINDS_WITH_ATTRIBUTES, TABLE_COLUMNS
from analytics.workspace import Workspace

if TYPE_CHECKING:  # only preview_file returns a frame; without pandas the CLI starts 3x faster
    import pandas as pd

Progress = Callable[[float, str], None]
PREVIEW_ROWS = 20
GATE_ROWS = 5000  # rows the Data page's preview loads (rolled back) to run the plausibility gate
PII_SAMPLE_ROWS = 1000
SOURCES = ("online", "offline", "crm", "app", "other")


@dataclass(frozen=True)
class Inspection:
    """What a file is and how it would be mapped (shown before loading)."""

    name: str
    format: SourceFormat
    columns: list[str]
    preview: list[dict[str, Any]]
    kind: str
    preset: str | None
    preset_reason: str
    mapping: ColumnMapping
    pii: dict[str, str]
    # Values of the mapped event-type column in the sampled rows (value -> rows), and the
    # known vocabulary the suggested value map (mapping.value_map) comes from.
    event_values: dict[str, int] = field(default_factory=dict)
    vocabulary: str | None = None
    source: str = "online"  # suggested by the preset (in-store exports: offline)
    sample: list[dict[str, Any]] = field(default_factory=list, repr=False)  # first 1,000 rows

    def for_event_column(self, mapping: ColumnMapping) -> Inspection:
        """This inspection with the value counts and map suggested for ``mapping``'s event column."""
        if mapping.columns.get("event_type") == self.mapping.columns.get("event_type"):
            return replace(self, mapping=mapping)
        mapping, values, vocabulary = _with_value_map(replace(mapping, value_map={}), self.sample)
        return replace(self, mapping=mapping, event_values=values, vocabulary=vocabulary)


@dataclass(frozen=True)
class FileReport:
    """The outcome of loading one file."""

    path: str
    name: str
    dataset_id: str
    kind: str
    source: str
    preset: str | None
    format: str
    rows_read: int
    rows_loaded: int
    rows_rejected: int
    duplicates_skipped: int
    notes: list[str] = field(default_factory=list)
    reject_reasons: dict[str, int] = field(default_factory=dict)
    warnings: list[dict[str, str]] = field(default_factory=list)  # {code, message, hint}

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _resolve_mapping(columns: list[str], kind: str | None, preset: str
                     ) -> tuple[str, presets.Preset | None, ColumnMapping]:
    chosen: presets.Preset | None = None
    if preset == "auto":
        chosen = presets.detect(columns, kind)
        if chosen and chosen.name in ("canonical_users", "canonical_items") and kind is None:
            chosen = None
    elif preset not in ("none", ""):
        chosen = presets.by_name(preset)
        if chosen is None:
            names = ", ".join(p.name for p in presets.PRESETS)
            raise IngestError(f"Unknown preset {preset!r}.", hint=f"Use auto, none or one of: {names}.")
    if chosen:
        return chosen.kind, chosen, _with_synonyms(chosen, chosen.resolve(columns), columns)
    kind = kind or guess_kind(columns)
    return kind, None, suggest(kind, columns)[0]


def _with_synonyms(chosen: presets.Preset, mapping: ColumnMapping, columns: list[str]) -> ColumnMapping:
    """A canonical preset's exact names, plus what the suggester maps from the other columns.

    The canonical presets match on the required names alone, so a file with ``event_time,
    event_type, user_id`` and ``product_id`` used to load without item ids (the audit's
    clickstream: nothing to recommend). Named presets list their columns and stay as they are;
    so do canonical catalogue/CRM files, whose other columns are kept as attributes.
    """
    if chosen.name != "canonical_events":
        return mapping
    used = set(mapping.columns.values())
    suggested = suggest(mapping.kind, [c for c in columns if c not in used])[0].columns
    extra = {f: c for f, c in suggested.items() if f not in mapping.mapped()}
    return mapping.with_columns(extra) if extra else mapping


def inspect_file(ws: Workspace, path: Path, *, name: str | None = None, kind: str | None = None,
                 preset: str = "auto", delimiter: str | None = None, header: str = "auto"
                 ) -> Inspection:
    """Recognise format, preset, kind and mapping of ``path`` and preview its first rows."""
    name = name or Path(path).name
    requested = kind
    fmt = sniff(Path(path), ws.tmp_dir, name, delimiter, header)
    with ws.cursor() as cur:
        fmt, sql, params = relation_sql(cur, fmt)
        try:
            rel = cur.execute(f"SELECT * FROM ({sql}) LIMIT {PII_SAMPLE_ROWS}", params)
            rows = rel.fetchall()
        except duckdb.Error as e:
            raise read_error(fmt, e) from e
    columns = list(fmt.columns)
    records = [dict(zip(columns, row, strict=False)) for row in rows]
    kind, chosen, mapping = _resolve_mapping(columns, kind, preset)
    sample = {c: [r[c] for r in records if r.get(c) is not None] for c in columns}
    if not records:
        _refuse_unreadable(ws, fmt)
        raise IngestError(f"{name}: the file has a header but no data rows.",
                          hint="Export again with the data included.")
    reason = presets.why(chosen) if chosen else \
        f"no known export format recognised; columns suggested for {kind} from their names"
    if not fmt.header and chosen is None and kind == "events":
        mapping, reason = headerless.suggest(columns, records)
    elif chosen is None:
        mapping, reason = _explain_kind(kind, mapping, columns, records, requested is None)
        kind = mapping.kind
    inspection = Inspection(
        name=name, format=fmt, columns=columns, preview=records[:PREVIEW_ROWS], kind=kind,
        preset=chosen.name if chosen else None, preset_reason=reason, mapping=mapping,
        pii=pii.detect(sample, kind), sample=records,
        source=chosen.source if chosen else "online")
    mapping, values, vocabulary = _with_value_map(mapping, records)
    return replace(inspection, mapping=mapping, event_values=values, vocabulary=vocabulary)


def _explain_kind(kind: str, mapping: ColumnMapping, columns: list[str],
                  records: list[dict[str, Any]], guessed: bool) -> tuple[ColumnMapping, str]:
    """The guessed kind with its reason; a file of events is never guessed as users/items.

    Events missing user_id or event_time by name get them from the values."""
    if kind == "events" and not {"user_id", "event_time"} <= set(mapping.columns):
        filled = headerless.events_reason(mapping, columns, records, require_evidence=False)
        mapping = filled[0] if filled else mapping
    if guessed and kind in ("users", "items"):
        events = suggest("events", columns)[0]
        found = headerless.events_reason(events, columns, records)
        if found:
            return found[0], f"guessed {found[1]}; columns suggested from names and values"
        lines = headerless.transaction_lines(columns, records) if kind == "items" else None
        if lines:  # never a catalogue: loaded as one, every purchase would be lost
            return events, (f"guessed events, not a product list: it has {lines}, but no "
                            "column holds a date or time (map event_time)")
    required = [f.name for f in KIND_FIELDS[kind] if f.required and f.name in mapping.columns]
    shown = ", ".join(f"{f} = {mapping.columns[f]}" for f in required)
    return mapping, (f"no known export format recognised; guessed {kind}"
                     + (f" from {shown}" if shown else "") + "; columns suggested from their names")


def _event_values(mapping: ColumnMapping, records: list[dict[str, Any]]
                  ) -> tuple[dict[str, int], str | None]:
    """Counts of the event-type column's values in the sample, and a known vocabulary."""
    column = mapping.columns.get("event_type") if mapping.kind == "events" else None
    if column is None:
        return {}, None
    counts: dict[str, int] = {}
    for record in records:
        value = record.get(column)
        if value is not None and str(value).strip():
            key = str(value).strip()
            counts[key] = counts.get(key, 0) + 1
    ordered = dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:50])
    return ordered, vocab.suggest(counts)[1]


def _with_value_map(mapping: ColumnMapping, records: list[dict[str, Any]]
                    ) -> tuple[ColumnMapping, dict[str, int], str | None]:
    """``mapping`` with the value map suggested from its event column's sampled values."""
    values, vocabulary = _event_values(mapping, records)
    suggested = vocab.suggest(values)[0] if vocabulary else {}
    return replace(mapping, value_map={**suggested, **mapping.value_map}), values, vocabulary


_CSV_ERRORS = {"MISSING COLUMNS": "too few fields", "TOO MANY COLUMNS": "too many fields",
               "INVALID ENCODING": "invalid UTF-8 bytes", "UNQUOTED VALUE": "badly quoted value",
               "LINE SIZE OVER MAXIMUM": "line too long"}


def _refuse_unreadable(ws: Workspace, fmt: SourceFormat) -> None:
    """A delimited file whose every row is malformed: say so, with the first bad lines."""
    if fmt.format != "csv" or fmt.delimiter == " ":
        return
    with ws.cursor() as cur:
        _, sql, params = relation_sql(cur, fmt, store_rejects=True)
        try:
            cur.execute(f"SELECT count(*) FROM ({sql})", params).fetchall()  # fills reject_errors
            bad = cur.execute("SELECT line, any_value(error_type) FROM reject_errors GROUP BY line "
                              "ORDER BY line").fetchall()
        except duckdb.Error:
            return
    if bad:
        examples = "; ".join(f"line {line}: {_CSV_ERRORS.get(str(kind), 'malformed')}"
                             for line, kind in bad[:3])
        raise IngestError(
            f"{fmt.name}: none of its {len(bad):,} rows could be read ({examples}).",
            hint=f"Every row needs the header's {len(fmt.columns)} columns; check the delimiter "
            "and quoting. Nothing was changed.")


def _staging_sql(inspection: Inspection, reader_sql: str, reader_params: list[Any], salt: str,
                 pii_mode: str) -> tuple[str, list[Any]]:
    """Reader SQL with personal columns hashed (or dropped) before anything is stored."""
    mapped = set(inspection.mapping.columns.values())
    # a column a preset expression reads (a WooCommerce billing e-mail) is mapped too
    mapped |= {c for t in inspection.mapping.expressions.values() for c in presets.placeholders(t)}
    replace, exclude, params, sounds = [], [], [], []
    for column, kind in inspection.pii.items():
        if pii_mode == "drop" and column not in mapped:
            exclude.append(quote_ident(column))
        else:
            replace.append(f"{pii.hash_sql(column, kind)} AS {quote_ident(column)}")
            params.append(salt)
            if kind == "name":  # what the name sounds like, hashed (identity linking)
                sounds.append(f", {pii.sounds_sql(column)} AS "
                              f"{quote_ident(column + pii.SOUNDS_SUFFIX)}")
    projection = "*"
    if exclude:
        projection += f" EXCLUDE ({', '.join(exclude)})"
    if replace:
        projection += f" REPLACE ({', '.join(replace)})"
    projection += "".join(sounds)
    return f"SELECT {projection} FROM ({reader_sql})", params + [salt] * len(sounds) + reader_params


def _reason_sql(plan: normalise.Plan, has_reader_error: bool, dedup: tuple[str, ...] = ()) -> str:
    """The first reason a row cannot load (NULL if it can), over the ``__n_`` typed values."""
    required = {f.name for f in KIND_FIELDS[plan.kind] if f.required}
    whens = []
    if has_reader_error:
        whens.append(f"WHEN {READER_ERROR} IS NOT NULL THEN 'unreadable line: ' || {READER_ERROR}")
    if dedup:  # a re-sent copy of an event (see ColumnMapping.dedup_key)
        whens.append(f"WHEN {exportshapes.DUP_COLUMN} > 1 THEN {exportshapes.dup_reason(dedup)}")
    for typed in plan.typed:
        value = _typed_name(typed.name)
        if typed.raw is not None:
            failure = typed.failure.replace("'", "''")
            whens.append(
                f"WHEN __r_{typed.name} IS NOT NULL AND {value} IS NULL THEN "
                f"'{typed.name} ''' || left(CAST(__r_{typed.name} AS VARCHAR), 60) || "
                f"''' is not {failure}'")
        if typed.name in required:
            whens.append(f"WHEN {value} IS NULL THEN '{typed.name} is empty'")
    return f"CASE {' '.join(whens)} END" if whens else "CAST(NULL AS VARCHAR)"


def _typed_name(name: str) -> str:
    """The inner name of a typed value, apart from the source columns (which may share it)."""
    return quote_ident(f"__n_{name}")


def _attributes_sql(columns: list[str], mapping: ColumnMapping, plan: normalise.Plan) -> str:
    """JSON object of the source columns no canonical field uses (CRM / catalogue attributes)."""
    used = set(mapping.columns.values())
    rest = [c for c in columns if c not in used]
    if not rest:
        return "CAST(NULL AS VARCHAR)"
    pairs = ", ".join(f"{plan.param(c)}, {quote_ident(c)}" for c in rest)
    return f"CAST(json_object({pairs}) AS VARCHAR)"


# Record number (1 = first data row). Rowids of a table made inside a transaction start at a
# large offset, so count from the smallest.
_RECORD = "rowid - (SELECT min(rowid) FROM {table}) + 1"


def _raw_json_sql(columns: list[str], plan: normalise.Plan) -> str:
    """The source row as JSON text (what a rejected row is kept as)."""
    pairs = ", ".join(f"{plan.param(c)}, {quote_ident(c)}" for c in columns)
    return f"CAST(json_object({pairs}) AS VARCHAR)" if pairs else "CAST(NULL AS VARCHAR)"


def _norm_body(plan: normalise.Plan, columns: list[str], mapping: ColumnMapping,
               has_reader_error: bool, source: str, record: str | None) -> str:
    """One pass over the source: typed values and the reject reason of every row, the raw
    text only of the rows that fail, so the source itself is never stored.

    ``record`` is the SQL of a row's record number when the source is a staged table whose
    rowids number the records; otherwise the rowids of the table this pass fills number them.
    """
    inner = [f"{t.value} AS {_typed_name(t.name)}" for t in plan.typed]
    inner += [f"{t.raw} AS __r_{t.name}" for t in plan.typed if t.raw is not None]
    if mapping.dedup_key:
        inner.append(exportshapes.dup_sql(mapping.dedup_key, record))
    if record is not None:
        inner.append(f"{record} AS _rec")
    outer = [f"{_typed_name(t.name)} AS {quote_ident(t.name)}" for t in plan.typed]
    if plan.kind in KINDS_WITH_ATTRIBUTES:
        outer.append(f"{_attributes_sql(columns, mapping, plan)} AS attributes")
    outer.append("_reason")
    outer.append(f"CASE WHEN _reason IS NOT NULL THEN {_raw_json_sql(columns, plan)} END AS _raw_row")
    if record is not None:
        outer.append("_rec")
    reason = _reason_sql(plan, has_reader_error, mapping.dedup_key)
    return (f"SELECT {', '.join(outer)} FROM (SELECT *, {reason} "
            f"AS _reason FROM (SELECT *, {', '.join(inner)} FROM ({source})))")


def _execute(cur: duckdb.DuckDBPyConnection, sql: str, named: Mapping[str, Any],
             source_params: list[Any]) -> duckdb.DuckDBPyConnection:
    """Run ``sql`` with its named parameters and the reader's positional ones.

    The plan's named parameters and the reader's positional ones cannot share a statement:
    the reader's are bound by name too."""
    sql, positional = _named_positionals(sql, source_params)
    return cur.execute(sql, {**normalise.bind(sql, dict(named)), **positional})


def _create_norm(cur: duckdb.DuckDBPyConnection, plan: normalise.Plan, columns: list[str],
                 mapping: ColumnMapping, has_reader_error: bool, source: str,
                 source_params: list[Any], record: str | None) -> None:
    """The typed rows of the whole source, materialised once as ``_norm``."""
    body = _norm_body(plan, columns, mapping, has_reader_error, source, record)
    _execute(cur, f"CREATE TEMP TABLE _norm AS {body}", plan.params, source_params)


def _named_positionals(sql: str, params: list[Any]) -> tuple[str, dict[str, Any]]:
    """``sql`` with each ``?`` outside quotes (identifiers and literals) as ``$sN``."""
    out: list[str] = []
    quote: str | None = None
    count = 0
    for ch in sql:
        if quote is not None:
            quote = None if ch == quote else quote  # a doubled quote leaves and re-enters
        elif ch in "'\"":
            quote = ch
        elif ch == "?":
            out.append(f"$s{count}")
            count += 1
            continue
        out.append(ch)
    if count != len(params):
        raise AssertionError(f"{count} placeholders for {len(params)} reader parameters")
    return "".join(out), {f"s{i}": v for i, v in enumerate(params)}


_VALID_EVENTS = """
    SELECT n.* EXCLUDE (event_type, _reason, _raw_row),
           CASE WHEN n.event_type = 'purchase' AND (n.quantity < 0 OR n.revenue < 0)
                THEN 'refund' ELSE n.event_type END AS event_type
    FROM _norm n WHERE n._reason IS NULL"""

# Sessions for sources without one: a new session after SHOPPER_LENS_SESSION_GAP_MINUTES of
# inactivity, named after the user and its first event so that re-loads produce the same ids.
_DERIVED_SESSIONS = f"""
    SELECT * EXCLUDE (is_new, session_no),
        'auto:' || user_id || ':' || strftime(min(event_time) OVER (PARTITION BY user_id, session_no),
                                              '%Y%m%dT%H%M%S') AS session_id
    FROM (SELECT *, sum(is_new) OVER (PARTITION BY user_id ORDER BY event_time
                                      ROWS UNBOUNDED PRECEDING) AS session_no
          FROM (SELECT * EXCLUDE (session_id),
                  CASE WHEN event_time - lag(event_time) OVER (PARTITION BY user_id ORDER BY event_time)
                            <= to_minutes(CAST($gap AS BIGINT)) THEN 0 ELSE 1 END AS is_new
                FROM ({_VALID_EVENTS})))"""

_EVENTS_SELECT = """
    SELECT coalesce(m.user_id, v.user_id) AS user_id, v.user_id AS source_user_id, v.event_time,
           v.event_type, v.item_id, v.category, v.brand,
           coalesce(v.price, abs(v.revenue) / NULLIF(abs(v.quantity), 0)) AS price,
           CASE WHEN v.event_type = 'refund' THEN -abs(v.quantity) ELSE v.quantity END AS quantity,
           CASE WHEN v.event_type = 'purchase'
                THEN coalesce(v.revenue, v.price * coalesce(v.quantity, 1))
                WHEN v.event_type = 'refund'
                THEN -abs(coalesce(v.revenue, v.price * coalesce(v.quantity, 1))) END AS revenue,
           v.session_id, v.order_id, v.device, v.channel, v.country, v.search_query,
           $source AS source, v.rating
    FROM ({valid}) v LEFT JOIN identity_map m ON m.alias = v.user_id"""


def _insert_rows(cur: duckdb.DuckDBPyConnection, kind: str, dataset_id: str, source: str,
                 derive_sessions: bool) -> None:
    columns = TABLE_COLUMNS[kind]
    col_list = ", ".join(columns)
    params: dict[str, Any] = {"dataset": dataset_id}
    existing: str | None
    if kind == "events":
        valid = _DERIVED_SESSIONS if derive_sessions else _VALID_EVENTS
        new_rows = _EVENTS_SELECT.format(valid=valid)
        params["source"] = source
        if derive_sessions:
            params["gap"] = settings.get("SHOPPER_LENS_SESSION_GAP_MINUTES")
        lo = hi = None
        overlap = 0
        if cur.execute("SELECT count(*) FROM (SELECT 1 FROM events LIMIT 1)").fetchall()[0][0]:
            lo, hi = cur.execute("SELECT min(event_time), max(event_time) FROM _norm "
                                 "WHERE _reason IS NULL").fetchall()[0]
            overlap = cur.execute("SELECT count(*) FROM (SELECT 1 FROM events WHERE event_time "
                                  "BETWEEN ? AND ? LIMIT 1)", [lo, hi]).fetchall()[0][0]
        # Only an overlapping export can repeat stored rows; otherwise dedup within the file.
        existing = f"SELECT {col_list} FROM events WHERE event_time BETWEEN $lo AND $hi" \
            if overlap else None
        params.update(lo=lo, hi=hi)
    else:
        new_rows = f"SELECT {col_list} FROM _norm WHERE _reason IS NULL"
        existing = f"SELECT {col_list} FROM {kind}"
    if kind == "events":
        # Multiset difference: identical lines within one file are separate records (two units
        # bought twice the same day); only copies already stored by earlier files are skipped,
        # so a row seen n times here and m times before adds max(0, n - m).
        fresh = f"SELECT {col_list} FROM ({new_rows}) EXCEPT ALL {existing}" if existing else \
            f"SELECT {col_list} FROM ({new_rows})"
    else:  # catalogue, CRM, identity and assignment rows describe things: a repeat is the same
        fresh = f"SELECT {col_list} FROM ({new_rows}) EXCEPT {existing}"
    sql = f"INSERT INTO {kind} ({col_list}, dataset_id) SELECT *, $dataset FROM ({fresh})"
    cur.execute(sql, normalise.bind(sql, params))


# The events rows this load wrote (the direct path's stand-in for ``_norm``'s valid rows),
# with the user id as the file gave it. The dataset id is a session variable, so it is bound,
# and DuckDB folds it into a constant that skips other datasets' row groups.
_LOADED = ("(SELECT * REPLACE (source_user_id AS user_id) FROM events "
           "WHERE dataset_id = getvariable('shopper_lens_dataset'))")


def _direct_fits(cur: duckdb.DuckDBPyConnection, kind: str, fmt: SourceFormat,
                 plan: normalise.Plan, source: str, source_params: list[Any]) -> bool:
    """Can the rows go from the file straight into ``events``, without ``_norm``?

    Only if no stored event falls in the file's time range: then no row is a stored copy,
    so every valid row is written and rows_read = loaded + rejected holds without keeping
    the typed rows. NDJSON is staged whole (its broken lines are found by position)."""
    if kind != "events" or fmt.format == "ndjson":
        return False
    if not cur.execute("SELECT count(*) FROM (SELECT 1 FROM events LIMIT 1)").fetchall()[0][0]:
        return True
    event_time = next((t for t in plan.typed if t.name == "event_time"), None)
    if event_time is None:
        return False
    # Every parsed time, valid row or not: a range at least as wide as the loadable rows'.
    lo, hi = _execute(cur, f"SELECT min(v), max(v) FROM (SELECT {event_time.value} AS v "
                      f"FROM ({source}))", plan.params, source_params).fetchall()[0]
    if lo is None:
        return True
    overlap = cur.execute("SELECT count(*) FROM (SELECT 1 FROM events WHERE event_time "
                          "BETWEEN ? AND ? LIMIT 1)", [lo, hi]).fetchall()[0][0]
    return not overlap


def _load_direct(cur: duckdb.DuckDBPyConnection, plan: normalise.Plan,
                 passes: tuple[Callable[[str], str], tuple[str, list[Any]], tuple[str, list[Any]]],
                 dataset_id: str, source_name: str, derive_sessions: bool, fmt: SourceFormat
                 ) -> tuple[int, int]:
    """Write the valid rows of the one pass ``body`` into ``events``; count the rows; keep
    the failing ones (reason and raw text) as ``_norm`` only if there are any.

    ``passes`` is the one-pass SQL over a source, the source the write reads (with
    store_rejects for CSV) and the same reader without store_rejects, which counting and the
    reject pass read so that unreadable lines are recorded once. Returns (parsed, valid)."""
    make_body, (source, source_params), (quiet, quiet_params) = passes
    body = make_body(source)
    cur.execute("SET VARIABLE shopper_lens_dataset = ?", [dataset_id])
    columns = ", ".join(TABLE_COLUMNS["events"])
    valid = (_DERIVED_SESSIONS if derive_sessions else _VALID_EVENTS).replace(
        "FROM _norm n", f"FROM ({body}) n")
    params: dict[str, Any] = {**plan.params, "dataset": dataset_id, "source": source_name}
    if derive_sessions:
        params["gap"] = settings.get("SHOPPER_LENS_SESSION_GAP_MINUTES")
    try:
        _execute(cur, f"INSERT INTO events ({columns}, dataset_id) SELECT *, $dataset FROM "
                 f"(SELECT {columns} FROM ({_EVENTS_SELECT.format(valid=valid)}))",
                 params, source_params)
        loaded = _count(cur, f"SELECT count(*) FROM {_LOADED}")
        parsed = int(_execute(cur, f"SELECT count(*) FROM ({quiet})", {},
                              quiet_params).fetchall()[0][0])
        if parsed == loaded:
            cur.execute("CREATE TEMP TABLE _norm (_reason VARCHAR, _raw_row VARCHAR)")
        else:  # the rowids of _norm number the records, as on the other path
            _execute(cur, f"CREATE TEMP TABLE _norm AS SELECT _reason, _raw_row FROM "
                     f"({make_body(quiet)})", plan.params, quiet_params)
    except duckdb.OutOfMemoryException:
        raise
    except duckdb.Error as e:
        raise read_error(fmt, e) from e
    failing, total = cur.execute("SELECT count(_reason), count(*) FROM _norm").fetchall()[0]
    if parsed != loaded + failing or total not in (0, parsed):
        raise IngestError(f"{fmt.name}: the file changed while it was being read ({parsed:,} rows, "
                          f"{loaded:,} loaded, {failing:,} failing).",
                          hint="Load it again once it is complete. Nothing was changed.")
    return parsed, loaded


_CSV_REJECTS = """
    INSERT INTO rejects
    SELECT $dataset, line,
        'line ' || line || ': ' || string_agg(DISTINCT CASE error_type
            WHEN 'MISSING COLUMNS' THEN 'too few fields'
            WHEN 'TOO MANY COLUMNS' THEN 'too many fields'
            WHEN 'INVALID ENCODING' THEN 'invalid UTF-8 bytes'
            WHEN 'UNQUOTED VALUE' THEN 'badly quoted value'
            WHEN 'LINE SIZE OVER MAXIMUM' THEN 'line too long'
            ELSE 'malformed line' END, '; ')
            || CASE WHEN $withhold THEN ' (line text withheld: the file holds personal data)'
                    ELSE ' (' || any_value(error_message) || ')' END,
        CASE WHEN $withhold THEN NULL ELSE any_value(csv_line) END
    FROM reject_errors GROUP BY line"""


def _insert_rejects(cur: duckdb.DuckDBPyConnection, dataset_id: str, csv_rejects: bool,
                    fmt: SourceFormat, withhold: bool = False) -> None:
    """Record rejected rows. Parsed rows are kept as ``_norm`` carried them (already hashed);
    the raw text of an unparseable line cannot be hashed column by column, so with
    ``withhold`` (the file has personal columns) it is not stored at all."""
    record = "_rec" if fmt.format == "ndjson" else _RECORD.format(table="_norm")
    cur.execute(f"INSERT INTO rejects SELECT ?, {record}, _reason, _raw_row FROM _norm "
                "WHERE _reason IS NOT NULL", [dataset_id])
    if csv_rejects:
        cur.execute(_CSV_REJECTS, {"dataset": dataset_id, "withhold": withhold})
    if fmt.format == "ndjson":
        cur.execute("INSERT INTO rejects SELECT ?, n, 'line ' || n || ': not a JSON object', "
                    "CASE WHEN ? THEN NULL ELSE line END FROM _bad_lines", [dataset_id, withhold])


RELINK_SQL = (
    """UPDATE events SET user_id = m.user_id FROM identity_map m
       WHERE events.source_user_id = m.alias AND events.user_id <> m.user_id""",
    """UPDATE events SET user_id = source_user_id
       WHERE user_id <> source_user_id
         AND source_user_id NOT IN (SELECT alias FROM identity_map)""",
)


def relink_identities(cur: duckdb.DuckDBPyConnection) -> None:
    """Point every event at its master user id under the current identity map."""
    for statement in RELINK_SQL:
        cur.execute(statement)


def _count(cur: duckdb.DuckDBPyConnection, sql: str, params: Mapping[str, Any] | None = None) -> int:
    return int(cur.execute(sql, normalise.bind(sql, dict(params or {}))).fetchall()[0][0])


@dataclass
class _Options:
    source: str
    timezone: str
    pii_mode: str
    day_first: bool
    strict: bool = False
    allow_unknown_types: bool = False


@dataclass(frozen=True)
class LoadOptions:
    """How to read and map one file; every field has a sensible default."""

    name: str | None = None
    kind: str | None = None
    preset: str = "auto"
    mapping: Mapping[str, str | None] | None = None
    source: str | None = None
    timezone: str | None = None
    pii_mode: str | None = None
    day_first: bool = False
    delimiter: str | None = None
    constants: Mapping[str, str] | None = None
    # event_type by value (source value -> canonical type or "skip"), over the suggested map.
    event_map: Mapping[str, str] | None = None
    strict: bool = False  # refuse the file if the plausibility gate finds anything
    allow_unknown_types: bool = False  # load even if > 5% of rows have unknown event types
    header: str = "auto"  # auto | yes | no: does the first line of a delimited file name columns


def ingest_file(ws: Workspace, path: Path, options: LoadOptions | None = None, *,
                progress: Progress | None = None, **kwargs: Any) -> FileReport:
    """Load one file. Raises IngestError (and changes nothing) if the file is refused.

    Options come as a :class:`LoadOptions` or as its fields by keyword. ``mapping`` overrides
    the detected mapping field by field (``None`` unmaps a field).
    """
    say = progress or (lambda fraction, message: None)
    say(0.05, "Reading the file")
    options = options or LoadOptions(**kwargs)
    with _memory_guard(options.name or Path(path).name):
        inspection, column_map, resolved = _prepare(ws, Path(path), options)
        digest = file_sha256(Path(path))
        salt = ws.pii_salt()
        with ws.transaction() as cur:
            _refuse_duplicate(cur, digest, inspection.name, column_map.kind)
            report, _ = _load(cur, Path(path), inspection, column_map, resolved, digest, salt, say)
    say(1.0, "Done")
    return report


@contextmanager
def _memory_guard(name: str) -> Iterator[None]:
    """Any step of a load may hit SHOPPER_LENS_MEMORY_LIMIT: a message naming it, not a crash."""
    try:
        yield
    except duckdb.OutOfMemoryException as e:
        raise out_of_memory(name, e) from e


def preview_file(ws: Workspace, path: Path, options: LoadOptions | None = None,
                 rows: int = PREVIEW_ROWS, gate_rows: int | None = None
                 ) -> tuple[FileReport, pd.DataFrame]:
    """Run the real load on the first rows and roll it back: what would be stored.

    The load (and so the report and its plausibility warnings) covers ``gate_rows`` rows if
    given, else ``rows``; the frame holds at most ``rows`` of them.
    """
    options = options or LoadOptions()
    with _memory_guard(options.name or Path(path).name):
        inspection, column_map, resolved = _prepare(ws, Path(path), options)
        with ws.transaction(commit=False) as cur:
            report, dataset_id = _load(cur, Path(path), inspection, column_map, resolved, "preview",
                                       ws.pii_salt(), lambda f, m: None,
                                       limit=max(rows, gate_rows or 0))
            table = column_map.kind  # canonical table name from our whitelist
            frame = cur.execute(f"SELECT * EXCLUDE (dataset_id) FROM {table} "  # noqa: S608
                                f"WHERE dataset_id = ? LIMIT {int(rows)}", [dataset_id]).df()
    return report, frame


def headerless_looking(columns: list[str]) -> bool:
    """Column names that are numbers or dates: a data row read as the header."""
    from analytics.ingest.readers import header_verdict

    return header_verdict([columns, columns]) == "no"


def _kind_for(fields: set[str]) -> str | None:
    """The first kind that has every field the user mapped by hand."""
    if not fields:
        return None
    return next((k for k, fs in KIND_FIELDS.items() if fields <= {f.name for f in fs}), None)


def _prepare(ws: Workspace, path: Path, options: LoadOptions
             ) -> tuple[Inspection, ColumnMapping, _Options]:
    inspection = inspect_file(ws, path, name=options.name, kind=options.kind,
                              preset=options.preset, delimiter=options.delimiter,
                              header=options.header)
    wanted = _kind_for(set(options.mapping or {}))
    if options.kind is None and wanted and wanted != inspection.kind:
        inspection = inspect_file(ws, path, name=options.name, kind=wanted,
                                  preset=options.preset, delimiter=options.delimiter,
                                  header=options.header)
    refused = realshapes.refusal(inspection.columns, options.mapping, options.constants,
                                 inspection.name)  # shapes that cannot load honestly
    if refused is not None:
        raise refused
    inspection = inspection.for_event_column(inspection.mapping.with_columns(options.mapping or {}))
    column_map = inspection.mapping
    column_map = _with_defaults(column_map, inspection, options.source or inspection.source,
                                options.constants)
    if options.event_map:
        column_map = replace(column_map, value_map={**column_map.value_map,
                                                    **vocab.normalise_map(options.event_map)})
    try:
        normalise.price_scale(column_map)  # a bad --set price_scale is refused before any reading
    except IngestError as e:
        raise IngestError(f"{inspection.name}: {e.message}", hint=e.hint) from e
    lines = headerless.transaction_lines(inspection.columns, inspection.sample) \
        if options.kind is None and column_map.kind == "events" else None
    if lines and "event_time" not in column_map.mapped():
        raise MappingError(
            f"{inspection.name}: these are purchase lines, not a product list: the file has "
            f"{lines}, but no column holds a date or time, so they cannot become events "
            "(recency, RFM, journeys and cohorts all need one).",
            hint="Map the date column with --map event_time=COLUMN (Data page: the event_time "
            "box); a column of day numbers also needs --set time_unit=days --set "
            "time_origin=YYYY-MM-DD (the date of day 0). If it really is a product list, load "
            "it with --kind items. Nothing was changed.")
    try:
        validate(column_map, inspection.columns, inspection.name)
    except MappingError as e:
        refusal = exportshapes.results_file_refusal(inspection.name, inspection.columns)
        if refusal is not None:  # an uplift results file goes to the Experiments page
            raise refusal from e
        if inspection.format.header_unsure or headerless_looking(inspection.columns):
            raise MappingError(e.message + " The header row may be missing: the column names "
                               f"look like data ({', '.join(inspection.columns[:4])}).",
                               hint="Load with --header no (Data page: 'First line is a header' "
                               "off). " + e.hint) from e
        raise
    resolved = _Options(
        source=options.source or inspection.source,
        timezone=options.timezone or settings.get("SHOPPER_LENS_SOURCE_TIMEZONE"),
        pii_mode=options.pii_mode or settings.get("SHOPPER_LENS_PII"),
        day_first=options.day_first, strict=options.strict,
        allow_unknown_types=options.allow_unknown_types)
    return inspection, column_map, resolved


def _with_defaults(column_map: ColumnMapping, inspection: Inspection, source: str | None,
                   constants: Mapping[str, str] | None) -> ColumnMapping:
    extra = dict(constants or {})
    mapped = column_map.mapped()
    if column_map.kind == "events" and "event_type" not in mapped and "event_type" not in extra:
        fixed = _implied_event_type(mapped, source, inspection.name)
        if fixed:
            extra["event_type"] = fixed[0]
    if column_map.kind == "experiments" and "experiment" not in mapped:
        extra.setdefault("experiment", Path(inspection.name).name.split(".")[0])
    if not extra:
        return column_map
    # A fixed value the user set wins over the column or rule detected for that field.
    columns = {k: v for k, v in column_map.columns.items() if k not in extra}
    expressions = {k: v for k, v in column_map.expressions.items() if k not in extra}
    return replace(column_map, columns=columns, expressions=expressions,
                   constants={**column_map.constants, **extra})


# A file of one event type named for it (Dressipi's train_purchases.csv, yoochoose-buys.dat)
_PURCHASE_FILE = re.compile(r"(^|[^a-z])(purchases?|buys|orders|transactions|sales)([^a-z]|$)",
                            re.I)


def _implied_event_type(mapped: set[str], source: str | None, name: str
                        ) -> tuple[str, str] | None:
    """The event type of every row of an events file without an event column, and why: ratings
    are rate events; sales columns, an in-store source or a purchases file name purchases."""
    if "rating" in mapped:
        return "rate", "ratings"
    if {"order_id", "revenue", "price", "quantity"} & mapped or source == "offline":
        return "purchase", ("a purchase log: dates with amounts, quantities or orders"
                            if source != "offline" else "in-store sales")
    if _PURCHASE_FILE.search(Path(name).stem):
        return "purchase", f"the file name {name!r} says purchases"
    return None


def _refuse_duplicate(cur: duckdb.DuckDBPyConnection, digest: str, name: str,
                      kind: str | None = None) -> None:
    """Refuse a file already loaded in the same role; a second role (a customers file as
    identities and as users) is a different dataset and allowed."""
    found = cur.execute("SELECT name, dataset_id, strftime(loaded_at, '%Y-%m-%d %H:%M'), kind "
                        "FROM datasets WHERE sha256 = ? AND (CAST(? AS VARCHAR) IS NULL OR kind = ?)",
                        [digest, kind, kind]).fetchall()
    if found:
        old_name, dataset_id, when, old_kind = found[0]
        raise DuplicateDatasetError(
            f"{name}: this exact file was already loaded as {old_name!r} ({old_kind}, dataset "
            f"{dataset_id}, {when} UTC); loading it again would double its rows.",
            hint="Nothing was changed. Delete that dataset first if you want to reload it; "
            "the same file can be loaded once more as another kind.")


def _load(cur: duckdb.DuckDBPyConnection, path: Path, inspection: Inspection,
          column_map: ColumnMapping, options: _Options, digest: str, salt: str,
          say: Progress, limit: int | None = None) -> tuple[FileReport, str]:
    fmt = inspection.format
    csv_rejects = fmt.format == "csv" and fmt.delimiter != " "
    fmt, reader, reader_params = relation_sql(cur, fmt, store_rejects=csv_rejects)
    staging, params = _staging_sql(inspection, reader, reader_params, salt, options.pii_mode)
    if limit is not None:
        staging += f" LIMIT {int(limit)}"
    say(0.15, "Reading a sample")
    # The sample reads without store_rejects, so it does not fill reject_errors.
    _, sample_reader, sample_params = relation_sql(cur, fmt)
    sample = _staging_sql(inspection, sample_reader, sample_params, salt, options.pii_mode)
    if limit is not None:
        sample = (f"{sample[0]} LIMIT {int(limit)}", sample[1])
    source, source_params, record = _stage_sample(cur, fmt, (staging, params), sample)
    described = cur.execute("DESCRIBE _raw").fetchall()
    columns = [row[0] for row in described]
    dtypes = {row[0]: str(row[1]) for row in described}
    source_columns = [c for c in columns if c != READER_ERROR]
    try:
        plan = normalise.build(cur, column_map, dtypes, options.timezone, options.day_first)
    except IngestError as e:
        raise IngestError(f"{inspection.name}: {e.message}", hint=e.hint) from e
    dataset_id = uuid.uuid4().hex[:12]
    derive = column_map.kind == "events" and "session_id" not in column_map.mapped()
    has_error = READER_ERROR in columns
    say(0.3, "Reading, normalising and writing rows")
    valid_rows = plausibility.VALID
    try:
        direct = _direct_fits(cur, column_map.kind, fmt, plan, *sample)
    except duckdb.OutOfMemoryException:
        raise
    except duckdb.Error as e:
        raise read_error(fmt, e) from e
    if direct:
        passes = (lambda src: _norm_body(plan, source_columns, column_map, has_error, src, None),
                  (source, source_params), sample)
        counts: tuple[int, int] | None = _load_direct(
            cur, plan, passes, dataset_id, options.source, derive, fmt)
        valid_rows = _LOADED
    else:
        try:
            _create_norm(cur, plan, source_columns, column_map, has_error, source,
                         source_params, record)
        except duckdb.OutOfMemoryException:
            raise
        except duckdb.Error as e:
            raise read_error(fmt, e) from e
        say(0.55, "Removing duplicates and writing rows")
        _insert_rows(cur, column_map.kind, dataset_id, options.source, derive)
        counts = None
    say(0.8, "Keeping rejected rows")
    _insert_rejects(cur, dataset_id, csv_rejects, fmt, withhold=bool(inspection.pii))
    report = _report(cur, path, inspection, column_map, options, dataset_id, fmt, plan, derive,
                     counts)
    found = plausibility.check_events(cur, column_map, source_columns, valid_rows)
    report = replace(report, warnings=[w.as_json() for w in found],
                     notes=report.notes + _identical_lines_note(cur, column_map, valid_rows))
    if limit is None:  # the preview shows the warnings; only a load refuses
        _gate(cur, report, found, options, valid_rows)
    _record_dataset(cur, report, digest, fmt, column_map, options)
    if column_map.kind == "identities":
        relink_identities(cur)
    for table in ("_norm", "_raw") + (("_src",) if fmt.format == "ndjson" else ()):
        cur.execute(f"DROP TABLE {table}")
    return report, dataset_id


def _identical_lines_note(cur: duckdb.DuckDBPyConnection, column_map: ColumnMapping,
                          valid_rows: str = plausibility.VALID) -> list[str]:
    """Say how many rows repeat another row of the same file (all of them were kept).

    ``valid_rows`` is ``_norm``'s valid rows or, on the direct path, the rows written (as
    stored, with the file's own user id); a row repeats another if every field is equal."""
    if column_map.kind != "events":
        return []
    fields = ", ".join(quote_ident(f) for f in TABLE_COLUMNS["events"]
                       if f not in ("source_user_id", "source"))
    # Distinct row hashes are at most the distinct rows, so no repeated hash proves no repeated
    # row; only then is the exact (much slower) DISTINCT over every field skipped.
    if not _count(cur, f"SELECT count(*) - count(DISTINCT hash({fields})) FROM {valid_rows}"):
        return []
    repeats = _count(cur, f"SELECT count(*) - (SELECT count(*) FROM (SELECT DISTINCT {fields} "
                     f"FROM {valid_rows})) FROM {valid_rows}")
    if not repeats:
        return []
    return [f"{repeats:,} rows repeat another row of this file exactly; they were kept as separate "
            "records (two units of one product, two purchases the same day). Only rows that "
            "earlier files already stored count as duplicates."]


def _gate(cur: duckdb.DuckDBPyConnection, report: FileReport,
          found: list[plausibility.LoadWarning], options: _Options,
          valid_rows: str = plausibility.VALID) -> None:
    """Refuse (the transaction rolls back) on too many unknown event types, or under --strict."""
    any_unknown = any(w.code == "unknown_event_types" for w in found)  # else no row is unknown
    share = plausibility.unknown_share(cur, valid_rows) if report.kind == "events" and any_unknown else 0.0
    if share > plausibility.MAX_UNKNOWN_SHARE and not options.allow_unknown_types:
        unknown = next(w for w in found if w.code == "unknown_event_types")
        raise IngestError(f"{report.name}: {unknown.message}",
                          hint=unknown.hint + " Nothing was changed.")
    if options.strict and found:
        listed = " ".join(f"[{w.code}] {w.message}" for w in found)
        raise IngestError(f"{report.name}: refused under --strict: {listed}",
                          hint="Fix each: " + " ".join(w.hint for w in found)
                          + " Nothing was changed.")


def _stage_sample(cur: duckdb.DuckDBPyConnection, fmt: SourceFormat,
                  full: tuple[str, list[Any]], first: tuple[str, list[Any]]
                  ) -> tuple[str, list[Any], str | None]:
    """Stage the first rows as ``_raw`` (what the normaliser and the plausibility gate sample)
    and return the SQL the one full pass reads, its parameters and its record-number SQL.

    Only NDJSON is staged whole: its broken lines are found by position and removed first."""
    (staging, params), (first_sql, first_params) = full, first
    source, source_params, record = staging, params, None
    sample, params = f"SELECT * FROM ({first_sql}) LIMIT {normalise.SAMPLE_ROWS}", first_params
    try:
        if fmt.format == "ndjson":
            cur.execute(f"CREATE TEMP TABLE _src AS {staging}", source_params)
            _drop_broken_lines(cur, fmt)
            source, source_params = "SELECT *, rowid AS __rowid FROM _src", []
            record = "__rowid - (SELECT min(rowid) FROM _src) + 1"
            sample, params = f"SELECT * FROM _src LIMIT {normalise.SAMPLE_ROWS}", []
        cur.execute(f"CREATE TEMP TABLE _raw AS {sample}", params)
    except duckdb.Error as e:
        raise read_error(fmt, e) from e
    return source, source_params, record


def _drop_broken_lines(cur: duckdb.DuckDBPyConnection, fmt: SourceFormat) -> None:
    """Remove the empty rows read_json made for broken lines; the lines become rejects."""
    lines, params = ndjson_rejects_sql(fmt)
    cur.execute(f"CREATE TEMP TABLE _bad_lines AS {lines}", params)
    if fmt.unnested:  # rows are no longer records: a broken line left one empty row, or none
        empty = " AND ".join(f"{quote_ident(c)} IS NULL" for c in fmt.columns)
        cur.execute(f"DELETE FROM _src WHERE {empty}")
        return
    first = cur.execute("SELECT min(rowid) FROM _src").fetchall()[0][0]
    if first is not None:
        cur.execute("DELETE FROM _src WHERE rowid - ? + 1 IN (SELECT k FROM _bad_lines)", [first])


def _report(cur: duckdb.DuckDBPyConnection, path: Path, inspection: Inspection,
            column_map: ColumnMapping, options: _Options, dataset_id: str, fmt: SourceFormat,
            plan: normalise.Plan, derived_sessions: bool,
            counts: tuple[int, int] | None = None) -> FileReport:
    """The load's accounting; ``counts`` (rows parsed, rows valid) if ``_norm`` lacks them."""
    ds = {"d": dataset_id}
    parsed, valid = counts or (_count(cur, "SELECT count(*) FROM _norm"),
                               _count(cur, "SELECT count(*) FROM _norm WHERE _reason IS NULL"))
    loaded = _count(cur, f"SELECT count(*) FROM {column_map.kind} WHERE dataset_id = $d", ds)
    rejected = _count(cur, "SELECT count(*) FROM rejects WHERE dataset_id = $d", ds)
    unreadable = rejected - (parsed - valid)
    reasons = dict(cur.execute(
        "SELECT regexp_replace(reason, '''.*''', '''…''') AS r, count(*) FROM rejects "
        "WHERE dataset_id = ? GROUP BY r ORDER BY count(*) DESC LIMIT 10", [dataset_id]).fetchall())
    if parsed + unreadable == 0:
        raise IngestError(f"{inspection.name}: the file has a header but no data rows.",
                          hint="Export again with the data included.")
    if loaded == 0 and rejected > 0 and valid == 0:
        top = "; ".join(list(reasons)[:3])
        raise IngestError(
            f"{inspection.name}: none of its {parsed + unreadable:,} rows could be loaded "
            f"(for example: {top}).",
            hint="Check the column mapping (and the delimiter or date order); nothing was changed.")
    notes = list(fmt.notes) + plan.notes
    if not inspection.format.header and inspection.preset is None:
        notes.append(f"Mapping: {inspection.preset_reason}.")
    shape = presets.by_name(inspection.preset) if inspection.preset else None
    if shape is not None and shape.note:  # the recognised shape's caveat
        notes.append(shape.note)
    if derived_sessions:
        notes.append("No session column: sessions derived from 30-minute inactivity gaps.")
    visit = column_map.columns.get("session_id")
    if visit and column_map.columns.get("user_id") == visit and \
            not any("own shopper" in n for n in notes):
        notes.append(f"No shopper id: each session ({visit}) is its own shopper, so nobody "
                     "returns; recency, frequency and repeat purchases describe single visits. "
                     "Map user_id if the file has a shopper column.")
    notes += exportshapes.notes(cur, inspection.preset, column_map)
    if "event_type" in column_map.constants:
        fixed = column_map.constants["event_type"]
        if "event_type" in inspection.mapping.mapped():
            notes.append(f"Event type fixed: every row is a {fixed}.")
        else:
            implied = _implied_event_type(column_map.mapped(), options.source, inspection.name)
            why = f" ({implied[1]})" if implied and implied[0] == fixed else ""
            notes.append(f"No event type column: every row is a {fixed}{why}. Map an event "
                         "column or set event_type if that is wrong.")
    if column_map.value_map:
        used = {k: v for k, v in column_map.value_map.items()}
        shown = ", ".join(f"{k} → {v}" for k, v in list(used.items())[:12])
        notes.append(f"Event types by value ({inspection.vocabulary or 'your map'}): {shown}.")
    notes += [f"Column {c!r} looks like {k} data: "
              + ("dropped." if options.pii_mode == "drop" and c not in column_map.columns.values()
                 else "stored as a salted SHA-256 hash."
                 + (f" Its Soundex code is kept beside it, hashed too, as {c}{pii.SOUNDS_SUFFIX}"
                    " (identity linking compares names by it)." if k == "name" else ""))
              for c, k in inspection.pii.items()]
    return FileReport(
        path=str(path), name=inspection.name, dataset_id=dataset_id, kind=column_map.kind,
        source=options.source, preset=inspection.preset, format=fmt.describe(),
        rows_read=parsed + unreadable, rows_loaded=loaded, rows_rejected=rejected,
        duplicates_skipped=valid - loaded, notes=notes, reject_reasons=reasons)


def _record_dataset(cur: duckdb.DuckDBPyConnection, report: FileReport, digest: str,
                    fmt: SourceFormat, column_map: ColumnMapping, options: _Options) -> None:
    cur.execute(
        "INSERT INTO datasets (dataset_id, name, kind, source, sha256, format, encoding, preset, "
        "mapping, options, rows_read, rows_loaded, rows_rejected, duplicates_skipped, notes) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [report.dataset_id, report.name, report.kind, report.source, digest, fmt.describe(),
         fmt.encoding, report.preset, json.dumps(column_map.as_json()),
         json.dumps({"timezone": options.timezone, "pii": options.pii_mode,
                     "day_first": options.day_first}),
         report.rows_read, report.rows_loaded, report.rows_rejected, report.duplicates_skipped,
         json.dumps(report.notes)])
