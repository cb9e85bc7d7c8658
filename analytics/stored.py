"""Results stored in the workspace under the data version they were built from.

Opening a page must not redo heavy work, and a restart must not lose it: a fitted model or a
default funnel is pickled into ``stored_results`` with the :mod:`analytics.versions` token and
its settings. One row per (kind, settings): a rebuild for new data replaces the stale row, so
the table never grows with the number of loads. Payloads are pickles written by this
workspace's own code and read back only from its own database file.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar, cast

import duckdb

from analytics.workspace import Workspace

T = TypeVar("T")
#: Below this many events a rebuild takes a few seconds, so a page waits for it; above it a page
#: rebuilds in the background (at 11.7M events the journeys counts took 84 s, the experiment's
#: segments at assignment over a minute of CPU).
BACKGROUND_FROM_EVENTS = 1_000_000
_GET_SQL = """SELECT data_version, seconds, created_at, payload FROM stored_results
WHERE kind = ? AND settings_key = ?"""
_PUT_SQL = """INSERT OR REPLACE INTO stored_results
(kind, settings_key, data_version, settings, seconds, payload, created_at)
VALUES (?, ?, ?, ?, ?, ?, current_timestamp)"""
_STATUS_SQL = """SELECT data_version, seconds, created_at FROM stored_results
WHERE kind = ? AND settings_key = ?"""


@dataclass(frozen=True)
class StoredInfo:
    """What is stored for one (kind, settings): built from ``data_version`` in ``seconds``."""

    data_version: str
    seconds: float | None
    created_at: datetime


def settings_key(settings: Any) -> str:
    """A stable key for JSON-serialisable settings (sorted keys, so dict order never matters)."""
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def load(ws: Workspace, kind: str, settings: Any, version: str) -> Any | None:
    """The stored result for ``settings`` if it was built from ``version``, else None (stale or
    never built)."""
    with ws.cursor() as cur:
        rows = cur.execute(_GET_SQL, [kind, settings_key(settings)]).fetchall()
    if not rows or rows[0][0] != version:
        return None
    return pickle.loads(rows[0][3])  # noqa: S301 - written by save() into this workspace


def load_latest(ws: Workspace, kind: str, settings: Any) -> tuple[Any, str] | None:
    """The stored result for ``settings`` and the data version it was built from, whatever that
    version (a page shows it flagged as stale while the current one is built), or None."""
    with ws.cursor() as cur:
        rows = cur.execute(_GET_SQL, [kind, settings_key(settings)]).fetchall()
    if not rows:
        return None
    return pickle.loads(rows[0][3]), str(rows[0][0])  # noqa: S301 - written by save()


def info(ws: Workspace, kind: str, settings: Any) -> StoredInfo | None:
    """When and from which data the stored result was built (without reading the payload)."""
    with ws.cursor() as cur:
        rows = cur.execute(_STATUS_SQL, [kind, settings_key(settings)]).fetchall()
    return StoredInfo(*rows[0]) if rows else None


def save(ws: Workspace, kind: str, settings: Any, version: str, result: Any,
         seconds: float | None = None) -> None:
    """Store ``result`` for ``settings`` as built from ``version`` (replacing what was there)."""
    try:
        with ws.cursor() as cur:
            save_on(cur, kind, settings, version, result, seconds)
    except (duckdb.TransactionException, duckdb.ConstraintException):
        pass  # another session stored the same result at the same moment: theirs is kept


def save_on(cur: duckdb.DuckDBPyConnection, kind: str, settings: Any, version: str, result: Any,
            seconds: float | None = None) -> None:
    """:func:`save` on an open cursor, e.g. inside the transaction that records what it
    belongs to (so both land or neither does)."""
    payload = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
    cur.execute(_PUT_SQL, [kind, settings_key(settings), version,
                           json.dumps(settings, sort_keys=True, default=str), seconds, payload])


def load_or_build(ws: Workspace, kind: str, settings: Any, version: str,
                  build: Callable[[], T]) -> T:
    """The stored result for ``settings`` and ``version``, else ``build()`` stored for next time.

    Examples
    --------
    >>> load_or_build(ws, "journeys.funnel", {"steps": ["view", "purchase"]},
    ...               data_version(ws), lambda: funnel(ws))       # doctest: +SKIP
    """
    found = load(ws, kind, settings, version)
    if found is not None:
        return cast(T, found)
    started = time.perf_counter()
    result = build()
    save(ws, kind, settings, version, result, seconds=round(time.perf_counter() - started, 3))
    return result


def forget_all(ws: Workspace) -> int:
    """Drop every stored result (they are rebuilt from the data on demand)."""
    with ws.cursor() as cur:
        return int(cur.execute("DELETE FROM stored_results").fetchall()[0][0])


@dataclass(frozen=True)
class Counted(Generic[T]):
    """A stored result: ``result`` (None: never built) and whether it was built from the current
    data (``fresh``); ``build()`` computes and stores the current one; ``key`` names the kind,
    settings and data version (a page runs one background job per key)."""

    result: T | None
    fresh: bool
    build: Callable[[], T]
    key: str


def state(ws: Workspace, kind: str, settings: Any, version: Callable[[Workspace], str],
          compute: Callable[[], T]) -> Counted[T]:
    """What is stored for ``kind``/``settings`` against the current ``version(ws)``, without
    building anything: a page shows it (flagged when stale) while ``build`` runs elsewhere."""
    current = version(ws)
    found = load_latest(ws, kind, settings)
    result, built_from = found if found is not None else (None, "")
    return Counted(cast(T | None, result), found is not None and built_from == current,
                   lambda: load_or_build(ws, kind, settings, version(ws), compute),
                   f"{kind}|{settings_key(settings)}|{current}")


def current(counted: Counted[T]) -> T:
    """The result for the current data, built now when what is stored is older."""
    return cast(T, counted.result) if counted.fresh else counted.build()
