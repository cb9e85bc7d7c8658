"""Recognise a file's format and turn it into a DuckDB relation of source columns.

Delimited text, JSON array, NDJSON and Parquet, each optionally gzip-compressed. Text is
read as VARCHAR so that no value is lost to type sniffing; the normaliser parses it. Nested
JSON/Parquet fields are flattened to ``parent.child`` columns.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import json
import re
import shutil
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import duckdb

from analytics import settings
from analytics.errors import IngestError

SAMPLE_BYTES = 1 << 20
MAX_LINE_BYTES = 64 << 20
# DuckDB's CSV buffer defaults to 16 x max_line_size (1 GiB, twice for gzip), which fails under any
# SHOPPER_LENS_MEMORY_LIMIT up to 2GB; it only has to hold one line more than the longest.
CSV_BUFFER_BYTES = MAX_LINE_BYTES + (1 << 20)
DELIMITERS = (",", ";", "\t", "|")
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe", " ": "whitespace",
                   "::": "double-colon"}
HEADER_CHOICES = ("auto", "yes", "no")
_GZIP_MAGIC = b"\x1f\x8b"
_PARQUET_MAGIC = b"PAR1"
# Optional column a reader adds to flag a row it could only partly read.
READER_ERROR = "__reader_error"
# The sniffer's csv module refuses fields over 128 KB by default; a huge field is data, not an error.
csv.field_size_limit(max(csv.field_size_limit(), MAX_LINE_BYTES))


@dataclass(frozen=True)
class SourceFormat:
    """How to read one file; ``path`` is what DuckDB reads (a UTF-8 copy if transcoded)."""

    path: Path
    name: str
    format: str  # csv | json | ndjson | parquet
    compression: str = "none"  # none | gzip
    encoding: str = "utf-8"
    delimiter: str = ","
    columns: tuple[str, ...] = ()
    select: str = "*"  # projection that flattens nested fields
    notes: tuple[str, ...] = field(default_factory=tuple)
    header: bool = True  # delimited text: the first line names the columns
    header_unsure: bool = False  # auto-detection could not tell (every column is text)
    unnested: str = ""  # a records column holding a list of events, one row per element

    def describe(self) -> str:
        parts = [self.format.upper() if self.format != "ndjson" else "NDJSON"]
        if self.format == "csv":
            parts.append(f"{DELIMITER_NAMES.get(self.delimiter, repr(self.delimiter))}-separated")
        if self.format == "csv" and not self.header:
            parts.append("no header row")
        if self.compression == "gzip":
            parts.append("gzip-compressed")
        parts.append(self.encoding)
        return ", ".join(parts)


def _refuse(name: str, problem: str, hint: str) -> IngestError:
    return IngestError(f"{name}: {problem}", hint=hint)


def _head(path: Path, name: str, compressed: bool) -> bytes:
    """The first (decompressed) megabyte of the file."""
    if not compressed:
        with path.open("rb") as fh:
            return fh.read(SAMPLE_BYTES)
    try:
        with gzip.open(path, "rb") as fh:
            return fh.read(SAMPLE_BYTES)
    except (OSError, EOFError, zlib.error) as e:
        raise _refuse(name, f"the gzip data is corrupt or truncated ({e}).",
                      "Re-export or re-compress the file and upload it again.") from e


def _utf16_without_bom(head: bytes) -> str | None:
    """``utf-16-le``/``-be`` when every other byte of mostly-ASCII text is NUL."""
    sample = head[:8192]
    pairs = len(sample) // 2
    if pairs < 2:
        return None
    even, odd = sample[0:2 * pairs:2], sample[1:2 * pairs:2]
    for zeros, other, name in ((odd, even, "utf-16-le"), (even, odd, "utf-16-be")):
        if zeros.count(0) >= 0.9 * pairs and other.count(0) == 0:
            return name
    return None


def _text_encoding(head: bytes, whole: bool = False) -> str:
    """The text encoding of a file from its first bytes (``whole``: they are the whole file)."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    utf16 = _utf16_without_bom(head)
    if utf16:
        return utf16
    if head.startswith(codecs.BOM_UTF8):
        head = head[3:]
    try:
        head.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as e:
        # a sample may end inside a multi-byte character: only that is forgiven, and not at
        # the end of a whole file (a stray 0x80, or cp1252's é, there is not UTF-8)
        if not whole and e.reason == "unexpected end of data" and e.start >= len(head) - 3:
            return "utf-8"
    try:
        head.decode("cp1252")
        return "cp1252"
    except UnicodeDecodeError:
        return "latin-1"


def _looks_binary(head: bytes) -> bool:
    sample = head[:8192]
    if not sample:
        return False
    control = sum(1 for b in sample if b < 32 and b not in (9, 10, 13))
    return b"\x00" in sample or control / len(sample) > 0.05


def _transcode(src: Path, dest_dir: Path, encoding: str, compressed: bool) -> Path:
    """Write a UTF-8 copy of a non-UTF-8 text file into the workspace's temp folder."""
    dest = dest_dir / f"utf8-{src.name.removesuffix('.gz')}"
    opener = gzip.open if compressed else open
    with opener(src, "rb") as raw, dest.open("w", encoding="utf-8", newline="") as out:
        reader = io.TextIOWrapper(raw, encoding=encoding, errors="strict", newline="")  # type: ignore[arg-type]
        try:
            shutil.copyfileobj(reader, out, 1 << 20)
        except UnicodeDecodeError as e:  # the sample decoded, a later part of the file does not
            raise _refuse(src.name, f"the text is not consistently {encoding} ({e.reason} after the "
                          "first megabyte or at the very end).",
                          "Save the file again as UTF-8 and upload it again.") from e
    return dest


def _split_lines(text: str) -> list[str]:
    lines = text.splitlines()
    return lines[:-1] if len(lines) > 1 and not text.endswith(("\n", "\r")) else lines


def _delimiter(text: str, name: str) -> str:
    """The delimiter that splits the first lines into the same number (> 1) of fields."""
    lines = [ln for ln in _split_lines(text)[:200] if ln.strip()]
    if lines and all(ln.count("::") == lines[0].count("::") > 0 for ln in lines):
        return "::"  # MovieLens-style .dat files
    best, best_score = "", 0.0
    for delim in DELIMITERS:
        counts = [len(row) for row in csv.reader(lines, delimiter=delim)]
        if not counts or counts[0] < 2:
            continue
        agree = sum(1 for c in counts if c == counts[0]) / len(counts)
        score = agree * counts[0] if agree >= 0.5 else 0.0
        if score > best_score:
            best, best_score = delim, score
    if best:
        return best
    widths = [len(ln.split()) for ln in lines]
    if widths and widths[0] > 1 and widths.count(widths[0]) / len(widths) >= 0.5:
        return " "
    # Most rows are ragged: trust the header, so that the bad rows are rejected line by line.
    header = {d: len(next(csv.reader(lines[:1], delimiter=d), [])) for d in DELIMITERS}
    widest = max(DELIMITERS, key=lambda d: header[d])
    if header[widest] > 1:
        return widest
    raise _refuse(
        name, "found only one column, so the delimiter could not be recognised.",
        "Use comma, semicolon, tab, pipe or whitespace between columns, or choose the "
        "delimiter explicitly (--delimiter).",
    )


_NUMBER = re.compile(r"[-+]?(\d+([.,]\d*)?|[.,]\d+)([eE][-+]?\d+)?")
_DATE = re.compile(r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?"
                   r"(Z|[+-]\d{2}:?\d{2})?)?")


def _cell_class(value: str) -> str:
    value = value.strip().strip('"')
    if not value:
        return "empty"
    if _NUMBER.fullmatch(value):
        return "number"
    if _DATE.fullmatch(value):
        return "date"
    return "text"


def split_rows(text: str, delimiter: str, limit: int = 50) -> list[list[str]]:
    """The first ``limit`` non-empty lines split into fields."""
    lines = [ln for ln in _split_lines(text)[:limit] if ln.strip()]
    if delimiter == " ":
        return [ln.split() for ln in lines]
    if delimiter == "::":
        return [ln.split("::") for ln in lines]
    return list(csv.reader(lines, delimiter=delimiter))


def header_verdict(rows: list[list[str]]) -> str:
    """``yes`` (the first row names columns), ``no`` (it parses like the data) or ``unsure``.

    A header is words above numbers or dates; a first row of numbers, dates and ids like the
    rows below it is data. Columns that are text all the way down cannot tell either way.
    """
    if len(rows) < 2:
        return "unsure"
    first, rest = rows[0], rows[1:]
    telling = 0
    for i, cell in enumerate(first):
        below = [_cell_class(r[i]) for r in rest if i < len(r)]
        below = [c for c in below if c != "empty"]
        if not below:
            continue
        typical = max(set(below), key=below.count)
        if typical == "text":
            continue
        mine = _cell_class(cell)
        if mine == "text":
            return "yes"
        if mine == typical:
            telling += 1
    if telling:
        return "no"
    return "yes" if any(_known_name(cell) for cell in first) else "unsure"


def _known_name(cell: str) -> bool:
    """A canonical field name or one of its synonyms (``Customer ID``, ``title``)."""
    from analytics.ingest.mapping import normalise_name
    from analytics.schema import KIND_FIELDS

    norm = normalise_name(cell)
    return any(norm == f.name or norm in f.synonyms or norm.replace("_", "") in f.synonyms
               for fields in KIND_FIELDS.values() for f in fields)


def _check_header(columns: list[str], name: str) -> None:
    seen: dict[str, str] = {}
    for col in columns:
        key = col.strip().lower()
        if key in seen:
            if not key:
                raise _refuse(name, "two columns have no name in the header row.",
                              "Give every column a name in the file and upload it again.")
            same = seen[key] == col
            raise _refuse(
                name,
                f"the columns {seen[key]!r} and {col!r} "
                + ("have the same name." if same else "differ only by upper/lower case or "
                   "surrounding spaces, which would make them the same column name."),
                "Rename one of them in the file and upload it again.",
            )
        seen[key] = col


def _json_kind(text: str, name: str) -> str:
    stripped = text.lstrip()
    if stripped.startswith("["):
        return "json"
    first = stripped.split("\n", 1)[0].strip()
    try:
        if isinstance(json.loads(first), dict):
            _check_ndjson_records(text, name)
            return "ndjson"
    except json.JSONDecodeError:
        pass
    raise _refuse(
        name, "is JSON, but neither an array of records nor one record per line (NDJSON).",
        "Export the records as a JSON array ([{...}, {...}]) or as NDJSON.",
    )


def _check_ndjson_records(text: str, name: str) -> None:
    """Refuse NDJSON with a line that is valid JSON but not a record (the reader cannot skip it).

    Broken lines are fine: they become rejects.
    """
    for number, line in enumerate(_split_lines(text), start=1):
        try:
            value = json.loads(line) if line.strip() else {}
        except (json.JSONDecodeError, RecursionError):
            continue
        if not isinstance(value, dict):
            raise _refuse(name, f"line {number} is JSON but not a record: {line.strip()[:60]}",
                          "Every line of an NDJSON file must be one JSON object ({...}); remove or "
                          "fix that line.")


def sniff(path: Path, tmp_dir: Path, name: str | None = None, delimiter: str | None = None,
          header: str = "auto") -> SourceFormat:
    """Recognise the format of ``path`` (no database needed). Raises IngestError.

    ``header``: auto (detect), yes or no — whether a delimited file's first line names columns.
    """
    name = name or path.name
    if header not in HEADER_CHOICES:
        raise _refuse(name, f"--header {header!r} is not one of auto, yes, no.",
                      "Use --header auto (default), yes or no.")
    if not path.exists():
        raise _refuse(name, "the file does not exist.", "Check the path.")
    if path.stat().st_size == 0:
        raise _refuse(name, "the file is empty (0 bytes).", "Check the export and try again.")
    with path.open("rb") as fh:
        magic = fh.read(4)
    if magic == _PARQUET_MAGIC:
        return SourceFormat(path, name, "parquet", encoding="binary")
    compressed = magic[:2] == _GZIP_MAGIC
    head = _head(path, name, compressed)
    fmt = SourceFormat(path, name, "csv", "gzip" if compressed else "none")
    if not head.strip():
        raise _refuse(name, "the file has no content.", "Check the export and try again.")
    encoding = _text_encoding(head, whole=len(head) < SAMPLE_BYTES)
    if not encoding.startswith("utf-16") and _looks_binary(head):
        raise _refuse(
            name, "this is not a text, JSON or Parquet file (it contains binary data).",
            "Upload CSV/TSV, JSON, NDJSON or Parquet, optionally gzip-compressed.",
        )
    if encoding != "utf-8":
        fmt = replace(fmt, path=_transcode(path, tmp_dir, encoding, compressed), compression="none",
                      encoding=encoding, notes=(f"Not valid UTF-8: decoded as {encoding}.",))
    text = head.decode("utf-16" if encoding == "utf-16" else encoding, errors="replace")
    text = text.lstrip("\ufeff")
    if not text.strip():
        raise _refuse(name, "the file has no content.", "Check the export and try again.")
    if text.lstrip()[:1] in ("[", "{"):
        return replace(fmt, format=_json_kind(text, name))
    delim = delimiter or _delimiter(text, name)
    rows = split_rows(text, delim)
    verdict = header_verdict(rows) if header == "auto" else header
    if verdict == "no":
        widths = [len(r) for r in rows[:50]] or [1]
        width = max(set(widths), key=widths.count)
        names = tuple(f"column_{i + 1}" for i in range(width))
        note = ("No header row: the first line holds data like the rest (numbers, dates, ids), so "
                f"the columns are named column_1…column_{width} and every line is a row."
                if header == "auto" else f"No header row (--header no): columns column_1…column_{width}.")
        return replace(fmt, delimiter=delim, header=False, columns=names, notes=fmt.notes + (note,))
    _check_header(rows[0] if rows else [], name)
    unsure = verdict == "unsure" and header == "auto"
    notes = fmt.notes + (("The first line was read as the header, but every column holds text, so "
                          "this is a guess: the header may be missing (then choose --header no)."
                          ,) if unsure and len(rows) > 1 else ())
    return replace(fmt, delimiter=delim, header_unsure=unsure, notes=notes)


def _reader_call(fmt: SourceFormat, store_rejects: bool) -> tuple[str, list[Any]]:
    compression = "gzip" if fmt.compression == "gzip" else "none"
    if fmt.format == "parquet":
        return "read_parquet(?)", [str(fmt.path)]
    if fmt.format == "json":
        return ("read_json(?, format = 'array', records = true, sample_size = -1, "
                "compression = ?, maximum_object_size = ?)",
                [str(fmt.path), compression, MAX_LINE_BYTES])
    if fmt.format == "ndjson":  # broken lines are skipped here and kept by ndjson_rejects_sql
        return ("read_json(?, format = 'newline_delimited', records = true, sample_size = -1, "
                "compression = ?, maximum_object_size = ?, ignore_errors = true)",
                [str(fmt.path), compression, MAX_LINE_BYTES])
    if fmt.delimiter == " ":
        return ("read_csv(?, delim = ?, header = false, quote = '', escape = '', "
                "columns = {'line': 'VARCHAR'}, compression = ?, max_line_size = ?, buffer_size = ?, "
                "auto_detect = false)",
                [str(fmt.path), "\x1f", compression, MAX_LINE_BYTES, CSV_BUFFER_BYTES])
    rejects = "store_rejects = true" if store_rejects else "ignore_errors = true"
    names, name_params = ("", []) if fmt.header else (", names = ?", [list(fmt.columns)])
    return (f"read_csv(?, delim = ?, header = {str(fmt.header).lower()}, all_varchar = true, "
            f"quote = '\"', escape = '\"', null_padding = false, compression = ?, max_line_size = ?, "
            f"buffer_size = ?, {rejects}{names})",
            [str(fmt.path), fmt.delimiter, compression, MAX_LINE_BYTES, CSV_BUFFER_BYTES, *name_params])


def ndjson_rejects_sql(fmt: SourceFormat) -> tuple[str, list[Any]]:
    """Broken NDJSON lines: (k = position among records, n = line number, text).

    read_json(ignore_errors) yields an all-NULL row for each of them, at position k.
    """
    compression = "gzip" if fmt.compression == "gzip" else "none"
    sql = ("SELECT k, n, line FROM (SELECT row_number() OVER () AS k, n, line FROM ("
           "SELECT row_number() OVER () AS n, line FROM read_csv(?, "
           "delim = ?, header = false, quote = '', escape = '', columns = {'line': 'VARCHAR'}, "
           "compression = ?, max_line_size = ?, buffer_size = ?, auto_detect = false)) "
           "WHERE trim(coalesce(line, '')) <> '') WHERE NOT json_valid(line)")
    return sql, [str(fmt.path), "\x1f", compression, MAX_LINE_BYTES, CSV_BUFFER_BYTES]


def quote_ident(name: str) -> str:
    """A double-quoted SQL identifier (embedded quotes doubled)."""
    return '"' + name.replace('"', '""') + '"'


def _flatten(columns: list[tuple[str, str]]) -> tuple[list[str], str]:
    """Projection turning STRUCT columns into ``a.b`` columns, lists/maps into JSON text."""
    names: list[str] = []
    exprs: list[str] = []

    def visit(path: list[str], dtype: str) -> None:
        if dtype.startswith("STRUCT(") and not dtype.endswith("[]"):  # STRUCT(…)[] is a list
            for child, child_type in _struct_fields(dtype):
                visit([*path, child], child_type)
            return
        expr = ".".join(quote_ident(p) for p in path)
        if dtype == "JSON":  # mixed-type JSON values: strings unquoted, null as NULL
            expr = f"json_extract_string({expr}, '$')"
        elif dtype.endswith("[]") or dtype.startswith(("MAP(", "UNION(")):
            expr = f"CAST(to_json({expr}) AS VARCHAR)"
        label = ".".join(path)
        names.append(label)
        exprs.append(f"{expr} AS {quote_ident(label)}")

    for col, dtype in columns:
        visit([col], dtype)
    return names, ", ".join(exprs)


def _struct_fields(dtype: str) -> list[tuple[str, str]]:
    """Split ``STRUCT(a INT, "b c" STRUCT(x INT))`` into its top-level fields."""
    body = dtype[len("STRUCT("):-1]
    fields, depth, start = [], 0, 0
    for i, ch in enumerate(body + ","):
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            fields.append(body[start:i].strip())
            start = i + 1
    out = []
    for part in fields:
        m = re.match(r'^("(?:[^"]|"")*"|\S+)\s+(.*)$', part, re.S)
        if m:
            label = m.group(1)
            label = label[1:-1].replace('""', '"') if label.startswith('"') else label
            out.append((label, m.group(2)))
    return out


def relation_sql(cur: duckdb.DuckDBPyConnection, fmt: SourceFormat, store_rejects: bool = False
                 ) -> tuple[SourceFormat, str, list[Any]]:
    """Resolve the columns of ``fmt`` and return it with ``SELECT … FROM reader`` SQL."""
    call, params = _reader_call(fmt, store_rejects)
    try:
        described = cur.execute(f"DESCRIBE SELECT * FROM {call}", params).fetchall()
    except duckdb.Error as e:
        raise _read_error(fmt, e) from e
    if fmt.delimiter == " " and fmt.format == "csv":
        return _whitespace_sql(cur, fmt, call, params)
    columns = [(row[0], str(row[1])) for row in described]
    events = _events_list(columns)  # only JSON and Parquet have lists
    # GA4's nested export: a row per product (its preset reads the product's revenue); in
    # other files a product list stays JSON text, as their event-level revenue would repeat
    ga4 = {"event_timestamp", "event_name", "user_pseudo_id"} <= {c.lower() for c, _ in columns}
    items = _list_of_records(columns, "items") if ga4 and events is None else None
    if events is not None:  # one record per visit holding its events (OTTO): a row per event
        quoted = quote_ident(events)
        fmt, call, columns = _unnest(
            cur, fmt, params, events, f"unnest({quoted}, recursive := true) FROM {call}",
            f"Each record holds a list of events (`{events}`): read as one row per event, with "
            "the record's other fields repeated.")
    elif items is not None:  # a row per product; an event without any stays one row
        quoted = quote_ident(items)
        fmt, call, columns = _unnest(
            cur, fmt, params, items, f"unnest(CASE WHEN len({quoted}) > 0 THEN {quoted} "
            f"ELSE [NULL] END) AS {quoted} FROM {call}",
            f"Events carry a list of products (`{items}`): read as one row per product, the "
            "event's fields repeated (an event without products stays one row).")
    elif (long := _long_attributes(columns)) is not None:  # item, property, value: pivot
        fmt, call, columns = _pivot(cur, fmt, call, params, *long)
    names, projection = _flatten(columns)
    _check_header(names, fmt.name)
    fmt = replace(fmt, columns=tuple(names), select=projection)
    return fmt, f"SELECT {projection} FROM {call}", params


# A catalogue (or CRM table) in long form, one row per item and property (RetailRocket's
# item_properties: timestamp, itemid, property, value; Dressipi's item_features: item_id,
# feature_category_id, feature_value_id). Loaded row by row it would list every item many
# times, with no category.
_LONG_ENTITY = re.compile(r"(item|product|article|sku|entity|user|customer|member|client)_?id",
                          re.I)
_LONG_PROPERTY = re.compile(r"property|attribute|attribute_(code|name)|property_name|feature|"
                            r"feature_(name|category_id)|key", re.I)
_LONG_VALUE = re.compile(r"value|(attribute|property|feature)_value(_id)?", re.I)
_LONG_TIME = re.compile(r"timestamp|time|date|updated_at", re.I)
MAX_PIVOTED = 100  # properties kept as columns, the most frequent first
PIVOT_SAMPLE_ROWS = 200_000  # rows read to find the property names


def _long_attributes(columns: list[tuple[str, str]]) -> tuple[str, str, str, str | None] | None:
    """(item or shopper, property, value, time or None) columns when these are all a file
    has."""
    def one(pattern: re.Pattern[str]) -> str | None:
        found = [c for c, _ in columns if pattern.fullmatch(c)]
        return found[0] if len(found) == 1 else None
    item, prop, value, time = (one(_LONG_ENTITY), one(_LONG_PROPERTY), one(_LONG_VALUE),
                               one(_LONG_TIME))
    if not (item and prop and value) or len(columns) != 3 + (time is not None):
        return None
    return item, prop, value, time


def _pivot(cur: duckdb.DuckDBPyConnection, fmt: SourceFormat, call: str, params: list[Any],
           item: str, prop: str, value: str, time: str | None
           ) -> tuple[SourceFormat, str, list[tuple[str, str]]]:
    """The reader call pivoted to one row per item: a column per property holding its latest
    value (by ``time``; without one, the distinct values joined by ``|``). Properties named by
    words (categoryid, available) are kept; numeric names (anonymised ids) only when the file
    has no named ones."""
    p, v, i = quote_ident(prop), quote_ident(value), quote_ident(item)
    found = cur.execute(
        f"SELECT trim(CAST({p} AS VARCHAR)) AS n, count(*) FROM (SELECT {p} FROM {call} "
        f"LIMIT {PIVOT_SAMPLE_ROWS}) WHERE n <> '' GROUP BY n ORDER BY count(*) DESC, n",
        params).fetchall()
    named = [str(n) for n, _ in found if not str(n).isdigit()]
    numeric = [str(n) for n, _ in found if str(n).isdigit()]
    kept = (named or numeric)[:MAX_PIVOTED]
    text = f"CAST({v} AS VARCHAR)"
    # the latest by time (epoch digits padded, so 999 sorts before 1000); else every value
    latest = (f"arg_max({text}, lpad(CAST({quote_ident(time)} AS VARCHAR), 40, '0'))" if time
              else f"string_agg(DISTINCT {text}, '|' ORDER BY {text})")
    columns = [f"{latest} FILTER (WHERE trim(CAST({p} AS VARCHAR)) = {_sql_text(n)}) AS "
               + quote_ident(n if not n.isdigit() else f"attribute_{n}") for n in kept]
    call = f"(SELECT {i}, {', '.join(columns) or 'NULL AS ' + quote_ident(prop)} " \
           f"FROM {call} GROUP BY {i})"
    left = len(found) - len(kept)
    note = (f"A table in long form ({item}, {prop}, {value}"
            + (f", {time}" if time else "") + f"): read as one row per {item}, each property a "
            + ("column with its latest value" if time else "column (several values joined by |)")
            + f"; {len(kept)} properties kept ({', '.join(kept[:8])}{', …' if len(kept) > 8 else ''})"
            + (f"; not loaded: {left} more found in the first {PIVOT_SAMPLE_ROWS:,} rows"
               + (", with numeric names (anonymised ids, meaningless here)" if named and numeric
                  else f" (only the {MAX_PIVOTED} most frequent are kept)") if left else "") + ".")
    described = cur.execute(f"DESCRIBE SELECT * FROM {call}", params).fetchall()
    fmt = replace(fmt, unnested=item, notes=fmt.notes if note in fmt.notes else (*fmt.notes, note))
    return fmt, call, [(row[0], str(row[1])) for row in described]


def _sql_text(text: str) -> str:
    """A SQL string literal (quotes doubled): the pivot's property names, taken from the file,
    sit in FILTER clauses, where the reader's positional parameters cannot be mixed in."""
    return "'" + text.replace("'", "''") + "'"


def _unnest(cur: duckdb.DuckDBPyConnection, fmt: SourceFormat, params: list[Any], column: str,
            unnested: str, note: str) -> tuple[SourceFormat, str, list[tuple[str, str]]]:
    """The reader call with ``column`` unnested (``unnested``: the select list's tail and FROM),
    its columns, and ``fmt`` marked and noted (once, however often the file is resolved)."""
    call = f"(SELECT * EXCLUDE ({quote_ident(column)}), {unnested})"
    described = cur.execute(f"DESCRIBE SELECT * FROM {call}", params).fetchall()
    fmt = replace(fmt, unnested=column, notes=fmt.notes if note in fmt.notes else (*fmt.notes, note))
    return fmt, call, [(row[0], str(row[1])) for row in described]


def _events_list(columns: list[tuple[str, str]]) -> str | None:
    """The column of a records file that is its list of events: named events, a list of flat
    structs beside scalar fields only (OTTO's sessions)."""
    lists = [(c, t) for c, t in columns if t.endswith("[]") or t.startswith("MAP(")]
    name = _list_of_records(columns, "events")
    clash = {f.lower() for f, _ in _struct_fields(dict(columns)[name][:-2])} & \
        {c.lower() for c, _ in columns} if name else set()
    return name if name and len(lists) == 1 and not clash and all(
        not t.startswith("STRUCT(") for c, t in columns if c != name) else None


def _list_of_records(columns: list[tuple[str, str]], wanted: str) -> str | None:
    """The column named ``wanted`` (any case) if it is a list of flat records (GA4's items,
    OTTO's events); any other list stays JSON text."""
    name, dtype = next(((c, t) for c, t in columns if c.lower() == wanted), ("", ""))
    if not (dtype.startswith("STRUCT(") and dtype.endswith(")[]")):
        return None
    fields = _struct_fields(dtype[:-2])
    plain = all(not (t.startswith("STRUCT(") or t.endswith("]")) for _, t in fields)
    return name if fields and plain else None


def _whitespace_sql(cur: duckdb.DuckDBPyConnection, fmt: SourceFormat, call: str,
                    params: list[Any]) -> tuple[SourceFormat, str, list[Any]]:
    try:
        first = cur.execute(f"SELECT line FROM {call} LIMIT 1", params).fetchall()
    except duckdb.Error as e:
        raise _read_error(fmt, e) from e
    header = str(first[0][0]).split() if first else []
    if not fmt.header:
        header = list(fmt.columns)
    _check_header(header, fmt.name)
    cols = ", ".join(f"parts[{i + 1}] AS {quote_ident(h)}" for i, h in enumerate(header))
    width = len(header)
    # Rows of the wrong width are kept and flagged: the normaliser turns the flag into a reject.
    sql = (f"SELECT {cols}, CASE WHEN len(parts) <> {width} THEN 'expected {width} fields, "
           f"found ' || len(parts) END AS {READER_ERROR} "
           f"FROM (SELECT regexp_split_to_array(trim(line), '\\s+') AS parts "
           f"FROM {call} WHERE trim(coalesce(line, '')) <> '' OFFSET {int(fmt.header)})")
    return replace(fmt, columns=tuple(header)), sql, params


def out_of_memory(name: str, e: duckdb.Error) -> IngestError:
    """The file needs more memory than the workspace may use: say which setting limits it."""
    limit = settings.get("SHOPPER_LENS_MEMORY_LIMIT")
    return _refuse(name, f"loading it needs more memory than SHOPPER_LENS_MEMORY_LIMIT={limit} allows "
                   f"({_first_line(str(e))}).",
                   "Raise SHOPPER_LENS_MEMORY_LIMIT (default 4GB) and load it again, or split the "
                   "file. Nothing was changed.")


def _read_error(fmt: SourceFormat, e: duckdb.Error) -> IngestError:
    text = str(e)
    lowered = text.lower()
    if isinstance(e, duckdb.OutOfMemoryException):
        return out_of_memory(fmt.name, e)
    if isinstance(e, duckdb.PermissionException):
        return _refuse(fmt.name, f"{fmt.path.parent} is outside the folders this workspace may "
                       "read (file access is locked to the workspace).",
                       "Upload the file on the Data page, or load it with `shopper-lens ingest "
                       "PATH`, which allows the folder of each file it is given.")
    if any(w in lowered for w in ("gzip", "zlib", "decompress", "inflate")):
        return _refuse(fmt.name, "the gzip data is corrupt or truncated.",
                       "Re-export or re-compress the file and upload it again.")
    if fmt.format in ("json", "ndjson") and "non-record" in lowered:
        return _refuse(fmt.name, "it holds JSON values that are not records (objects with named "
                       "fields).", "Export the records as a JSON array of objects ([{...}, {...}]) "
                       "or as NDJSON (one object per line).")
    if fmt.format in ("json", "ndjson"):
        return _refuse(fmt.name, f"the JSON could not be read ({_first_line(text)}).",
                       "Check that the file is a JSON array of records or NDJSON.")
    if fmt.format == "parquet":
        return _refuse(fmt.name, f"the Parquet file could not be read ({_first_line(text)}).",
                       "Re-export the file; it may be truncated.")
    if "sniffing" in lowered:
        return _refuse(fmt.name, "its lines could not be split into columns consistently, often "
                       "because a quote (\") is opened and never closed, or the line endings change "
                       "within the file.",
                       "Open it in a spreadsheet and save it again as CSV, or fix the quoting.")
    return _refuse(fmt.name, f"the file could not be read ({_first_line(text)}).",
                   "Check the delimiter and quoting, or export the file again as UTF-8 CSV.")


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else text
    return line[:300]


def read_error(fmt: SourceFormat, e: duckdb.Error) -> IngestError:
    """Public wrapper: a user-facing error for a DuckDB failure while reading ``fmt``."""
    return _read_error(fmt, e)
