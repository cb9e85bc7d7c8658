"""Public retail event-log shapes that no header preset can express (issue 11).

Two kinds of shape live here:

* headerless dumps recognised from their values (the Yoochoose / RecSys Challenge 2015 clicks
  and buys files have no header row and no user id: the session is the shopper; Taobao's
  UserBehavior.csv is user, item, category, behaviour, epoch seconds);
* shapes that cannot be loaded honestly, refused with what is missing and what to do
  (Instacart's orders have no dates at all, only weekday, hour and days since the previous
  order: any event time would be invented, and recency, cohorts and RFM with it).

Header presets for the other public shapes (H&M, Diginetica, Ta-Feng, Amazon reviews) are in
:mod:`analytics.ingest.presets`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from analytics.errors import MappingError
from analytics.ingest.mapping import ColumnMapping

_INT = re.compile(r"\d+")
_ISO_Z = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z")
_YOO_CATEGORY = re.compile(r"S|\d+")
_SAMPLE = 200  # records looked at; the whole sample must fit the shape


def _column(records: list[dict[str, Any]], column: str) -> list[str]:
    return [str(r[column]).strip() for r in records[:_SAMPLE]
            if r.get(column) is not None and str(r[column]).strip()]


def _all(pattern: re.Pattern[str], values: list[str]) -> bool:
    return bool(values) and all(pattern.fullmatch(v) for v in values)


def yoochoose(columns: list[str], records: list[dict[str, Any]]
              ) -> tuple[ColumnMapping, str] | None:
    """The Yoochoose clicks (session, time, item, category) or buys (session, time, item,
    price, quantity) mapping for a headerless file of that shape, with the reason shown."""
    if len(columns) not in (4, 5):
        return None
    values = [_column(records, c) for c in columns]
    session, time, item = columns[:3]
    if not (_all(_INT, values[0]) and _all(_ISO_Z, values[1]) and _all(_INT, values[2])):
        return None
    common = {"user_id": session, "session_id": session, "event_time": time, "item_id": item}
    if len(columns) == 4 and _all(_YOO_CATEGORY, values[3]):
        category = columns[3]
        expressions = {
            "event_type": "'view'",
            # S is a special offer, 0 unknown, 1-12 a category, a long number a brand id.
            "category": f"CASE WHEN {{{category}}} = 'S' THEN 'special offer' WHEN "
                        f"length({{{category}}}) <= 2 AND {{{category}}} <> '0' THEN "
                        f"'category ' || {{{category}}} END",
            "brand": f"CASE WHEN length({{{category}}}) > 2 THEN {{{category}}} END",
        }
        return (ColumnMapping("events", common, expressions),
                "no header row; the shape of Yoochoose (RecSys Challenge 2015) clicks: session, "
                "time, item, category (S = special offer, 0 = unknown, a long number = a brand). "
                "There is no user id: each session is its own shopper")
    if len(columns) == 5 and _all(_INT, values[3]) and _all(_INT, values[4]):
        price, quantity = columns[3], columns[4]
        expressions = {
            "event_type": "'purchase'",
            # Price and quantity 0 mean "not recorded" in this data set, never free goods.
            "price": f"NULLIF({{{price}}}, '0')",
            "quantity": f"NULLIF({{{quantity}}}, '0')",
        }
        return (ColumnMapping("events", common, expressions),
                "no header row; the shape of Yoochoose (RecSys Challenge 2015) buys: session, "
                "time, item, price, quantity (0 = not recorded, loaded as missing; the price "
                "unit is not documented). There is no user id: each session is its own shopper")
    return None


_EPOCH_S = re.compile(r"1\d{9}")  # epoch seconds, 2001-09 to 2033-05
_TAOBAO_TYPES = {"pv", "fav", "cart", "buy"}


def taobao(columns: list[str], records: list[dict[str, Any]]
           ) -> tuple[ColumnMapping, str] | None:
    """The mapping of Taobao's headerless UserBehavior.csv (user, item, category id, pv | fav |
    cart | buy, epoch seconds), with the reason shown; the value map comes from the vocabulary."""
    if len(columns) != 5:
        return None
    values = [_column(records, c) for c in columns]
    ids_ok = all(_all(_INT, v) for v in values[:3])
    types = {v.lower() for v in values[3]}
    if not (ids_ok and types and types <= _TAOBAO_TYPES and _all(_EPOCH_S, values[4])):
        return None
    chosen = dict(zip(("user_id", "item_id", "category", "event_type", "event_time"), columns,
                      strict=True))
    return (ColumnMapping("events", chosen),
            "no header row; the shape of Taobao's UserBehavior.csv: user, item, category id, "
            "behaviour (pv = view, fav = wish list, cart, buy = purchase), epoch seconds. "
            "It has no prices, so revenue and RFM's monetary value stay empty")


# Instacart Market Basket Analysis: orders.csv and the order-line files.
_INSTACART_ORDERS = {"order_id", "user_id", "order_number", "order_dow", "order_hour_of_day",
                     "days_since_prior_order"}
_INSTACART_LINES = {"order_id", "product_id", "add_to_cart_order", "reordered"}


def refusal(columns: list[str], mapping: Mapping[str, str | None] | None,
            constants: Mapping[str, str] | None, file_name: str) -> MappingError | None:
    """Why a recognised shape cannot be loaded as it is (None: it can).

    The user mapping event_time (or fixing it) by hand overrides the refusal."""
    present = {c.lower() for c in columns}
    if "event_time" in (mapping or {}) or "event_time" in (constants or {}):
        return None
    if present >= _INSTACART_ORDERS:
        return MappingError(
            f"{file_name}: this is an Instacart orders file (order_dow, order_hour_of_day, "
            "days_since_prior_order): it has no dates, only the weekday, the hour and the days "
            "since each shopper's previous order. Any event time would be invented, and "
            "recency, cohorts, RFM and journeys with it, so it is not loaded.",
            hint="Load orders with real timestamps. If relative times are good enough for you, "
            "derive a date column yourself (an anchor date plus each shopper's cumulative "
            "days_since_prior_order) and map it with --map event_time=COLUMN.")
    if present >= _INSTACART_LINES and "user_id" not in present:
        return MappingError(
            f"{file_name}: this is an Instacart order-lines file (order_id, product_id, "
            "add_to_cart_order, reordered): it has no shopper and no time, and the orders file "
            "it belongs to has no dates either, so it cannot become events.",
            hint="Load order lines joined to orders that carry a shopper id and a real date; "
            "products.csv loads on its own as items (--kind items).")
    lookup = next((name for name in ("aisle", "department") if present == {f"{name}_id", name}),
                  None)
    if lookup and not mapping:
        return MappingError(
            f"{file_name}: this is Instacart's {lookup} lookup table ({lookup}_id, {lookup}): "
            "names for the ids in products.csv, with no products, shoppers or events of its own.",
            hint=f"Join the {lookup} names into products.csv and load that as items "
            f"(--kind items --map category={lookup}); this file alone adds nothing.")
    if len(present) == 2 and present & {"categoryid", "category_id"} and \
            present & {"parentid", "parent_id", "parent_category_id", "parentcategoryid"} \
            and not mapping:
        return MappingError(
            f"{file_name}: this is a category tree (each category id and its parent, as "
            "RetailRocket's category_tree.csv): it has no products, shoppers or events, and "
            "Shopper Lens reads each product's own category, not its parents.",
            hint="Nothing here to load: skip the file. Products' categories come from the "
            "catalogue (for RetailRocket, item_properties: its categoryid property).")
    return None
