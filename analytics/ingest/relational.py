"""Relational exports: several related files (orders, order lines, customers, products, …) as one.

A shape names the role each file plays (recognised from its columns), the keys that join the
files, and how canonical rows are built from the join. Keys are checked on the data (shared column
names and value overlap) and shown before loading; the whole set lands in one transaction, each
file accounted for (``rows_read == rows_loaded + rows_rejected + duplicates_skipped``).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import duckdb

from analytics import settings
from analytics.errors import IngestError, ShopperLensError
from analytics.ingest import load, vocab
from analytics.ingest.mapping import ColumnMapping
from analytics.ingest.readers import quote_ident, read_error, relation_sql, sniff
from analytics.workspace import Workspace

Progress = Callable[[float, str], None]

# Which order statuses are purchases comes from the one table of order statuses
# (analytics/ingest/vocab.py). Olist orders only created, unavailable or canceled were never paid
# or delivered, so their lines are rejected with that reason.
OLIST_PURCHASE_STATUSES = vocab.purchase_statuses(vocab.OLIST_STATUSES)
# Shopify `Financial Status` values whose lines are not revenue: never paid, or refunded in full.
SHOPIFY_NOT_REVENUE = vocab.not_purchase_statuses(vocab.SHOPIFY_FINANCIAL)
# WooCommerce statuses (optionally `wc-` prefixed) that are paid orders; pending, on-hold,
# cancelled, refunded and failed orders are not revenue.
WOO_PURCHASE_STATUSES = vocab.purchase_statuses(vocab.WOO_STATUSES)
# Order-level columns of the common order-export plugins, which some fill on the first line only.
WOO_ORDER_FIELDS = ("Order Status", "Order Date", "Email (Billing)", "Country Code (Billing)")
# Shopify order-level columns, filled in only on the first line of an order.
SHOPIFY_ORDER_FIELDS = ("Email", "Financial Status", "Paid at", "Created at", "Currency",
                        "Billing Country", "Source")


class RelationalError(IngestError):
    title = "Related files not loaded"


@dataclass(frozen=True)
class Role:
    """One file of an export, recognised by the columns it must have."""

    name: str
    label: str
    signature: tuple[str, ...]
    required: bool = True
    needs: tuple[str, ...] = ()  # roles this one is useless without (a lookup needs its table)


@dataclass(frozen=True)
class Join:
    """``child.column`` refers to ``parent.column`` (a key the loader relies on)."""

    child: str
    parent: str
    column: str


@dataclass(frozen=True)
class Step:
    """One dataset the shape writes: canonical ``kind`` rows built by ``select`` from one role's file.

    ``select`` is SQL over the staged files, written as ``{role}`` placeholders; ``problems`` (if any)
    yields ``(_line, reason)`` for that file's rows that cannot become rows at all. ``units``: the
    select groups several source rows into one (its ``_units`` column counts them).
    """

    role: str
    kind: str
    select: str
    mapping: ColumnMapping
    problems: str | None = None
    units: bool = False
    note: str = ""


@dataclass(frozen=True)
class Shape:
    name: str
    label: str
    roles: tuple[Role, ...]
    joins: tuple[Join, ...]
    steps: tuple[Step, ...]
    lookups: tuple[str, ...] = ()  # roles used only to enrich others (not stored as rows)

    def role(self, name: str) -> Role:
        return next(r for r in self.roles if r.name == name)


@dataclass(frozen=True)
class SourceFile:
    path: Path
    name: str
    columns: tuple[str, ...]
    format: str


@dataclass(frozen=True)
class Recognition:
    """Which shape a set of files is, which file plays which role, and what is missing."""

    shape: Shape
    files: dict[str, SourceFile]
    others: list[SourceFile]
    missing: list[str]

    def as_json(self) -> dict[str, Any]:
        return {"shape": self.shape.name, "label": self.shape.label,
                "roles": {r: f.name for r, f in self.files.items()},
                "missing": self.missing, "others": [f.name for f in self.others]}


@dataclass(frozen=True)
class KeyMatch:
    """A column two files share, and how many of the child's distinct values the parent has."""

    child: str
    child_file: str
    parent: str
    parent_file: str
    column: str
    child_values: int
    matched: int
    parent_unique: bool
    expected: bool

    @property
    def match_rate(self) -> float:
        return self.matched / self.child_values if self.child_values else 0.0

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "match_rate": round(self.match_rate, 4)}


@dataclass(frozen=True)
class RelationalReport:
    shape: str
    label: str
    keys: list[KeyMatch]
    files: list[load.FileReport]
    notes: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"shape": self.shape, "label": self.label,
                "keys": [k.as_json() for k in self.keys],
                "files": [f.as_json() for f in self.files], "notes": self.notes}


def _in_list(values: tuple[str, ...]) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


def _first(role: str, key: str) -> str:
    """A parent file with one row per key (the first), so a join never multiplies child rows."""
    return (f"(SELECT * FROM {{{role}}} QUALIFY row_number() OVER "
            f"(PARTITION BY {quote_ident(key)} ORDER BY _line) = 1)")


_OLIST_LINES = f"""
    SELECT l.order_id, l.product_id, l.price, count(*) AS _units, min(l._line) AS _first_line,
           any_value(o.customer_id) AS customer_id,
           any_value(o.order_purchase_timestamp) AS order_purchase_timestamp,
           any_value(coalesce(t.product_category_name_english, p.product_category_name)) AS category
    FROM {{order_items}} l JOIN {_first("orders", "order_id")} o ON o.order_id = l.order_id
    LEFT JOIN {_first("products", "product_id")} p ON p.product_id = l.product_id
    LEFT JOIN {_first("category_translation", "product_category_name")} t
           ON t.product_category_name = p.product_category_name
    WHERE lower(trim(o.order_status)) IN ({_in_list(OLIST_PURCHASE_STATUSES)})
    GROUP BY l.order_id, l.product_id, l.price ORDER BY _first_line"""

_OLIST_LINE_PROBLEMS = f"""
    SELECT l._line, CASE
        WHEN l.order_id IS NULL THEN 'order_id is empty'
        WHEN o.order_id IS NULL THEN 'order ''' || l.order_id || ''' is not in ' || {{orders_file}}
        ELSE 'order status ''' || coalesce(o.order_status, '') || ''' is not a purchase '
             || '(only {", ".join(OLIST_PURCHASE_STATUSES)} are)' END AS reason
    FROM {{order_items}} l LEFT JOIN {_first("orders", "order_id")} o ON o.order_id = l.order_id
    WHERE o.order_id IS NULL
       OR lower(trim(coalesce(o.order_status, ''))) NOT IN ({_in_list(OLIST_PURCHASE_STATUSES)})"""

OLIST = Shape(
    "olist", "Olist-style marketplace export",
    roles=(
        Role("order_items", "order lines", ("order_id", "order_item_id", "product_id", "price")),
        Role("orders", "order headers",
             ("order_id", "customer_id", "order_status", "order_purchase_timestamp")),
        Role("customers", "customers", ("customer_id", "customer_unique_id")),
        Role("products", "products", ("product_id", "product_category_name"), required=False),
        Role("category_translation", "category-name translation",
             ("product_category_name", "product_category_name_english"), required=False,
             needs=("products",)),
    ),
    joins=(Join("order_items", "orders", "order_id"), Join("orders", "customers", "customer_id"),
           Join("order_items", "products", "product_id"),
           Join("products", "category_translation", "product_category_name")),
    steps=(
        Step("customers", "identities",
             "SELECT customer_id, customer_unique_id FROM {customers} ORDER BY _line",
             ColumnMapping("identities", {"alias": "customer_id", "user_id": "customer_unique_id"},
                           constants={"alias_type": "olist customer_id"}),
             note="per-order customer_id -> person (customer_unique_id)"),
        Step("customers", "users",
             "SELECT * EXCLUDE (customer_id, _line) FROM {customers} "
             "QUALIFY row_number() OVER (PARTITION BY customer_unique_id ORDER BY _line) = 1 "
             "ORDER BY customer_unique_id",
             ColumnMapping("users", {"user_id": "customer_unique_id"}),
             note="one row per person (customer_unique_id)"),
        Step("orders", "identities",
             "SELECT order_id, customer_id FROM {orders} ORDER BY _line",
             ColumnMapping("identities", {"alias": "order_id", "user_id": "customer_id"},
                           constants={"alias_type": "olist order_id"}),
             note="order_id -> per-order customer_id"),
        Step("products", "items",
             "SELECT p.* EXCLUDE (_line), coalesce(t.product_category_name_english, "
             "p.product_category_name) AS category FROM {products} p "
             f"LEFT JOIN {_first('category_translation', 'product_category_name')} t "
             "ON t.product_category_name = p.product_category_name ORDER BY p._line",
             ColumnMapping("items", {"item_id": "product_id", "category": "category"}),
             note="category translated to English where the translation file has it"),
        Step("order_items", "events", _OLIST_LINES,
             ColumnMapping("events", {"user_id": "customer_id", "event_time": "order_purchase_timestamp",
                                      "item_id": "product_id", "category": "category",
                                      "price": "price", "quantity": "_units",
                                      "order_id": "order_id"},
                           constants={"event_type": "purchase"}),
             problems=_OLIST_LINE_PROBLEMS, units=True,
             note="one row per unit (order_item_id): units of one product in one order are one "
                  "purchase with quantity = units; revenue is the item price (freight excluded)"),
    ),
    lookups=("category_translation",),
)


def _filled(key: str, fields: tuple[str, ...]) -> str:
    """Line-item rows with their order's fields filled in (exports give them on one line only)."""
    filled = ", ".join(
        f"first_value(NULLIF(trim({quote_ident(c)}), '') IGNORE NULLS) OVER w AS {quote_ident(c)}"
        for c in fields)
    return (f"SELECT * REPLACE ({filled}) FROM {{orders}} WINDOW w AS (PARTITION BY "
            f"{quote_ident(key)} ORDER BY _line ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED "
            "FOLLOWING)")


_SHOPIFY_LINES = f"""
    SELECT "Name", "Email", coalesce("Paid at", "Created at") AS _time,
           coalesce(NULLIF(trim("Lineitem sku"), ''), "Lineitem name") AS _item,
           "Lineitem price", "Lineitem quantity", "Billing Country", "Source", _line
    FROM ({_filled("Name", SHOPIFY_ORDER_FIELDS)})
    WHERE lower(coalesce("Financial Status", '')) NOT IN ({_in_list(SHOPIFY_NOT_REVENUE)})
    ORDER BY _line"""

_SHOPIFY_PROBLEMS = f"""
    SELECT _line, 'order ''' || "Name" || ''' has financial status ''' || "Financial Status"
                  || ''': not revenue (never paid or refunded in full)' AS reason
    FROM ({_filled("Name", SHOPIFY_ORDER_FIELDS)})
    WHERE lower(coalesce("Financial Status", '')) IN ({_in_list(SHOPIFY_NOT_REVENUE)})"""

SHOPIFY = Shape(
    "shopify", "Shopify orders export (one row per line item)",
    roles=(Role("orders", "orders with line items",
                ("Name", "Email", "Financial Status", "Created at", "Lineitem name",
                 "Lineitem quantity", "Lineitem price")),),
    joins=(),
    steps=(Step("orders", "events", _SHOPIFY_LINES,
                ColumnMapping("events", {"user_id": "Email", "event_time": "_time", "order_id": "Name",
                                         "item_id": "_item", "price": "Lineitem price",
                                         "quantity": "Lineitem quantity",
                                         "country": "Billing Country", "channel": "Source"},
                              constants={"event_type": "purchase"}),
                problems=_SHOPIFY_PROBLEMS,
                note="order-level fields (Email, Financial Status, Paid at, …) filled in from "
                     "the first line of each order"),),
)

_WOO_STATUS = "lower(regexp_replace(coalesce(\"Order Status\", ''), '^wc-', ''))"

_WOO_LINES = f"""
    SELECT "Order Number", "Email (Billing)", "Order Date",
           coalesce(NULLIF(trim("SKU"), ''), "Item Name") AS _item, "Item Cost", "Quantity",
           "Country Code (Billing)", _line
    FROM ({_filled("Order Number", WOO_ORDER_FIELDS)})
    WHERE {_WOO_STATUS} IN ({_in_list(WOO_PURCHASE_STATUSES)})
    ORDER BY _line"""

_WOO_PROBLEMS = f"""
    SELECT _line, 'order ''' || "Order Number" || ''' has status '''
                  || coalesce("Order Status", '') || ''': not revenue (only '
                  || '{", ".join(WOO_PURCHASE_STATUSES)} orders are)' AS reason
    FROM ({_filled("Order Number", WOO_ORDER_FIELDS)})
    WHERE {_WOO_STATUS} NOT IN ({_in_list(WOO_PURCHASE_STATUSES)})"""

WOOCOMMERCE = Shape(
    "woocommerce", "WooCommerce order export (one row per line item)",
    roles=(Role("orders", "orders with line items",
                ("Order Number", "Order Status", "Order Date", "Email (Billing)", "Item Name",
                 "Quantity", "Item Cost")),),
    joins=(),
    steps=(Step("orders", "events", _WOO_LINES,
                ColumnMapping("events", {"user_id": "Email (Billing)", "event_time": "Order Date",
                                         "order_id": "Order Number", "item_id": "_item",
                                         "price": "Item Cost", "quantity": "Quantity",
                                         "country": "Country Code (Billing)"},
                              constants={"event_type": "purchase"}),
                problems=_WOO_PROBLEMS,
                note="order fields filled in from the order's first line; only completed and "
                     "processing orders are revenue"),),
)

SHAPES: tuple[Shape, ...] = (OLIST, SHOPIFY, WOOCOMMERCE)


def _columns(ws: Workspace, path: Path, name: str) -> SourceFile:
    """The file's columns; an unreadable file has none (the single-file path then says why)."""
    try:
        fmt = sniff(path, ws.tmp_dir, name)
        with ws.cursor() as cur:
            fmt, _, _ = relation_sql(cur, fmt)
    except ShopperLensError:
        return SourceFile(path, name, (), "unreadable")
    return SourceFile(path, name, fmt.columns, fmt.describe())


def _role_of(shape: Shape, columns: tuple[str, ...]) -> Role | None:
    present = set(columns)
    found = [r for r in shape.roles if set(r.signature) <= present]
    return max(found, key=lambda r: len(r.signature), default=None)


def recognise(ws: Workspace, paths: list[Path], names: list[str] | None = None
              ) -> Recognition | None:
    """The shape these files make up, or None when they are not a known relational export.

    A multi-file shape needs two or more of its files; a one-file shape (Shopify) needs its file.
    """
    files = [_columns(ws, Path(p), n) for p, n in zip(paths, names or [Path(p).name for p in paths],
                                                     strict=True)]
    for shape in SHAPES:
        assigned: dict[str, SourceFile] = {}
        others: list[SourceFile] = []
        for f in files:
            role = _role_of(shape, f.columns)
            if role is None or role.name in assigned:
                others.append(f)
            else:
                assigned[role.name] = f
        if len(assigned) >= min(2, len(shape.roles)):
            wanted = {r.name for r in shape.roles if r.required}
            wanted |= {n for r in shape.roles if r.name in assigned for n in r.needs}
            missing = [r.name for r in shape.roles if r.name in wanted and r.name not in assigned]
            return Recognition(shape, assigned, others, missing)
    return None


def recognise_sets(ws: Workspace, paths: list[Path], names: list[str] | None = None
                   ) -> tuple[list[Recognition], list[Path]]:
    """Every known export among the files (two Shopify exports are two sets), and the paths of
    the files no set claims (they load one by one)."""
    pending = list(zip(paths, names or [Path(p).name for p in paths], strict=True))
    found: list[Recognition] = []
    while pending:
        recognition = recognise(ws, [p for p, _ in pending], [n for _, n in pending])
        if recognition is None:
            break
        found.append(recognition)
        pending = [(f.path, f.name) for f in recognition.others]
    return found, [Path(p) for p, _ in pending]


def check(recognition: Recognition) -> None:
    """Refuse a set with a missing file or key column, naming what is missing and what to do."""
    if not recognition.missing:
        return
    shape = recognition.shape
    parts = []
    for name in recognition.missing:
        role = shape.role(name)
        near = [(f, [c for c in role.signature if c not in f.columns]) for f in recognition.others]
        near = [(f, lacks) for f, lacks in near if len(lacks) < len(role.signature) / 2 + 1]
        if near:
            f, lacks = min(near, key=lambda p: len(p[1]))
            parts.append(f"{f.name} looks like the {role.label} file but has no "
                         f"{', '.join(lacks)} column")
        else:
            parts.append(f"no {role.label} file (columns {', '.join(role.signature)})")
    given = ", ".join(f"{f.name} ({r})" for r, f in recognition.files.items())
    labels = [r.label for r in shape.roles if r.required]
    needed = " and ".join([", ".join(labels[:-1]), labels[-1]] if len(labels) > 1 else labels)
    raise RelationalError(
        f"These files look like an {shape.label} ({given}), but the set is incomplete: "
        + "; ".join(parts) + f". The {needed} files are all needed to tie each purchase to a "
        "person.",
        hint="Add the missing file (or export it again with that column) and load the files "
        "together. Nothing was changed. To load one file on its own, pass --preset none "
        "(or upload it alone).")


def _stage(cur: duckdb.DuckDBPyConnection, ws: Workspace, role: str, f: SourceFile) -> None:
    """The file as a temp table of text columns plus ``_line`` (1 = first data row)."""
    fmt = sniff(f.path, ws.tmp_dir, f.name)
    fmt, sql, params = relation_sql(cur, fmt, store_rejects=fmt.format == "csv")
    try:
        before = _rejected_lines(cur)
        cur.execute(f"CREATE OR REPLACE TEMP TABLE _relraw AS {sql}", params)
        bad = _rejected_lines(cur) - before
        cur.execute(f"CREATE OR REPLACE TEMP TABLE {_table(role)} AS SELECT *, "
                    "rowid - (SELECT min(rowid) FROM _relraw) + 1 AS _line FROM _relraw")
        cur.execute("DROP TABLE _relraw")
    except duckdb.Error as e:
        raise read_error(fmt, e) from e
    if bad:
        raise RelationalError(
            f"{f.name}: {bad:,} line(s) could not be read (wrong number of fields or bad quoting).",
            hint="Related files are joined on their keys, so every line must be readable: fix the "
            "lines, or load the file on its own (its bad lines are then kept as rejects). "
            "Nothing was changed.")


def _rejected_lines(cur: duckdb.DuckDBPyConnection) -> int:
    exists = cur.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'reject_errors'"
                         ).fetchall()[0][0]
    if not exists:  # (a failed query would abort the surrounding transaction)
        return 0
    return int(cur.execute("SELECT count(DISTINCT (scan_id, line)) FROM reject_errors"
                           ).fetchall()[0][0])


def _table(role: str) -> str:
    return quote_ident(f"_rel_{role}")


def _stage_all(cur: duckdb.DuckDBPyConnection, ws: Workspace, recognition: Recognition) -> None:
    for role in recognition.shape.roles:
        f = recognition.files.get(role.name)
        if f is not None:
            _stage(cur, ws, role.name, f)
        else:  # an absent optional file joins as an empty table
            cols = ", ".join(f"CAST(NULL AS VARCHAR) AS {quote_ident(c)}" for c in role.signature)
            cur.execute(f"CREATE OR REPLACE TEMP TABLE {_table(role.name)} AS "
                        f"SELECT {cols}, CAST(NULL AS BIGINT) AS _line WHERE false")


def _sql(template: str, recognition: Recognition) -> str:
    """Fill ``{role}`` with the staged table and ``{role_file}`` with the file name (a literal)."""
    names = {f"{r.name}_file": "'" + (recognition.files[r.name].name if r.name in recognition.files
                                      else r.label).replace("'", "''") + "'"
             for r in recognition.shape.roles}
    return template.format(**{r.name: _table(r.name) for r in recognition.shape.roles}, **names)


def _key_matches(cur: duckdb.DuckDBPyConnection, recognition: Recognition) -> list[KeyMatch]:
    """Every column two files share, with value overlap; the shape's own keys first."""
    expected = {(j.child, j.parent, j.column) for j in recognition.shape.joins}
    roles = [r.name for r in recognition.shape.roles if r.name in recognition.files]
    found = []
    for child in roles:
        for parent in roles:
            if child == parent:
                continue
            shared = set(recognition.files[child].columns) & set(recognition.files[parent].columns)
            for column in sorted(shared):
                if (parent, child, column) in expected:
                    continue  # the same key seen from the other side
                match = _overlap(cur, recognition, child, parent, column,
                                 (child, parent, column) in expected)
                if match and (match.expected or (match.parent_unique and match.matched)):
                    found.append(match)
    return sorted(found, key=lambda k: (not k.expected, k.child, k.parent))


def _overlap(cur: duckdb.DuckDBPyConnection, recognition: Recognition, child: str, parent: str,
             column: str, expected: bool) -> KeyMatch | None:
    col = quote_ident(column)
    values, matched, unique = cur.execute(
        f"SELECT count(DISTINCT c.{col}), count(DISTINCT c.{col}) FILTER "
        f"(WHERE c.{col} IN (SELECT {col} FROM {_table(parent)})), "
        f"(SELECT count({col}) = count(DISTINCT {col}) FROM {_table(parent)}) "
        f"FROM {_table(child)} c").fetchall()[0]
    if not expected and not unique:
        return None
    return KeyMatch(child, recognition.files[child].name, parent, recognition.files[parent].name,
                    column, int(values), int(matched), bool(unique), expected)


def detect_keys(ws: Workspace, recognition: Recognition) -> list[KeyMatch]:
    """The joins between the files, measured on their values (shown before loading)."""
    check(recognition)
    with ws.cursor() as cur:
        _stage_all(cur, ws, recognition)
        return _key_matches(cur, recognition)


def _refuse_broken_keys(keys: list[KeyMatch]) -> None:
    for key in keys:
        if key.expected and key.child_values and key.matched == 0:
            raise RelationalError(
                f"No {key.column} of {key.child_file} is in {key.parent_file}: the files do not "
                "come from the same export (or a key column holds something else).",
                hint="Export the files together, from the same period. Nothing was changed.")


def load_relational(ws: Workspace, recognition: Recognition, *, source: str | None = None,
                    timezone: str | None = None, pii_mode: str | None = None,
                    day_first: bool = False, progress: Progress | None = None
                    ) -> RelationalReport:
    """Load a recognised set in one transaction: it lands whole or not at all.

    ``source``, ``timezone``, ``pii_mode`` and ``day_first`` mean what they mean for one file
    (:class:`analytics.ingest.LoadOptions`) and apply to every file of the set.
    """
    say = progress or (lambda fraction, message: None)
    check(recognition)
    shape = recognition.shape
    options = load._Options(source=source or "online",
                            timezone=timezone or settings.get("SHOPPER_LENS_SOURCE_TIMEZONE"),
                            pii_mode=pii_mode or settings.get("SHOPPER_LENS_PII"),
                            day_first=day_first)
    salt = ws.pii_salt()
    reports: list[load.FileReport] = []
    with load._memory_guard(shape.label), ws.transaction() as cur:
        say(0.05, "Reading the files")
        _stage_all(cur, ws, recognition)
        keys = _key_matches(cur, recognition)
        _refuse_broken_keys(keys)
        steps = [s for s in shape.steps if s.role in recognition.files]
        for i, step in enumerate(steps):
            say(0.1 + 0.8 * i / len(steps), f"Loading {recognition.files[step.role].name} "
                                             f"as {step.kind}")
            reports.append(_run_step(ws, cur, recognition, step, options, salt))
        reports += [_lookup_report(cur, recognition, role) for role in shape.lookups
                    if role in recognition.files]
    say(1.0, "Done")
    notes = [f"{k.child_file}.{k.column} -> {k.parent_file}: {k.matched:,} of {k.child_values:,} "
             f"values match ({k.match_rate:.1%})" for k in keys if k.expected]
    return RelationalReport(shape.name, shape.label, keys, reports, notes)


def _run_step(ws: Workspace, cur: duckdb.DuckDBPyConnection, recognition: Recognition, step: Step,
              options: load._Options, salt: str) -> load.FileReport:
    """Build the step's rows, load them through the single-file loader, then account per source row."""
    source = recognition.files[step.role]
    digest = load.file_sha256(source.path)
    load._refuse_duplicate(cur, digest, source.name, step.kind)
    cur.execute(f"CREATE OR REPLACE TEMP TABLE _relstep AS {_sql(step.select, recognition)}")
    derived = ws.tmp_dir / f"relational-{uuid.uuid4().hex[:10]}.parquet"
    try:
        target = str(derived).replace("'", "''")
        order = " ORDER BY _first_line" if step.units else ""  # record n = group n (see _unit_counts)
        cur.execute(f"COPY (SELECT * FROM _relstep{order}) TO '{target}' (FORMAT parquet)")
        inspection = load.inspect_file(ws, derived, name=source.name, kind=step.kind, preset="none")
        inspection = replace(inspection, mapping=step.mapping,
                             preset=f"{recognition.shape.name}:{step.role}")
        report, dataset_id = load._load(cur, derived, inspection, step.mapping, options, digest,
                                        salt, lambda f, m: None)
    finally:
        derived.unlink(missing_ok=True)
    report = _account(cur, recognition, step, report, dataset_id)
    cur.execute("DROP TABLE _relstep")
    return report


def _account(cur: duckdb.DuckDBPyConnection, recognition: Recognition, step: Step,
             report: load.FileReport, dataset_id: str) -> load.FileReport:
    """Turn the derived rows' counts into counts of the source file's rows, and record them."""
    source = recognition.files[step.role]
    shape = recognition.shape
    read = _scalar(cur, f"SELECT count(*) FROM {_table(step.role)}")
    if step.units:  # before the problem rows join the rejects: it renumbers this step's rejects
        loaded, rejected = _unit_counts(cur, dataset_id)
    else:
        loaded, rejected = report.rows_loaded, report.rows_rejected
    problems = 0
    if step.problems:
        problems = _scalar(cur, f"SELECT count(*) FROM ({_sql(step.problems, recognition)})")
        cur.execute(f"INSERT INTO rejects SELECT ?, _line, reason, NULL FROM "
                    f"({_sql(step.problems, recognition)}) ORDER BY _line", [dataset_id])
    rejected += problems
    notes = [*report.notes, f"{shape.label}: {step.note}."] if step.note else list(report.notes)
    if step.units and report.rows_loaded != loaded:
        notes.append(f"{loaded:,} order lines stored as {report.rows_loaded:,} purchase events.")
    reasons = dict(report.reject_reasons)
    if problems:
        reasons.update(_problem_reasons(cur, step, recognition))
    final = replace(report, path=str(source.path), format=source.format, rows_read=read,
                    rows_loaded=loaded, rows_rejected=rejected,
                    duplicates_skipped=read - loaded - rejected, notes=notes, reject_reasons=reasons)
    cur.execute("UPDATE datasets SET rows_read = ?, rows_loaded = ?, rows_rejected = ?, "
                "duplicates_skipped = ?, format = ?, notes = ? WHERE dataset_id = ?",
                [final.rows_read, final.rows_loaded, final.rows_rejected, final.duplicates_skipped,
                 final.format, json.dumps(final.notes), dataset_id])
    return final


def _unit_counts(cur: duckdb.DuckDBPyConnection, dataset_id: str) -> tuple[int, int]:
    """Source lines behind the stored events and behind the rejected ones (one group = _units)."""
    cur.execute("UPDATE rejects SET record = s._first_line FROM "
                "(SELECT row_number() OVER (ORDER BY _first_line) AS _rec, _first_line "
                "FROM _relstep) s "
                "WHERE rejects.dataset_id = ? AND rejects.record = s._rec", [dataset_id])
    loaded = _scalar(cur, "SELECT coalesce(sum(s._units), 0) FROM _relstep s WHERE EXISTS ("
                          "SELECT 1 FROM events e WHERE e.dataset_id = ? AND e.order_id = s.order_id "
                          "AND e.item_id IS NOT DISTINCT FROM s.product_id "
                          "AND abs(e.quantity) = s._units)", [dataset_id])
    rejected = _scalar(cur, "SELECT coalesce(sum(s._units), 0) FROM _relstep s WHERE s._first_line IN "
                            "(SELECT record FROM rejects WHERE dataset_id = ?)", [dataset_id])
    return loaded, rejected


def _problem_reasons(cur: duckdb.DuckDBPyConnection, step: Step, recognition: Recognition
                     ) -> dict[str, int]:
    rows = cur.execute(f"SELECT regexp_replace(reason, '''[^'']*''', '''…''', 'g') AS r, count(*) "
                       f"FROM ({_sql(step.problems or '', recognition)}) GROUP BY r").fetchall()
    return {str(r): int(n) for r, n in rows}


def _lookup_report(cur: duckdb.DuckDBPyConnection, recognition: Recognition, role: str
                   ) -> load.FileReport:
    """A lookup file (category names) is applied to other files, not stored as rows of its own."""
    source = recognition.files[role]
    key = quote_ident(recognition.shape.role(role).signature[0])
    read, distinct, empty = cur.execute(
        f"SELECT count(*), count(DISTINCT {key}), count(*) - count({key}) FROM {_table(role)}"
    ).fetchall()[0]
    return load.FileReport(
        path=str(source.path), name=source.name, dataset_id="", kind="lookup", source="",
        preset=f"{recognition.shape.name}:{role}", format=source.format, rows_read=int(read),
        rows_loaded=int(distinct), rows_rejected=int(empty),
        duplicates_skipped=int(read) - int(distinct) - int(empty),
        notes=[f"Applied to the other files of the {recognition.shape.label}; not stored as rows."],
        reject_reasons={f"{recognition.shape.role(role).signature[0]} is empty": int(empty)}
        if empty else {})


def _scalar(cur: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> int:
    return int(cur.execute(sql, params or []).fetchall()[0][0])


def roles_table(recognition: Recognition) -> list[dict[str, str]]:
    """One row per file of the set: its role and the tables it will fill (for the Data page)."""
    shape = recognition.shape
    rows = []
    for role in shape.roles:
        f = recognition.files.get(role.name)
        kinds = [s.kind for s in shape.steps if s.role == role.name] or ["lookup"]
        rows.append({"file": f.name if f else "(missing)" if role.required else "(not given)",
                     "role": role.label, "loaded as": ", ".join(kinds),
                     "identified by": ", ".join(role.signature)})
    return rows


def keys_table(keys: list[KeyMatch]) -> list[dict[str, Any]]:
    """The detected joins with their match rates (for the Data page)."""
    return [{"from": k.child_file, "key": k.column, "to": k.parent_file,
             "values": k.child_values, "matched": k.matched, "match rate": k.match_rate,
             "used": "yes" if k.expected else "shared column"} for k in keys]


def files_table(report: RelationalReport) -> list[dict[str, Any]]:
    """Per-file accounting of a loaded set (for the Data page)."""
    return [{"file": f.name, "loaded as": f.kind, "rows read": f.rows_read,
             "loaded": f.rows_loaded, "rejected": f.rows_rejected,
             "duplicates skipped": f.duplicates_skipped} for f in report.files]
