"""Forget a shopper: delete a user id and every alias of it from the whole workspace.

The tables to clean are found, not listed: every base table with a column that holds user ids
(``user_id``, ``source_user_id``, ``alias`` or any ``…_user_id``), so result tables added later
(profiles, segment members, uplift scores, …) are covered without touching this module.
Rejected rows keep the raw source line, so a reject that mentions one of the ids as a whole
field is deleted too. All deletes run in one transaction. Uploaded files are transient copies
(the database holds what was loaded), so copies that mention the shopper are deleted as well,
and so are processed inbox files; a pending inbox file is reported, not deleted.
"""

from __future__ import annotations

import gzip
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from analytics.errors import ConfigError, NotFoundError
from analytics.workspace import Workspace

#: Column names that hold a user id or an alias of one.
ID_COLUMNS = ("user_id", "source_user_id", "alias")
#: Tables whose rows name users in free text rather than in an id column.
TEXT_TABLES: dict[str, tuple[str, ...]] = {"rejects": ("raw", "reason")}
#: Tables of stored derived results (pickled models hold every user id): emptied, rebuilt on demand.
DERIVED_TABLES = ("stored_results",)
_MAX_ROUNDS = 10

_ID_TABLES_SQL = """
SELECT c.table_name, list(c.column_name ORDER BY c.column_index)
FROM duckdb_columns() c JOIN duckdb_tables() t
  ON t.database_name = c.database_name AND t.schema_name = c.schema_name
 AND t.table_name = c.table_name
WHERE c.database_name = current_database() AND c.schema_name = 'main' AND NOT t.temporary
  AND c.data_type = 'VARCHAR'
  AND (list_contains($names, lower(c.column_name)) OR lower(c.column_name) LIKE '%\\_user\\_id' ESCAPE '\\')
GROUP BY c.table_name ORDER BY c.table_name
"""

# One step of the alias closure: ids linked to the known ones by the current identity map, and
# the source ids of events attributed to them (an alias loaded before its identities file).
_LINKED_SQL = """
SELECT alias FROM identity_map WHERE list_contains($ids, user_id)
UNION SELECT user_id FROM identity_map WHERE list_contains($ids, alias)
UNION SELECT source_user_id FROM events WHERE list_contains($ids, user_id) AND source_user_id IS NOT NULL
UNION SELECT user_id FROM events WHERE list_contains($ids, source_user_id)
"""


@dataclass(frozen=True)
class ForgetReport:
    """What forgetting one shopper removed."""

    user_id: str
    ids: tuple[str, ...]
    deleted: dict[str, int]
    files_removed: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def total(self) -> int:
        """Rows that named the shopper (stored derived results, emptied too, are not counted)."""
        return sum(n for table, n in self.deleted.items() if table not in DERIVED_TABLES)

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "total": self.total}


def _check(user_id: str) -> str:
    user_id = str(user_id).strip()
    if not user_id:
        raise ConfigError("Give the id of the shopper to forget.", hint="For example: forget u000123.",
                          title="No shopper id")
    return user_id


def _closure(cur: duckdb.DuckDBPyConnection, user_id: str) -> list[str]:
    ids = {user_id}
    for _ in range(_MAX_ROUNDS):
        found = {r[0] for r in cur.execute(_LINKED_SQL, {"ids": sorted(ids)}).fetchall() if r[0]}
        if found <= ids:
            break
        ids |= found
    return sorted(ids)


def identity_of(ws: Workspace, user_id: str) -> list[str]:
    """The id and every alias linked to it (what :func:`forget_user` deletes)."""
    with ws.cursor() as cur:
        return _closure(cur, _check(user_id))


def id_tables(cur: duckdb.DuckDBPyConnection) -> dict[str, list[str]]:
    """Every workspace table with user-id columns -> those columns."""
    rows = cur.execute(_ID_TABLES_SQL, {"names": list(ID_COLUMNS)}).fetchall()
    return {str(table): list(columns) for table, columns in rows}


def token_pattern(ids: list[str]) -> str:
    """A regex matching any of ``ids`` as a whole field (not inside a longer id)."""
    alternatives = "|".join(re.escape(i) for i in sorted(ids, key=len, reverse=True))
    return f"(^|[^A-Za-z0-9_])({alternatives})($|[^A-Za-z0-9_])"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _delete_rows(cur: duckdb.DuckDBPyConnection, ids: list[str]) -> dict[str, int]:
    deleted = {}
    for table, columns in id_tables(cur).items():
        where = " OR ".join(f"list_contains($ids, {_quote(c)})" for c in columns)
        sql = f"DELETE FROM {_quote(table)} WHERE {where}"  # noqa: S608 - names from the catalog
        deleted[table] = int(cur.execute(sql, {"ids": ids}).fetchall()[0][0])
    pattern = token_pattern(ids)
    for table, text_columns in TEXT_TABLES.items():
        where = " OR ".join(f"regexp_matches(coalesce({_quote(c)}, ''), $p)" for c in text_columns)
        sql = f"DELETE FROM {_quote(table)} WHERE {where}"  # noqa: S608 - fixed names
        deleted[table] = deleted.get(table, 0) + int(cur.execute(sql, {"p": pattern}).fetchall()[0][0])
    for table in DERIVED_TABLES if any(deleted.values()) else ():
        deleted[table] = int(cur.execute(f"DELETE FROM {_quote(table)}").fetchall()[0][0])  # noqa: S608
    return deleted


def _mentions(path: Path, pattern: re.Pattern[bytes]) -> bool:
    """Whether a file mentions an id; files that cannot be read as text count as mentioning it."""
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as fh:
            data = fh.read()
    except (OSError, EOFError):
        return True
    if b"\x00" in data[:8192]:  # Parquet, Excel, zip: not searchable as text
        return True
    return pattern.search(data) is not None


def _remove_uploads(ws: Workspace, ids: list[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Delete upload copies and processed/failed inbox files that mention the ids; return them
    and the pending inbox files that mention them (left alone: they hold others' new data)."""
    pattern = re.compile(token_pattern(ids).encode("utf-8"))
    archives = [ws.upload_dir, *(p for p in ws.inbox_dir.iterdir() if p.is_dir())]
    removed = []
    for path in sorted(f for folder in archives for f in folder.rglob("*") if f.is_file()):
        if _mentions(path, pattern):
            path.unlink()
            removed.append(str(path.relative_to(ws.dir)))
    pending = tuple(p.name for p in sorted(ws.inbox_dir.iterdir())
                    if p.is_file() and _mentions(p, pattern))
    return tuple(removed), pending


def forget_user(ws: Workspace, user_id: str, *, remove_uploads: bool = True) -> ForgetReport:
    """Delete ``user_id`` and its aliases from every table (one transaction) and, by default,
    the uploaded file copies that mention them.

    Raises NotFoundError (and changes nothing) when no table mentions the id.

    Examples
    --------
    >>> report = forget_user(ws, "u000042")          # doctest: +SKIP
    >>> report.deleted["events"], report.ids          # doctest: +SKIP
    (57, ('L01234', 'u000042'))
    """
    user_id = _check(user_id)
    with ws.transaction() as cur:
        ids = _closure(cur, user_id)
        deleted = _delete_rows(cur, ids)
        if not any(deleted.values()):
            raise NotFoundError(f"No shopper {user_id!r} in this workspace: nothing was deleted.",
                                hint="Check the id (the Profiles page looks shoppers up).")
    files, pending = _remove_uploads(ws, ids) if remove_uploads else ((), ())
    notes = tuple(f"The inbox file {name} mentions this shopper and is not loaded yet: delete the "
                  "shopper from it before the next refresh." for name in pending) + (
        "Aggregates computed before (segment sizes, evaluation and uplift metrics) are not "
        "recomputed; rerun them to drop this shopper's contribution.",
        "Original files outside the workspace (CLI inputs, exports already downloaded) are not "
        "touched; loading such a file again brings the shopper back.",
    )
    return ForgetReport(user_id, tuple(ids), deleted, files, notes)
