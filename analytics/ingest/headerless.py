"""Column roles from values, for files whose columns have no names (no header row).

Each ``column_N`` is classified from the sampled values: dates or epoch times, small-integer
ratings, decimal amounts, small-integer counts and id-like values. A 4-column numeric file
follows the convention user, item, rating, timestamp (MovieLens and most rating dumps).
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence
from typing import Any

from analytics.ingest import realshapes
from analytics.ingest.mapping import ColumnMapping
from analytics.schema import EVENT_TYPE_SYNONYMS

_INT = re.compile(r"-?\d+")
_NUM = re.compile(r"-?(\d+\.?\d*|\.\d+)")
_YMD = re.compile(r"(19|20)\d{2}(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])")
_DATE = re.compile(r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}([ T].*)?")


def classify(values: Sequence[str]) -> str:
    """time | rating | amount | count | id | text for one column's non-empty sampled values."""
    if not values:
        return "text"
    if all(_YMD.fullmatch(v) for v in values) or all(_DATE.fullmatch(v) for v in values):
        return "time"
    if all(_INT.fullmatch(v) for v in values):
        numbers = [int(v) for v in values]
        median = statistics.median(numbers)
        if 9.4e8 <= median <= 4e9 or 9.4e11 <= median <= 4e12:
            return "time"  # epoch seconds or milliseconds from 2000 on
        if min(numbers) >= 0 and max(numbers) <= 10 and len(set(numbers)) <= 11:
            return "rating"  # or a small count: decided by the other columns
        return "id"
    if all(_NUM.fullmatch(v) for v in values):
        floats = [float(v) for v in values]
        halves = all((2 * x).is_integer() for x in floats)
        if halves and min(floats) >= 0 and max(floats) <= 10:
            return "rating"
        return "amount"
    return "id" if all(" " not in v for v in values) else "text"


def suggest(columns: list[str], records: list[dict[str, Any]]) -> tuple[ColumnMapping, str]:
    """An events mapping from values, and the reason shown to the user."""
    known_shape = realshapes.yoochoose(columns, records) or realshapes.taobao(columns, records)
    if known_shape is not None:
        return known_shape
    roles = {c: classify([str(r[c]).strip() for r in records
                          if r.get(c) is not None and str(r[c]).strip()]) for c in columns}
    chosen: dict[str, str] = {}
    if len(columns) == 4 and all(roles[c] in ("id", "rating", "time") for c in columns) \
            and roles[columns[2]] == "rating" and roles[columns[3]] == "time":
        chosen = dict(zip(("user_id", "item_id", "rating", "event_time"), columns, strict=True))
        return (ColumnMapping("events", chosen),
                "no header row; 4 numeric columns read in the usual order user, item, rating, "
                "timestamp")
    ids = [c for c in columns if roles[c] == "id"]
    times = [c for c in columns if roles[c] == "time"]
    amounts = [c for c in columns if roles[c] == "amount"]
    small = [c for c in columns if roles[c] == "rating"]
    if ids:
        chosen["user_id"] = ids[0]
    if len(ids) > 1:
        chosen["item_id"] = ids[1]
    if times:
        chosen["event_time"] = times[0]
    if amounts:
        chosen["revenue"] = amounts[-1]
        if small:
            chosen["quantity"] = small[0]  # beside an amount, a small integer is a count
    elif small:
        chosen["rating"] = small[0]
    described = ", ".join(f"{c} = {field}" for field, c in chosen.items())
    return (ColumnMapping("events", chosen),
            f"no header row; columns suggested from their values ({described or 'none fit'})")


_PERSON = re.compile(r"user|visitor|customer|client|member|shopper|household|account|buyer|cust",
                     re.I)
_ORDERISH = re.compile(r"order|invoice|transaction|basket|receipt", re.I)
# a visit's id (session_id, sessionId, session_id_hash, visitId), not a count of visits
_SESSIONISH = re.compile(r"(session|visit)(_?(id|key|hash|no|number))*$", re.I)


def transaction_lines(columns: list[str], records: list[dict[str, Any]]) -> str | None:
    """What shows a file to be purchase lines, a shopper id beside an order id (a product
    list or a customer table has no per-row order), or None."""
    roles = roles_of(columns, records)
    ids = [c for c in columns if roles[c] in ("id", "rating")]  # small id ranges look like ratings
    person = next((c for c in ids if _PERSON.search(c) and not _ORDERISH.search(c)), None)
    order = next((c for c in ids if _ORDERISH.search(c) and c != person), None)
    return f"a shopper id ({person}) beside an order id ({order})" if person and order else None


def roles_of(columns: list[str], records: list[dict[str, Any]]) -> dict[str, str]:
    """:func:`classify` for every column over the sampled records."""
    return {c: classify([str(r[c]).strip() for r in records
                         if r.get(c) is not None and str(r[c]).strip()]) for c in columns}


def events_reason(mapping: ColumnMapping, columns: list[str], records: list[dict[str, Any]],
                  require_evidence: bool = True) -> tuple[ColumnMapping, str] | None:
    """An events mapping for a file guessed as another kind that holds events.

    Timestamps beside order ids, amounts, an event column or a second id are events, never
    a customer or product list. Missing user_id/event_time are filled from the values.
    None when the file does not look like events.
    """
    roles = roles_of(columns, records)
    times = [c for c in columns if roles[c] == "time"]
    if not times:
        return None
    evidence = [f"timestamps ({times[0]})"]
    orders = [c for c in columns if _ORDERISH.search(c)]
    amounts = [c for c in columns if roles[c] == "amount"]
    if orders:
        evidence.append(f"order ids ({orders[0]})")
    if amounts:
        evidence.append(f"amounts ({amounts[0]})")
    if "event_type" in mapping.columns:
        evidence.append(f"an event column ({mapping.columns['event_type']})")
    ids = [c for c in columns if roles[c] == "id"]
    sessions = [c for c in columns if roles[c] in ("id", "rating")  # few visits look like ratings
                and _SESSIONISH.search(c)
                and c not in {v for f, v in mapping.columns.items() if f != "session_id"}]
    if sessions:
        evidence.append(f"session ids ({sessions[0]})")
    # Order ids, session ids or an event column beside timestamps: events. Timestamps and
    # amounts alone may be a catalogue (added date, price) or CRM (signup date, lifetime value).
    if require_evidence and not (orders or sessions or "event_type" in mapping.columns):
        return None
    chosen = dict(mapping.columns)
    used = set(chosen.values())
    if "event_time" not in chosen:
        chosen["event_time"] = next(c for c in times if c not in used) if set(times) - used \
            else times[0]
    if "event_type" not in chosen:  # a column of known event names or codes
        for c in columns:
            seen = {str(r[c]).strip().lower() for r in records if r.get(c) is not None} - {""}
            if c not in chosen.values() and seen and roles[c] != "time" and all(
                    v in EVENT_TYPE_SYNONYMS for v in seen):
                chosen["event_type"] = c
                break
    if sessions and "session_id" not in chosen:
        chosen["session_id"] = sessions[0]
    if "user_id" not in chosen:
        free = [c for c in ids if c not in chosen.values() and not _ORDERISH.search(c)]
        person = [c for c in free if _PERSON.search(c)]
        if person:
            chosen["user_id"] = person[0]
        elif sessions:  # no shopper id (Dressipi, Yoochoose): each visit is its own shopper
            chosen["user_id"] = sessions[0]
        elif free:
            chosen["user_id"] = free[0]
    return (ColumnMapping("events", chosen, dict(mapping.expressions), dict(mapping.constants),
                          mapping.null_strings),
            "events, not a list of customers or products: it has " + ", ".join(evidence))
