"""Known export formats, recognised from their header, mapped with no typing by the user.

A preset names the columns that identify it (its signature), where each canonical field
comes from (the first candidate column present wins) and, where a field needs logic, a SQL
template over source columns (for example UCI invoices starting with C are refunds).
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field

from analytics.ingest.mapping import ColumnMapping
from analytics.schema import KIND_FIELDS


@dataclass(frozen=True)
class Preset:
    name: str
    label: str
    kind: str
    signature: tuple[str, ...]
    columns: dict[str, tuple[str, ...]]
    # target -> SQL template, or alternatives tried in order (the first whose columns exist)
    expressions: dict[str, str | tuple[str, ...]] = field(default_factory=dict)
    null_strings: tuple[str, ...] = ()
    note: str = ""  # a caveat of the shape, added to the load report's notes
    dedup_key: tuple[str, ...] = ()  # see ColumnMapping.dedup_key
    # fields whose candidate columns are all read, the first non-empty one winning
    # (nested event properties differ per event: product_id on a view, $productId on revenue).
    coalesced: tuple[str, ...] = ()
    constants: dict[str, str] = field(default_factory=dict)  # e.g. time_unit
    source: str = "online"  # where the rows come from unless the user says (offline: in store)

    def matches(self, columns: list[str]) -> bool:
        present = {c.lower() for c in columns}
        return all(s.lower() in present for s in self.signature)

    def resolve(self, columns: list[str]) -> ColumnMapping:
        """The mapping for a file with these columns."""
        by_lower = {c.lower(): c for c in columns}
        chosen: dict[str, str] = {}
        for target, candidates in self.columns.items():
            found = next((by_lower[c.lower()] for c in candidates if c.lower() in by_lower), None)
            if found:
                chosen[target] = found
        expressions = {}
        for target, templates in self.expressions.items():
            for template in (templates,) if isinstance(templates, str) else templates:
                refs = _placeholders(template)
                if all(r.lower() in by_lower for r in refs):
                    expressions[target] = _rename(template, {r: by_lower[r.lower()] for r in refs})
                    break
        for target in self.coalesced:
            present = [by_lower[c.lower()] for c in self.columns.get(target, ())
                       if c.lower() in by_lower]
            if len(present) > 1 and target not in expressions:
                expressions[target] = "coalesce(" + ", ".join(
                    "NULLIF(trim(CAST({" + c + "} AS VARCHAR)), '')" for c in present) + ")"
        for target in expressions:
            chosen.pop(target, None)
        dedup = tuple(by_lower[c.lower()] for c in self.dedup_key if c.lower() in by_lower)
        return ColumnMapping(self.kind, chosen, expressions, null_strings=self.null_strings,
                             dedup_key=dedup if len(dedup) == len(self.dedup_key) else (),
                             constants=dict(self.constants))


def _placeholders(template: str) -> list[str]:
    return [f for _, f, _, _ in string.Formatter().parse(template) if f]


placeholders = _placeholders  # the source columns a template reads


def _rename(template: str, names: dict[str, str]) -> str:
    for ref, actual in names.items():
        template = template.replace("{" + ref + "}", "{" + actual + "}")
    return template


def _canonical(kind: str) -> Preset:
    fields = KIND_FIELDS[kind]
    signature = tuple(f.name for f in fields if f.required)
    if kind == "users":
        signature = ("user_id",)
    return Preset(f"canonical_{kind}", f"Shopper Lens canonical {kind}", kind, signature,
                  {f.name: (f.name,) for f in fields})


# the amount of a Python-dict text such as "{'amount': 0.83}" (NULL if none).
_AMOUNT_IN_DICT = ("TRY_CAST(NULLIF(regexp_extract(CAST({value} AS VARCHAR), "
                   "'''amount''\\s*:\\s*(-?[0-9.]+)', 1), '') AS DOUBLE)")
_COALESCED = ("item_id", "category", "price", "quantity", "revenue", "order_id", "search_query")
# the shopper of a WooCommerce order: the billing e-mail (hashed while staged),
# else the registered customer's id (0 is a guest).
_WOO_USER = ("coalesce(NULLIF(trim({{{email}}}), ''), "
             "NULLIF(NULLIF(trim({{Customer User ID}}), ''), '0'))")
_WOO_NOTE = ("WooCommerce: shoppers are the billing e-mail (stored hashed), else the customer "
             "user id; statuses with or without wc- map through the order-status table "
             "(completed/processing: purchase; refunded: refund; pending, on-hold, cancelled, "
             "failed: rejected as no sale).")

# Diginetica's shopper (the session when userId is empty) and time (the session's date + ms)
_DIGINETICA_KEYS = {"user_id": "coalesce({userId}, 'session:' || {sessionId})",
                    "event_time": "CAST(TRY_CAST({eventdate} AS DATE) AS TIMESTAMP) + "
                                  "to_milliseconds(TRY_CAST({timeframe} AS BIGINT))"}

PRESETS: tuple[Preset, ...] = (
    Preset(
        "rees46", "REES46 multi-category store", "events",
        ("event_time", "event_type", "product_id", "category_id", "category_code", "brand",
         "price", "user_id", "user_session"),
        {"event_time": ("event_time",), "event_type": ("event_type",),
         "item_id": ("product_id",), "brand": ("brand",), "price": ("price",),
         "user_id": ("user_id",), "session_id": ("user_session",)},
        {"category": "coalesce({category_code}, {category_id})"},
    ),
    Preset(
        "retailrocket", "RetailRocket e-commerce events", "events",
        ("timestamp", "visitorid", "event", "itemid", "transactionid"),
        {"event_time": ("timestamp",), "user_id": ("visitorid",), "event_type": ("event",),
         "item_id": ("itemid",), "order_id": ("transactionid",)},
    ),
    Preset(
        "online_retail", "UCI Online Retail", "events",
        ("InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice",
         "CustomerID", "Country"),
        {"user_id": ("CustomerID",), "event_time": ("InvoiceDate",), "item_id": ("StockCode",),
         "price": ("UnitPrice",), "quantity": ("Quantity",), "order_id": ("InvoiceNo",),
         "country": ("Country",)},
        {"event_type": "CASE WHEN {InvoiceNo} LIKE 'C%' THEN 'refund' ELSE 'purchase' END"},
        null_strings=("NA", ""),
    ),
    Preset(
        "online_retail_ii", "UCI Online Retail II", "events",
        ("Invoice", "StockCode", "Description", "Quantity", "InvoiceDate", "Price",
         "Customer ID", "Country"),
        {"user_id": ("Customer ID",), "event_time": ("InvoiceDate",), "item_id": ("StockCode",),
         "price": ("Price",), "quantity": ("Quantity",), "order_id": ("Invoice",),
         "country": ("Country",)},
        {"event_type": "CASE WHEN {Invoice} LIKE 'C%' THEN 'refund' ELSE 'purchase' END"},
        null_strings=("NA", ""),
    ),
    Preset(
        "ga4", "Google Analytics 4 (flattened BigQuery export)", "events",
        ("event_timestamp", "event_name", "user_pseudo_id"),
        {"event_time": ("event_timestamp",), "event_type": ("event_name",),
         "user_id": ("user_id", "user_pseudo_id"), "item_id": ("item_id", "items.item_id"),
         "category": ("item_category", "items.item_category"),
         "brand": ("item_brand", "items.item_brand"),
         "price": ("price", "item_price", "items.price"),
         "quantity": ("quantity", "items.quantity"),
         "order_id": ("transaction_id", "ecommerce.transaction_id"),
         "device": ("device_category", "device.category"),
         "channel": ("traffic_source_source", "traffic_source.source", "source"),
         "country": ("geo_country", "geo.country", "country"),
         "search_query": ("search_term",)},
        {"user_id": "coalesce({user_id}, {user_pseudo_id})",
         "session_id": ("{user_pseudo_id} || ':' || {ga_session_id}",
                        # the nested export: ga_session_id is one of the event_params
                        "{user_pseudo_id} || ':' || json_extract_string(list_filter("
                        "json_extract({event_params}, '$[*]'), lambda p: "
                        "json_extract_string(p, '$.key') = 'ga_session_id')[1], "
                        "'$.value.int_value')"),
         # a product line's revenue; a purchase without products: the order's revenue
         # (never beside products, where it would count the order once per product)
         "revenue": ("coalesce({items.item_revenue}, CASE WHEN {items.item_id} IS NULL THEN "
                     "{ecommerce.purchase_revenue} END)",
                     "CASE WHEN {items.item_id} IS NULL THEN {ecommerce.purchase_revenue} END",
                     "{item_revenue}", "{ecommerce.purchase_revenue}")},
        note="GA4: a nested export's products (items) are read as one row per product, with "
        "the product's revenue (else price x quantity); sessions are user_pseudo_id + "
        "ga_session_id.",
    ),
    Preset(
        "segment", "Segment / RudderStack track events", "events",
        ("event", "timestamp", "anonymousId"),
        {"user_id": ("anonymousId",), "event_type": ("event",), "event_time": ("timestamp",),
         "item_id": ("properties.product_id", "properties.sku", "properties.id"),
         "category": ("properties.category",), "brand": ("properties.brand",),
         "price": ("properties.price",), "quantity": ("properties.quantity",),
         "revenue": ("properties.revenue", "properties.total"),
         "order_id": ("properties.order_id",), "search_query": ("properties.query",),
         "device": ("context.device.type",), "channel": ("context.campaign.source",),
         "country": ("context.location.country",)},
        {"user_id": "coalesce({userId}, {anonymousId})"},
    ),
    Preset(
        "shopify_orders", "Shopify orders export", "events",
        ("Name", "Email", "Created at", "Lineitem quantity", "Lineitem price"),
        {"user_id": ("Email",), "event_time": ("Created at",), "order_id": ("Name",),
         "item_id": ("Lineitem sku", "Lineitem name"), "price": ("Lineitem price",),
         "quantity": ("Lineitem quantity",), "country": ("Billing Country",),
         "channel": ("Source",)},
        {"event_type": "CASE WHEN lower({Financial Status}) LIKE '%refunded' THEN 'refund' "
                       "ELSE 'purchase' END"},
    ),
    # single-file shapes of issue 11
    Preset(
        "ga360_hits", "Google Merchandise Store GA360 / Universal Analytics (one row per hit)",
        "events", ("fullVisitorId", "visitId", "visitStartTime"),
        {"user_id": ("fullVisitorId",), "event_time": ("visitStartTime",),
         "event_type": ("eCommerceAction_type", "hits_eCommerceAction_action_type",
                        "hits.eCommerceAction.action_type", "action_type"),
         "item_id": ("productSKU", "v2ProductSKU", "hits_product_productSKU",
                     "hits.product.productSKU"),
         "category": ("v2ProductCategory", "hits_product_v2ProductCategory",
                      "hits.product.v2ProductCategory"),
         "brand": ("productBrand", "hits.product.productBrand"),
         "quantity": ("productQuantity", "hits.product.productQuantity"),
         "order_id": ("transactionId", "hits_transaction_transactionId",
                      "hits.transaction.transactionId"),
         "channel": ("channelGrouping",), "device": ("deviceCategory", "device.deviceCategory"),
         "country": ("country", "geoNetwork_country", "geoNetwork.country")},
        {  # the hit's time is milliseconds since the visit started; prices are micro-units
            "event_time": tuple(
                "make_timestamp(CAST(TRY_CAST({visitStartTime} AS DOUBLE) * 1e6 + coalesce("
                f"TRY_CAST({{{t}}} AS DOUBLE), 0) * 1e3 AS BIGINT))"
                for t in ("time", "hitTime", "hits_time", "hits.time")),
            "session_id": "{fullVisitorId} || ':' || {visitId}",
            "price": tuple(f"TRY_CAST({{{c}}} AS DOUBLE) / 1e6" for c in (
                "productPrice", "hits_product_productPrice", "hits.product.productPrice")),
        },
    ),
    Preset(
        "movielens_ratings", "MovieLens-style ratings (userId, movieId, rating, timestamp)",
        "events", ("userId", "movieId", "rating", "timestamp"),
        {"user_id": ("userId",), "item_id": ("movieId",), "rating": ("rating",),
         "event_time": ("timestamp",)},
    ),
    # public retail event-log shapes (issue 11)
    # H&M Personalized Fashion Recommendations (Kaggle), transactions_train.csv
    Preset(
        "hm_transactions", "H&M personalized fashion transactions", "events",
        ("t_dat", "customer_id", "article_id", "price", "sales_channel_id"),
        {"event_time": ("t_dat",), "user_id": ("customer_id",), "item_id": ("article_id",),
         "price": ("price",)},
        {"channel": "'sales_channel_' || {sales_channel_id}"},
        note="H&M transactions: every row is one purchased article; article_id keeps its "
        "leading zero; sales_channel_id is kept as sales_channel_1/2 (H&M does not document "
        "which is online); prices are scaled by an unknown factor, not currency.",
    ),
    # Diginetica (CIKM Cup 2016), train-item-views.csv: semicolons, userId mostly NA
    Preset(
        "diginetica_views", "Diginetica (CIKM Cup 2016) item views", "events",
        ("sessionId", "userId", "itemId", "timeframe", "eventdate"),
        {"item_id": ("itemId",), "session_id": ("sessionId",)},
        {**_DIGINETICA_KEYS,
         "event_type": "'view'"},
        null_strings=("NA", ""),
        note="Diginetica: event times are the session's date plus timeframe (milliseconds "
        "since the session began), so the order within a session is right but the time of day "
        "is not; rows without userId are keyed by their session (user_id session:<id>), so each "
        "such visit counts as its own shopper.",
    ),
    # Diginetica (CIKM Cup 2016), train-purchases.csv
    Preset(
        "diginetica_purchases", "Diginetica (CIKM Cup 2016) purchases", "events",
        ("sessionId", "userId", "timeframe", "eventdate", "ordernumber", "itemId"),
        {"item_id": ("itemId",), "session_id": ("sessionId",), "order_id": ("ordernumber",)},
        {**_DIGINETICA_KEYS,
         "event_type": "'purchase'"},
        null_strings=("NA", ""),
        note="Diginetica: event times are the session's date plus timeframe (milliseconds "
        "since the session began); rows without userId are keyed by their session "
        "(user_id session:<id>); purchases carry no price (products.csv has only log2 prices).",
    ),
    # Ta-Feng grocery (Kaggle merged months file): AMOUNT is units, SALES_PRICE the line total
    Preset(
        "ta_feng", "Ta-Feng grocery transactions", "events",
        ("TRANSACTION_DT", "CUSTOMER_ID", "PRODUCT_ID", "AMOUNT", "SALES_PRICE"),
        {"event_time": ("TRANSACTION_DT",), "user_id": ("CUSTOMER_ID",),
         "item_id": ("PRODUCT_ID",), "category": ("PRODUCT_SUBCLASS",),
         "quantity": ("AMOUNT",), "revenue": ("SALES_PRICE",)},
        {"order_id": "{CUSTOMER_ID} || ':' || {TRANSACTION_DT}",
         # 11/1/2000 is 1 November (the data runs November 2000 to February 2001)
         "event_time": "coalesce(try_strptime({TRANSACTION_DT}, '%m/%d/%Y'), "
                       "TRY_CAST({TRANSACTION_DT} AS TIMESTAMP))"},
        note="Ta-Feng: AMOUNT is the number of units and SALES_PRICE the line total (ASSET is "
        "the cost, not loaded); a customer's lines on one day form one basket (order_id).",
    ),
    # Amazon product reviews (McAuley lab 2014/2018 JSON lines): reviewerID, asin, overall
    Preset(
        "amazon_reviews", "Amazon product reviews (2014/2018 JSON lines)", "events",
        ("reviewerID", "asin", "overall"),
        {"user_id": ("reviewerID",), "item_id": ("asin",), "rating": ("overall",)},
        {"event_time": ("{unixReviewTime}", "try_strptime({reviewTime}, '%m %d, %Y')"),
         "event_type": "'rate'"},
    ),
    # Amazon Reviews 2023 (McAuley lab JSON lines): rating, user_id, parent_asin, timestamp (ms)
    Preset(
        "amazon_reviews_2023", "Amazon Reviews 2023 (JSON lines)", "events",
        ("rating", "asin", "parent_asin", "user_id", "timestamp"),
        {"user_id": ("user_id",), "item_id": ("parent_asin",), "rating": ("rating",),
         "event_time": ("timestamp",)},
        {"event_type": "'rate'"},
        note="Amazon Reviews 2023: items are products (parent_asin), not their variants (asin).",
    ),
    # Mixpanel raw event export (NDJSON from /api/2.0/export; properties nested).
    # `time` is epoch seconds (milliseconds in newer exports; the unit is read from the values).
    Preset(
        "mixpanel", "Mixpanel raw event export", "events",
        ("event", "properties.time", "properties.distinct_id"),
        {"user_id": ("properties.distinct_id",), "event_time": ("properties.time",),
         "event_type": ("event",),
         "item_id": ("properties.product_id", "properties.sku", "properties.item_id",
                     "properties.product", "properties.$product_id"),
         "category": ("properties.category", "properties.product_category"),
         "brand": ("properties.brand",), "price": ("properties.price", "properties.$price"),
         "quantity": ("properties.quantity", "properties.$quantity"),
         "revenue": ("properties.revenue", "properties.$revenue", "properties.amount",
                     "properties.$amount", "properties.total"),
         "order_id": ("properties.order_id", "properties.transaction_id", "properties.orderId"),
         "session_id": ("properties.session_id", "properties.$session_id"),
         "device": ("properties.$device", "properties.$os"),
         "channel": ("properties.utm_source", "properties.$initial_referring_domain",
                     "properties.$referring_domain"),
         "country": ("properties.mp_country_code", "properties.$country_code"),
         "search_query": ("properties.search_term", "properties.query")},
        dedup_key=("event", "properties.distinct_id", "properties.time", "properties.$insert_id"),
        coalesced=_COALESCED,
        note="Mixpanel: users are distinct_id; rows repeating the event, distinct_id, time and "
        "$insert_id of an earlier row are rejected as re-sent copies (Mixpanel counts them "
        "once; its raw export does not). time is read as UTC; some projects export it in the "
        "project's time zone, so if times look shifted by whole hours, set the project to "
        "UTC and export again.",
    ),
    # Amplitude Export API (zipped hourly files of JSON lines), or the same columns
    # from a warehouse sync. user_id is null until a user logs in: the device id stands in.
    Preset(
        "amplitude", "Amplitude event export", "events",
        ("event_type", "event_time", "device_id", "amplitude_id"),
        {"event_time": ("event_time",), "event_type": ("event_type",),
         "item_id": ("event_properties.$productId", "event_properties.product_id",
                     "event_properties.productId", "event_properties.sku", "product_id"),
         "category": ("event_properties.category", "event_properties.product_category"),
         "brand": ("event_properties.brand",),
         "price": ("event_properties.$price", "event_properties.price", "price"),
         "quantity": ("event_properties.$quantity", "event_properties.quantity", "quantity"),
         "revenue": ("event_properties.$revenue", "event_properties.revenue", "revenue"),
         "order_id": ("event_properties.order_id", "event_properties.orderId",
                      "event_properties.transaction_id"),
         "device": ("device_type", "platform", "device_family"),
         "country": ("country",),
         "search_query": ("event_properties.search_term", "event_properties.query")},
        {"user_id": ("coalesce(NULLIF(trim(CAST({user_id} AS VARCHAR)), ''), "
                     "CAST({device_id} AS VARCHAR))", "CAST({device_id} AS VARCHAR)"),
         # session_id is the session's start in epoch ms, per device; -1 means no session.
         "session_id": "CASE WHEN TRY_CAST({session_id} AS BIGINT) > 0 THEN "
                       "CAST({device_id} AS VARCHAR) || ':' || CAST({session_id} AS VARCHAR) END"},
        dedup_key=("uuid",), coalesced=_COALESCED,
        note="Amplitude: users are user_id, or device_id where user_id is empty (anonymous "
        "events before a login stay a separate shopper); sessions are device_id plus the "
        "session start; rows repeating an earlier row's uuid are rejected as copies.",
    ),
    # WooCommerce order exports that repeat the order fields on every line item
    # (WooCommerce's own CSV export and the common export plugins); line totals are Item Cost
    # x Quantity. Guests have Customer User ID 0, so the billing e-mail (hashed) is the shopper.
    Preset(
        "woocommerce_lines", "WooCommerce order export, one row per line item", "events",
        ("Order Number", "Order Status", "Order Date", "Item Name", "Quantity", "Item Cost"),
        {"event_time": ("Order Date", "Paid Date"), "event_type": ("Order Status",),
         "order_id": ("Order Number",), "item_id": ("SKU", "Product ID", "Item Name"),
         "price": ("Item Cost",), "quantity": ("Quantity",),
         "country": ("Billing Country", "Country Code (Billing)"),
         "channel": ("Payment Method Title",)},
        {"user_id": (_WOO_USER.format(email="Billing Email"),
                     _WOO_USER.format(email="Email (Billing)"),
                     _WOO_USER.format(email="Customer Email"), "{Billing Email}",
                     "{Email (Billing)}", "NULLIF(NULLIF(trim({Customer User ID}), ''), '0')")},
        note=_WOO_NOTE, coalesced=("item_id",),
    ),
    Preset(
        "woocommerce_orders", "WooCommerce order export, one row per order", "events",
        ("Order Number", "Order Status", "Order Date", "Order Total"),
        {"event_time": ("Order Date", "Paid Date"), "event_type": ("Order Status",),
         "order_id": ("Order Number",), "revenue": ("Order Total",),
         "country": ("Billing Country", "Country Code (Billing)"),
         "channel": ("Payment Method Title",)},
        {"user_id": (_WOO_USER.format(email="Billing Email"),
                     _WOO_USER.format(email="Email (Billing)"),
                     _WOO_USER.format(email="Customer Email"), "{Billing Email}",
                     "{Email (Billing)}", "NULLIF(NULLIF(trim({Customer User ID}), ''), '0')")},
        note=_WOO_NOTE,
    ),
    # the Starbucks rewards test `transcript` (person, event, value, time): time is
    # hours since the test started, value a dict ({'amount': 0.83} on a transaction). Offer
    # events are marketing touches, skipped; transactions are purchases. Refused until the
    # start date is given (--set time_origin=YYYY-MM-DD), never read as 1970.
    Preset(
        "starbucks_transcript", "Starbucks rewards test transcript (time in hours since the start)",
        "events", ("person", "event", "time"),
        {"user_id": ("person",), "event_type": ("event",), "event_time": ("time",),
         "revenue": ("value.amount",)},
        {"revenue": (_AMOUNT_IN_DICT,)},
        constants={"time_unit": "hours"},
        note="Starbucks transcript: transactions are purchases with their amount; offer "
        "received/viewed/completed rows are offer touches, not shopping steps, and are "
        "rejected with that reason.",
    ),
    # OTTO (Kaggle 2022) sessions: JSON lines of {session, events: [{aid, ts, type}]} (ts in
    # ms, type clicks/carts/orders; read as a row per event), or the flattened Parquet
    # conversions (ts in seconds, type 0/1/2: never the Universal Analytics codes they look like).
    Preset(
        "otto_sessions", "OTTO e-commerce sessions (Kaggle 2022)", "events",
        ("session", "aid", "ts", "type"),
        {"user_id": ("session",), "session_id": ("session",), "item_id": ("aid",),
         "event_time": ("ts",)},
        {"event_type": "CASE lower(trim(CAST({type} AS VARCHAR))) WHEN 'clicks' THEN 'view' "
                       "WHEN '0' THEN 'view' WHEN 'carts' THEN 'cart' WHEN '1' THEN 'cart' "
                       "WHEN 'orders' THEN 'purchase' WHEN '2' THEN 'purchase' "
                       "ELSE CAST({type} AS VARCHAR) END"},
        note="OTTO: there is no shopper id, so each session is its own shopper (no repeat "
        "visits, recency within the session's day); clicks are views, carts cart adds, orders "
        "purchases (one per ordered item, with no price: no monetary value).",
    ),
    # Coveo SIGIR eCom 2021 data challenge browsing_train.csv: sessions of hashed page views
    # and product actions (detail, add, remove, purchase, click), epoch ms.
    Preset(
        "coveo_browsing", "Coveo SIGIR eCom 2021 browsing sessions", "events",
        ("session_id_hash", "event_type", "product_action", "product_sku_hash",
         "server_timestamp_epoch_ms"),
        {"user_id": ("session_id_hash",), "session_id": ("session_id_hash",),
         "item_id": ("product_sku_hash",), "event_time": ("server_timestamp_epoch_ms",)},
        {"event_type": "CASE lower(trim(CAST({product_action} AS VARCHAR))) "
                       "WHEN 'detail' THEN 'view' WHEN 'click' THEN 'view' WHEN 'add' THEN 'cart' "
                       "WHEN 'remove' THEN 'remove_from_cart' WHEN 'purchase' THEN 'purchase' "
                       "ELSE CASE WHEN lower(trim(CAST({event_type} AS VARCHAR))) = 'pageview' "
                       "THEN 'view' ELSE coalesce(CAST({product_action} AS VARCHAR), "
                       "CAST({event_type} AS VARCHAR)) END END"},
        note="Coveo: there is no shopper id, so each session is its own shopper; product "
        "actions detail and click are views, add and remove cart steps, purchase a purchase; "
        "page views without a product are views with no item. There are no prices.",
    ),
    # Tianchi mobile recommendation (Alibaba): behaviour codes and times to the hour.
    Preset(
        "tianchi_mobile", "Tianchi mobile recommendation user behaviour (Alibaba)", "events",
        ("user_id", "item_id", "behavior_type", "item_category", "time"),
        {"user_id": ("user_id",), "item_id": ("item_id",), "category": ("item_category",)},
        {"event_type": "CASE trim(CAST({behavior_type} AS VARCHAR)) WHEN '1' THEN 'view' "
                       "WHEN '2' THEN 'wishlist' WHEN '3' THEN 'cart' WHEN '4' THEN 'purchase' "
                       "ELSE CAST({behavior_type} AS VARCHAR) END",
         "event_time": "CAST(try_strptime(trim(CAST({time} AS VARCHAR)), '%Y-%m-%d %H') "
                       "AS VARCHAR)"},
        note="Tianchi: behavior_type 1 = view, 2 = favourite (wish list), 3 = cart, "
        "4 = purchase. Times are to the hour, so the 30-minute visits are approximate: a "
        "shopper's events within one hour form one visit. There are no prices (no monetary "
        "value); user_geohash is not loaded.",
    ),
    # Tmall repeat buyers (IJCAI-15, Alibaba) behaviour log: action codes and MMDD dates.
    Preset(
        "tmall_user_log", "Tmall repeat-buyers user behaviour log (IJCAI-15)", "events",
        ("user_id", "item_id", "cat_id", "seller_id", "time_stamp", "action_type"),
        {"user_id": ("user_id",), "item_id": ("item_id",), "category": ("cat_id",),
         "brand": ("brand_id",), "event_time": ("time_stamp",)},
        {"event_type": "CASE trim(CAST({action_type} AS VARCHAR)) WHEN '0' THEN 'view' "
                       "WHEN '1' THEN 'cart' WHEN '2' THEN 'purchase' WHEN '3' THEN 'wishlist' "
                       "ELSE CAST({action_type} AS VARCHAR) END"},
        constants={"time_format": "mmdd"},
        note="Tmall: action_type 0 = click (view), 1 = add to cart, 2 = purchase, "
        "3 = favourite (wish list); time_stamp is a day (MMDD) with no time of day, so a "
        "shopper's day is one visit. There are no prices (no monetary value); seller_id is "
        "not loaded.",
    ),
    # dunnhumby The Complete Journey: a household's loyalty-card purchases in store, timed by
    # day number (1 = the first day of the data) and hhmm, with no calendar date at all.
    Preset(
        "dunnhumby_transactions", "dunnhumby The Complete Journey transactions", "events",
        ("household_key", "BASKET_ID", "DAY", "PRODUCT_ID", "SALES_VALUE", "TRANS_TIME"),
        {"user_id": ("household_key",), "order_id": ("BASKET_ID",), "item_id": ("PRODUCT_ID",),
         "quantity": ("QUANTITY",), "revenue": ("SALES_VALUE",)},
        {"event_type": "'purchase'",
         # days since day 1 at 00:00, the time of day as a fraction (0219 = 02:19)
         "event_time": "CAST(TRY_CAST({DAY} AS BIGINT) - 1 + "
                       "(TRY_CAST({TRANS_TIME} AS BIGINT) // 100 * 60 + "
                       "TRY_CAST({TRANS_TIME} AS BIGINT) % 100) / 1440.0 AS VARCHAR)"},
        constants={"time_unit": "days", "time_since": "day 1 of the data"},
        source="offline",
        note="dunnhumby: in-store purchases by household (loaded as offline); SALES_VALUE is "
        "what the retailer received, after the loyalty (RETAIL_DISC) and coupon discounts, "
        "which are not loaded. WEEK_NO and STORE_ID are not loaded.",
    ),
    *(_canonical(kind) for kind in KIND_FIELDS),
)


def detect(columns: list[str], kind: str | None = None) -> Preset | None:
    """The preset whose signature the columns contain (the most specific one wins)."""
    found = [p for p in PRESETS if p.matches(columns) and (kind is None or p.kind == kind)]
    return max(found, key=lambda p: len(p.signature), default=None)


def by_name(name: str) -> Preset | None:
    return next((p for p in PRESETS if p.name == name), None)


def why(preset: Preset) -> str:
    return (f"the header has {', '.join(preset.signature)}, which identifies a "
            f"{preset.label} file")
