"""Readable category labels: a 19-digit category id never appears in a segment name or profile.

Exports such as REES46 give a category *code* ("electronics.smartphone") only for some rows and
a numeric category id for the rest. A numeric id says nothing to a marketer, so it is shown as
the readable category the catalogue gives its items, else its main brand, else a short label
that still tells categories apart ("category …2655").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from analytics.segments.features import SHARE_PREFIX
from analytics.workspace import Workspace

# For each numeric category: the catalogue's most common non-numeric category for its items and
# the most common brand of its events (ties broken by name, so labels are reproducible).
_LOOKUP = """
WITH wanted AS (SELECT unnest($categories::VARCHAR[]) AS category),
ev AS (SELECT e.category, e.item_id, e.brand FROM events e JOIN wanted w USING (category)),
catalogue AS (
    SELECT ev.category, i.category AS label, count(*) AS n FROM ev
    JOIN items i ON i.item_id = ev.item_id
    WHERE i.category IS NOT NULL AND NOT regexp_full_match(trim(i.category), '[0-9]+')
    GROUP BY ALL),
brands AS (
    SELECT category, brand AS label, count(*) AS n FROM ev
    WHERE brand IS NOT NULL AND NOT regexp_full_match(trim(brand), '[0-9]+') GROUP BY ALL)
SELECT 'catalogue', category, arg_max(label, (n, label)) FROM catalogue GROUP BY category
UNION ALL
SELECT 'brand', category, arg_max(label, (n, label)) FROM brands GROUP BY category
"""


def is_numeric_id(value: object) -> bool:
    """A category that is only digits (an id, not a name)."""
    return isinstance(value, str) and value.strip().isdigit()


def short_label(category: str) -> str:
    """"category …2655": short, and still distinct for most ids."""
    digits = category.strip()
    return f"category …{digits[-4:]}" if len(digits) > 6 else f"category {digits}"


def category_labels(ws: Workspace, categories: Iterable[object]) -> dict[str, str]:
    """Readable label for each numeric category id among ``categories`` (others are left out)."""
    numeric = sorted({str(c).strip() for c in categories if is_numeric_id(c)})
    if not numeric:
        return {}
    with ws.cursor() as cur:
        rows = cur.execute(_LOOKUP, {"categories": numeric}).fetchall()
    found: dict[str, dict[str, str]] = {}
    for source, category, label in rows:
        found.setdefault(source, {})[category] = label
    out = {}
    for category in numeric:
        if category in found.get("catalogue", {}):
            out[category] = found["catalogue"][category]
        elif category in found.get("brand", {}):
            out[category] = f"{found['brand'][category]} items"
        else:
            out[category] = short_label(category)
    return _distinct(out)


def _distinct(labels: dict[str, str]) -> dict[str, str]:
    """Two ids with the same label keep it apart by the id's last digits ("nike items …6035")."""
    counts: dict[str, int] = {}
    for label in labels.values():
        counts[label] = counts.get(label, 0) + 1
    return {c: f"{label} …{c[-4:]}" if counts[label] > 1 and not label.startswith("category ")
            else label for c, label in labels.items()}


def relabel(value: str, labels: Mapping[str, str]) -> str:
    """A category, or a ``share: <category>`` feature name, with its readable label.

    A numeric id missing from ``labels`` is shortened rather than shown in full.
    """
    if value.startswith(SHARE_PREFIX):
        return SHARE_PREFIX + relabel(value[len(SHARE_PREFIX):], labels)
    if value.strip() in labels:
        return labels[value.strip()]
    return short_label(value) if is_numeric_id(value) else value
