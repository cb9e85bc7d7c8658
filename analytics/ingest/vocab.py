"""Event types by value: known source vocabularies mapped onto the canonical event types.

A source's event column may hold analytics action codes (``0``–``8``), GA4 event names, order
statuses or payment statuses instead of view/cart/purchase. The value map sends each source
value to a canonical type, or to :data:`SKIP` (the row is rejected with that reason, so it is
counted, never silently dropped). Suggestions are made from the values seen; the user edits
them on the Data page or with ``--event-map VALUE=TYPE``.
"""

from __future__ import annotations

from collections.abc import Mapping

from analytics.schema import EVENT_TYPE_SYNONYMS, EVENT_TYPES

SKIP = "skip"
# Values a value map may send a source value to.
TARGETS = (*EVENT_TYPES, SKIP)

# Universal Analytics / GA360 hits.eCommerceAction.action_type.
UA_ACTION_CODES: dict[str, str] = {
    "0": "view",  # unknown action: a page view
    "1": "view",  # click on a product list
    "2": "view",  # product detail view
    "3": "cart",
    "4": "remove_from_cart",
    "5": "checkout",
    "6": "purchase",
    "7": "refund",
    "8": "checkout",  # checkout option
}

# GA4 recommended e-commerce events and the automatically collected ones that are no commerce.
GA4_EVENTS: dict[str, str] = {
    "page_view": "view", "view_item": "view", "view_item_list": "view", "select_item": "view",
    "view_promotion": "view", "select_promotion": "view", "view_cart": "view",
    "search": "search", "view_search_results": "search",
    "add_to_cart": "cart", "remove_from_cart": "remove_from_cart", "add_to_wishlist": "wishlist",
    "begin_checkout": "checkout", "add_shipping_info": "checkout", "add_payment_info": "checkout",
    "purchase": "purchase", "refund": "refund",
    "session_start": SKIP, "first_visit": SKIP, "user_engagement": SKIP, "scroll": SKIP,
    "click": SKIP, "file_download": SKIP, "video_start": SKIP, "video_progress": SKIP,
    "form_start": SKIP, "form_submit": SKIP,
}

# Order statuses (marketplaces, ERPs, shop plugins): a paid order is a purchase. Orders only
# created or waiting for payment, and canceled ones, never became sales, so they are skipped by
# default; refunded/returned ones are refunds. The one table of order statuses: the relational
# loaders (Olist, WooCommerce) take their purchase statuses from it too.
ORDER_STATUSES: dict[str, str] = {
    "delivered": "purchase", "shipped": "purchase", "invoiced": "purchase",
    "approved": "purchase", "processing": "purchase", "completed": "purchase",
    "complete": "purchase", "fulfilled": "purchase",
    "created": SKIP, "pending": SKIP, "on-hold": SKIP,
    "canceled": SKIP, "cancelled": SKIP, "unavailable": SKIP, "failed": SKIP,
    "refunded": "refund", "returned": "refund",
}

# Shopify financial statuses (also the Shopify orders loader's notion of revenue).
SHOPIFY_FINANCIAL: dict[str, str] = {
    "paid": "purchase", "partially_paid": "purchase", "authorized": "purchase",
    "partially_refunded": "purchase", "refunded": "refund", "voided": SKIP, "pending": SKIP,
    "expired": SKIP,
}

# Each platform's own order statuses, in the order its documentation lists the paid ones first.
OLIST_STATUSES = ("delivered", "shipped", "invoiced", "approved", "processing", "created",
                  "unavailable", "canceled")
WOO_STATUSES = ("completed", "processing", "pending", "on-hold", "cancelled", "refunded", "failed")


def purchase_statuses(statuses: tuple[str, ...], table: Mapping[str, str] = ORDER_STATUSES
                      ) -> tuple[str, ...]:
    """The ``statuses`` that ``table`` counts as a purchase (a sale), in their given order."""
    return tuple(s for s in statuses if table.get(s) == "purchase")


def not_purchase_statuses(table: Mapping[str, str]) -> tuple[str, ...]:
    """The statuses of ``table`` that are no sale (skipped or refunded)."""
    return tuple(s for s, target in table.items() if target != "purchase")

# event names of product-analytics exports (Mixpanel, Amplitude, Segment's e-commerce
# spec), lower case as compared. Identity, session and app-lifecycle events are no shopping
# step: skipped (counted as rejects with the reason). Custom events stay unknown, so the
# unknown-type gate names them.
PRODUCT_ANALYTICS_EVENTS: dict[str, str] = {
    "$mp_web_page_view": "view", "page view": "view", "page viewed": "view", "viewed page": "view",
    "[amplitude] page viewed": "view", "product viewed": "view", "viewed product": "view",
    "view product": "view", "view item": "view", "product clicked": "view", "product list viewed": "view",
    "cart viewed": "view", "product page viewed": "view",
    "search": "search", "searched": "search", "search performed": "search",
    "product searched": "search", "products searched": "search",
    "added to cart": "cart", "add to cart": "cart", "product added": "cart",
    "added to bag": "cart", "add to bag": "cart", "product added to cart": "cart",
    "removed from cart": "remove_from_cart", "remove from cart": "remove_from_cart",
    "product removed": "remove_from_cart",
    "added to wishlist": "wishlist", "add to wishlist": "wishlist",
    "product added to wishlist": "wishlist",
    "checkout started": "checkout", "started checkout": "checkout", "begin checkout": "checkout",
    "checkout step viewed": "checkout", "checkout step completed": "checkout",
    "payment info entered": "checkout",
    "order completed": "purchase", "purchase": "purchase", "purchased": "purchase",
    "completed purchase": "purchase", "purchase completed": "purchase",
    "checkout completed": "purchase", "order placed": "purchase", "placed order": "purchase",
    "order refunded": "refund", "refund": "refund", "order cancelled": "refund",
    # Amplitude's revenue events usually repeat a purchase event of the same order.
    "[amplitude] revenue": SKIP, "revenue_amount": SKIP,
    "$identify": SKIP, "$create_alias": SKIP, "$merge": SKIP, "$groupidentify": SKIP,
    "$mp_session_record": SKIP, "$ae_session": SKIP, "$ae_first_open": SKIP,
    "$ae_updated": SKIP, "$ae_crashed": SKIP, "$mp_click": SKIP, "$campaign_delivery": SKIP,
    "$campaign_open": SKIP, "session_start": SKIP, "session_end": SKIP,
    "[amplitude] start session": SKIP, "[amplitude] end session": SKIP,
    "[amplitude] application opened": SKIP, "[amplitude] application backgrounded": SKIP,
    "[amplitude] element clicked": SKIP, "[amplitude] form started": SKIP,
    "[amplitude] form submitted": SKIP,
}

# WooCommerce order statuses as its own exports write them, with or without the
# `wc-` prefix of the database (wc-completed); checkout-draft and trash were never sales.
WOO_ORDER_STATUSES: dict[str, str] = {
    **{p + s: ORDER_STATUSES[s] for s in WOO_STATUSES for p in ("", "wc-")},
    "checkout-draft": SKIP, "wc-checkout-draft": SKIP, "trash": SKIP,
}

# a rewards programme's offer log (Starbucks transcript): the offer steps are no
# shopping events; the transactions are.
OFFER_EVENTS: dict[str, str] = {
    "offer received": SKIP, "offer viewed": SKIP, "offer completed": SKIP,
    "transaction": "purchase",
}

# Alibaba's user-behaviour logs (Taobao UserBehavior, Tmall, Tianchi): pv is a page (item)
# view, fav a favourite (a wish list), cart and buy as named.
TAOBAO_BEHAVIOR: dict[str, str] = {"pv": "view", "fav": "wishlist", "cart": "cart",
                                   "buy": "purchase"}

VOCABULARIES: tuple[tuple[str, str, Mapping[str, str]], ...] = (
    ("ua_action_codes", "Universal Analytics eCommerceAction.action_type codes", UA_ACTION_CODES),
    ("ga4", "GA4 event names", GA4_EVENTS),
    ("order_status", "order statuses", ORDER_STATUSES),
    ("shopify_financial", "Shopify financial statuses", SHOPIFY_FINANCIAL),

    ("product_analytics", "Mixpanel / Amplitude / Segment event names", PRODUCT_ANALYTICS_EVENTS),
    ("woocommerce_status", "WooCommerce order statuses", WOO_ORDER_STATUSES),
    ("offer_events", "Starbucks-style offer events", OFFER_EVENTS),
    ("taobao_behavior", "Taobao / Tmall behaviour types (pv, fav, cart, buy)", TAOBAO_BEHAVIOR),
)

# Shown next to a suggestion the user should look at (the choice is theirs).
CHOICES: dict[str, str] = {
    "canceled": "skip (never a sale) or refund", "cancelled": "skip (never a sale) or refund",
    "refunded": "refund or skip", "partially_refunded": "purchase (the refund part is not known)",
    "created": "skip (not paid yet) or purchase",

    "order cancelled": "refund (takes the order's revenue back) or skip (it was never paid)",
    "[amplitude] revenue": "skip (a purchase event records the order) or purchase (if only "
                           "revenue events do)",
    "revenue_amount": "skip (a purchase event records the order) or purchase",
}


def _key(value: object) -> str:
    text = str(value).strip().lower()
    return text[:-2] if text.endswith(".0") and text[:-2].isdigit() else text


def known(value: str) -> bool:
    """A value the loader understands without a value map."""
    return _key(value) in EVENT_TYPE_SYNONYMS


def suggest(values: Mapping[str, int]) -> tuple[dict[str, str], str | None]:
    """A value map for the source values seen (value -> rows), and the vocabulary's label.

    The vocabulary covering the most rows of values not already canonical wins; its whole
    table is returned, so values not in the sample are mapped too. No vocabulary: empty map.
    """
    unknown = {_key(v): n for v, n in values.items() if not known(v)}
    if not unknown:
        return {}, None
    best: tuple[tuple[int, int], str, Mapping[str, str]] | None = None
    for _, label, table in VOCABULARIES:
        # Ties on the unknown values go to the table that names more of the file's values.
        covered = (sum(n for v, n in unknown.items() if v in table),
                   sum(n for v, n in values.items() if _key(v) in table))
        # A table that would send several distinct values, all there is, to one type explains
        # nothing (OTTO's 0/1/2 read as UA codes: every cart and order a view): not suggested.
        targets = {table[v] for v in unknown if v in table}
        collapses = len(unknown) > 1 and set(unknown) <= set(table) and len(targets) == 1 \
            and SKIP not in targets  # skipping several kinds of non-shopping rows is a choice
        if covered[0] and not collapses and (best is None or covered > best[0]):
            best = (covered, label, table)
    if best is None:
        return {}, None
    _, label, table = best
    return dict(table), label


def normalise_map(value_map: Mapping[str, str]) -> dict[str, str]:
    """Keys as compared by the loader (trimmed, lower case); targets checked."""
    out = {}
    for value, target in value_map.items():
        target = target.strip().lower()
        if target not in TARGETS:
            from analytics.errors import MappingError

            raise MappingError(f"--event-map {value}={target}: {target!r} is not an event type.",
                               hint=f"Use one of: {', '.join(TARGETS)}.")
        out[_key(value)] = target
    return out


def canonical(value: str, value_map: Mapping[str, str]) -> str | None:
    """The type a source value loads as: the value map, else a built-in synonym (None: unknown)."""
    key = _key(value)
    return value_map.get(key) or EVENT_TYPE_SYNONYMS.get(key)


def value_rows(values: Mapping[str, int], value_map: Mapping[str, str]) -> list[dict[str, object]]:
    """The value-map table of the Data page: source value · rows · canonical type."""
    return [{"source value": v, "rows": n, "canonical type": canonical(v, value_map) or UNKNOWN}
            for v, n in values.items()]


UNKNOWN = "(unknown: loaded as is)"


def edited_map(rows: list[dict[str, object]], value_map: Mapping[str, str]) -> dict[str, str]:
    """The --event-map entries a user's edits of :func:`value_rows` amount to."""
    out = {}
    for row in rows:
        value, target = str(row["source value"]), str(row["canonical type"])
        if target in TARGETS and target != canonical(value, value_map):
            out[value] = target
    return out
