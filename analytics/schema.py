"""The canonical data model: tables, their migrations, and the column vocabulary per kind.

Every source is mapped onto these tables (DESIGN.md §3). Migrations are numbered and run in
order inside one transaction; ``meta.schema_version`` records the last one applied.
"""

from __future__ import annotations

from dataclasses import dataclass

EVENT_TYPES = (
    "view", "search", "cart", "remove_from_cart", "wishlist", "checkout", "purchase", "refund",
    "rate",  # explicit feedback (a rating or review score in events.rating)
)

# Source spellings of the canonical event types (compared lower-cased, trimmed).
EVENT_TYPE_SYNONYMS: dict[str, str] = {
    **{t: t for t in EVENT_TYPES},
    "page_view": "view", "pageview": "view", "view_item": "view", "product viewed": "view",
    "product_view": "view", "detail": "view", "impression": "view", "click": "view",
    "search": "search", "view_search_results": "search", "products searched": "search",
    "addtocart": "cart", "add_to_cart": "cart", "add to cart": "cart", "product added": "cart",
    "cart_add": "cart", "basket": "cart",
    "removefromcart": "remove_from_cart", "remove_from_cart": "remove_from_cart",
    "product removed": "remove_from_cart", "remove": "remove_from_cart",
    "add_to_wishlist": "wishlist", "product added to wishlist": "wishlist",
    "begin_checkout": "checkout", "checkout started": "checkout", "checkout": "checkout",
    "transaction": "purchase", "order": "purchase", "order completed": "purchase",
    "purchased": "purchase", "sale": "purchase", "buy": "purchase",
    "return": "refund", "refunded": "refund", "order refunded": "refund",
    "rating": "rate", "review": "rate", "rated": "rate",
}


@dataclass(frozen=True)
class Field:
    """One canonical column a source column can be mapped onto."""

    name: str
    type: str  # id | text | timestamp | number | event_type
    required: bool = False
    help: str = ""
    synonyms: tuple[str, ...] = ()


EVENT_FIELDS = (
    Field("user_id", "id", True, "Who did it (customer, visitor, loyalty or household id)",
          ("userid", "user", "customer_id", "customerid", "visitorid", "visitor_id", "client_id",
           "household_id", "member_id", "loyalty_id", "shopper_id", "account_id", "user_pseudo_id",
           "anonymousid", "cust_id", "customer", "household_key")),
    Field("event_time", "timestamp", True, "When it happened",
          ("timestamp", "time", "event_timestamp", "datetime", "date", "invoicedate", "created_at",
           "transaction_timestamp", "ts", "occurred_at", "order_date", "purchase_date",
           "processed_at")),
    Field("event_type", "event_type", True,
          "What happened (view, cart, purchase, …); offline sources default to purchase",
          ("event", "event_name", "type", "action", "eventtype", "activity",
           # analytics action codes and order statuses, read through the value map
           "action_type", "ecommerceaction_type", "order_status", "status", "financial_status",
           # Taobao / Tmall / Tianchi user-behaviour logs
           "behavior_type", "behaviour_type", "behavior", "behaviour")),
    Field("item_id", "id", False, "Product / SKU",
          ("product_id", "itemid", "sku", "stockcode", "productid", "article_id", "lineitem_sku")),
    Field("category", "text", False, "Product category",
          ("category_code", "product_category", "category_name", "department", "item_category")),
    Field("brand", "text", False, "Brand", ("manufacturer", "vendor", "item_brand")),
    Field("price", "number", False, "Unit price",
          ("unitprice", "unit_price", "item_price", "lineitem_price", "cost")),
    Field("quantity", "number", False, "Units", ("qty", "lineitem_quantity", "units", "count")),
    Field("revenue", "number", False,
          "Line total (price × quantity); used when the source has no unit price",
          ("sales_value", "line_total", "amount", "sales", "total", "value", "purchase_revenue")),
    Field("session_id", "id", False, "Visit id; derived from 30-minute gaps when absent",
          ("user_session", "session", "sessionid", "visit_id", "ga_session_id")),
    Field("order_id", "id", False, "Order / basket / receipt id",
          ("transactionid", "transaction_id", "invoiceno", "invoice", "basket_id", "receipt_id",
           "orderid")),
    Field("device", "text", False, "Device (mobile, desktop, …)",
          ("device_category", "platform", "device_type")),
    Field("channel", "text", False, "Marketing channel / referrer",
          ("source", "medium", "utm_source", "referrer", "traffic_source", "channel_grouping")),
    Field("country", "text", False, "Country", ("geo_country", "billing_country", "country_code")),
    Field("search_query", "text", False, "Search text", ("query", "search_term", "keyword", "q")),
    # explicit feedback; a file with a rating column and no event type is all `rate` events
    Field("rating", "number", False, "Rating or review score (rate events)",
          ("score", "stars", "review_score", "rating_value")),
)

ITEM_FIELDS = (
    Field("item_id", "id", True, "Product / SKU",
          ("product_id", "itemid", "sku", "stockcode", "productid", "id")),
    Field("title", "text", False, "Product name",
          ("name", "product_name", "description", "product_type", "item_name")),
    Field("category", "text", False, "Category",
          ("product_category", "category_code", "department", "category_name")),
    Field("brand", "text", False, "Brand", ("manufacturer", "vendor", "manufacturer_id")),
    Field("price", "number", False, "List price", ("unitprice", "unit_price", "list_price")),
)

USER_FIELDS = (
    Field("user_id", "id", True, "Customer id",
          ("customer_id", "customerid", "household_id", "household_key", "userid", "member_id",
           "loyalty_id", "id")),
)

IDENTITY_FIELDS = (
    Field("alias", "id", True, "The other id (loyalty card, hashed e-mail, POS id)",
          ("loyalty_id", "alias_id", "external_id", "card_id", "email", "pos_id")),
    Field("user_id", "id", True, "The master (online) user id",
          ("master_id", "customer_id", "userid", "online_id")),
    Field("alias_type", "text", False, "Kind of alias", ("type", "id_type", "source")),
)

EXPERIMENT_FIELDS = (
    Field("user_id", "id", True, "Who was assigned",
          ("customer_id", "customerid", "userid", "visitorid", "household_id", "household_key")),
    Field("experiment", "text", False, "Experiment / campaign name; defaults to the file name",
          ("experiment_name", "campaign", "campaign_id", "test", "test_name")),
    Field("variant", "text", True, "Arm (treatment, control, …)",
          ("group", "arm", "treatment", "bucket", "segment", "cohort")),
    Field("assigned_at", "timestamp", False, "When the user was assigned",
          ("assignment_time", "timestamp", "date", "start_date", "exposed_at")),
)

KIND_FIELDS: dict[str, tuple[Field, ...]] = {
    "events": EVENT_FIELDS,
    "items": ITEM_FIELDS,
    "users": USER_FIELDS,
    "identities": IDENTITY_FIELDS,
    "experiments": EXPERIMENT_FIELDS,
}

# Kinds whose unmapped columns are kept as JSON attributes rather than ignored.
KINDS_WITH_ATTRIBUTES = ("items", "users")

# Columns written to each table by ingestion, in table order (dataset_id last).
TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "events": ("user_id", "source_user_id", "event_time", "event_type", "item_id", "category",
               "brand", "price", "quantity", "revenue", "session_id", "order_id", "device",
               "channel", "country", "search_query", "source", "rating"),
    "items": ("item_id", "title", "category", "brand", "price", "attributes"),
    "users": ("user_id", "attributes"),
    "identities": ("alias", "user_id", "alias_type"),
    "experiments": ("user_id", "experiment", "variant", "assigned_at"),
}

# The identity map follows links transitively (alias -> id -> id ...), bounded at 16 hops; a
# cycle resolves to its smallest id. ``direct`` is the one-hop links it starts from: the latest
# identities file per alias, later also applied probabilistic links for aliases no file maps.
_IDENTITY_MAP_VIEW = """CREATE VIEW identity_map AS
            WITH RECURSIVE direct AS (<direct>),
            chain(alias, user_id, depth, path, cyclic) AS (
                SELECT alias, user_id, 1, [alias, user_id], alias = user_id FROM direct
                UNION ALL
                SELECT c.alias, d.user_id, c.depth + 1, list_append(c.path, d.user_id),
                       list_contains(c.path, d.user_id)
                FROM chain c JOIN direct d ON d.alias = c.user_id
                WHERE NOT c.cyclic AND c.depth < 16),
            last AS (
                SELECT alias, arg_max(user_id, depth) AS user_id, arg_max(path, depth) AS path,
                       arg_max(cyclic, depth) AS cyclic
                FROM chain GROUP BY alias)
            SELECT alias, CASE WHEN cyclic
                THEN list_min(list_slice(path, list_position(path, user_id), -1))
                ELSE user_id END AS user_id
            FROM last"""
_FILE_LINKS = """
                SELECT i.alias, arg_max(i.user_id, d.loaded_at) AS user_id
                FROM identities i JOIN datasets d USING (dataset_id) GROUP BY i.alias"""
_FILE_AND_PROBABILISTIC_LINKS = """
                SELECT i.alias, arg_max(i.user_id, d.loaded_at) AS user_id
                FROM identities i JOIN datasets d USING (dataset_id) GROUP BY i.alias
                UNION ALL
                SELECT l.alias, l.user_id FROM identity_links l
                WHERE l.alias NOT IN (SELECT alias FROM identities)"""


def _identity_map_view(direct: str) -> str:
    return _IDENTITY_MAP_VIEW.replace("<direct>", direct)


MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        "CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR)",
        """CREATE TABLE datasets (
            dataset_id VARCHAR PRIMARY KEY, name VARCHAR NOT NULL, kind VARCHAR NOT NULL,
            source VARCHAR, sha256 VARCHAR NOT NULL, format VARCHAR, encoding VARCHAR,
            preset VARCHAR, mapping JSON, options JSON, rows_read BIGINT NOT NULL,
            rows_loaded BIGINT NOT NULL, rows_rejected BIGINT NOT NULL,
            duplicates_skipped BIGINT NOT NULL, notes JSON,
            loaded_at TIMESTAMP NOT NULL DEFAULT current_timestamp)""",
        """CREATE TABLE events (
            user_id VARCHAR NOT NULL, source_user_id VARCHAR, event_time TIMESTAMP NOT NULL,
            event_type VARCHAR NOT NULL, item_id VARCHAR, category VARCHAR, brand VARCHAR,
            price DOUBLE, quantity DOUBLE, revenue DOUBLE, session_id VARCHAR, order_id VARCHAR,
            device VARCHAR, channel VARCHAR, country VARCHAR, search_query VARCHAR,
            source VARCHAR, dataset_id VARCHAR NOT NULL)""",
        """CREATE TABLE rejects (
            dataset_id VARCHAR NOT NULL, record BIGINT, reason VARCHAR NOT NULL, raw VARCHAR)""",
        """CREATE TABLE items (
            item_id VARCHAR NOT NULL, title VARCHAR, category VARCHAR, brand VARCHAR,
            price DOUBLE, attributes JSON, dataset_id VARCHAR NOT NULL)""",
        """CREATE TABLE users (
            user_id VARCHAR NOT NULL, attributes JSON, dataset_id VARCHAR NOT NULL)""",
        """CREATE TABLE identities (
            alias VARCHAR NOT NULL, user_id VARCHAR NOT NULL, alias_type VARCHAR,
            dataset_id VARCHAR NOT NULL)""",
        """CREATE TABLE experiments (
            user_id VARCHAR NOT NULL, experiment VARCHAR NOT NULL, variant VARCHAR NOT NULL,
            assigned_at TIMESTAMP, dataset_id VARCHAR NOT NULL)""",
        # The latest mapping per alias (a later identities file overrides an earlier one).
        """CREATE VIEW identity_map AS
            SELECT i.alias, arg_max(i.user_id, d.loaded_at) AS user_id
            FROM identities i JOIN datasets d USING (dataset_id) GROUP BY i.alias""",
    ),
    (
        # One row per segmentation run; `model` holds the fitted pipeline (joblib) so that new
        # events can be scored with the saved definition instead of a refit.
        """CREATE TABLE segment_runs (
            run_id VARCHAR PRIMARY KEY, name VARCHAR NOT NULL, method VARCHAR NOT NULL,
            params JSON, features JSON, as_of TIMESTAMP, k INTEGER, quality JSON,
            segments JSON, definition JSON, model BLOB,
            created_at TIMESTAMP NOT NULL DEFAULT current_timestamp)""",
        """CREATE TABLE segment_members (
            run_id VARCHAR NOT NULL, user_id VARCHAR NOT NULL, segment_id INTEGER NOT NULL,
            segment_name VARCHAR NOT NULL, probability DOUBLE)""",
    ),
    (
        # Living segments: who was in which segment when (valid_to NULL = now), and one row
        # per refresh with what it changed.
        """CREATE TABLE segment_history (
            run_id VARCHAR NOT NULL, user_id VARCHAR NOT NULL, segment_id INTEGER NOT NULL,
            segment_name VARCHAR NOT NULL, valid_from TIMESTAMP NOT NULL, valid_to TIMESTAMP)""",
        """CREATE TABLE segment_refreshes (
            refresh_id VARCHAR PRIMARY KEY, run_id VARCHAR NOT NULL, created_at TIMESTAMP NOT NULL,
            as_of TIMESTAMP, previous_as_of TIMESTAMP, files JSON, recomputed BIGINT,
            moved BIGINT, sizes JSON, drift JSON, suggestion VARCHAR)""",
    ),
    # ratings and reviews as `rate` events with their score
    ("ALTER TABLE events ADD COLUMN rating DOUBLE",),
    # aliases resolve transitively (order -> per-order customer id -> person), so a
    # relational export's keys chain; cycle-safe (a cycle resolves to its smallest member) and
    # bounded at 16 hops.
    (
        "DROP VIEW identity_map",
        _identity_map_view(_FILE_LINKS),
    ),
    # which data version each derived result was built from, so pages can flag stale ones.
    (
        """CREATE TABLE result_versions (
            kind VARCHAR NOT NULL, result_id VARCHAR NOT NULL, data_version VARCHAR NOT NULL,
            built_at TIMESTAMP NOT NULL, datasets BIGINT, PRIMARY KEY (kind, result_id))""",
    ),
    (
        # results that are expensive to build and read on every page open (fitted
        # recommenders, the default funnel) stored once per data version (analytics/stored.py).
        """CREATE TABLE stored_results (
            kind VARCHAR NOT NULL, settings_key VARCHAR NOT NULL, data_version VARCHAR NOT NULL,
            settings JSON, seconds DOUBLE, payload BLOB NOT NULL,
            created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
            PRIMARY KEY (kind, settings_key))""",
    ),
    # probabilistic identity links (Splink) and the candidate pairs behind them; the
    # identity map takes an applied probabilistic link only for an alias no identities file
    # maps (deterministic links always win). Columns are named alias/user_id so that forgetting
    # a shopper (analytics/privacy.py) finds and deletes their links and candidate pairs.
    (
        """CREATE TABLE identity_candidates (
            alias VARCHAR NOT NULL, user_id VARCHAR NOT NULL, probability DOUBLE NOT NULL,
            match_weight DOUBLE NOT NULL, evidence JSON NOT NULL, status VARCHAR NOT NULL,
            run_id VARCHAR NOT NULL, created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
            decided_at TIMESTAMP, PRIMARY KEY (alias, user_id))""",
        """CREATE TABLE identity_links (
            alias VARCHAR PRIMARY KEY, user_id VARCHAR NOT NULL, probability DOUBLE NOT NULL,
            method VARCHAR NOT NULL DEFAULT 'probabilistic', status VARCHAR NOT NULL,
            linked_at TIMESTAMP NOT NULL DEFAULT current_timestamp)""",
        "DROP VIEW identity_map",
        _identity_map_view(_FILE_AND_PROBABILISTIC_LINKS),
    ),
    # predicted lifetime value — one row per fit (parameters, split, validation) and the
    # latest fit's per-shopper values, which load_profiles joins so rules and exports see them.
    (
        """CREATE TABLE prediction_fits (
            fit_id VARCHAR PRIMARY KEY, created_at TIMESTAMP NOT NULL, as_of TIMESTAMP NOT NULL,
            calibration_end TIMESTAMP NOT NULL, horizon_days DOUBLE NOT NULL,
            monthly_discount DOUBLE NOT NULL, users BIGINT NOT NULL, bgnbd JSON NOT NULL,
            gamma_gamma JSON NOT NULL, holdout JSON NOT NULL)""",
        """CREATE TABLE predictions (
            user_id VARCHAR PRIMARY KEY, p_alive DOUBLE, expected_purchases DOUBLE,
            expected_order_value DOUBLE, clv DOUBLE, as_of TIMESTAMP NOT NULL,
            fit_id VARCHAR NOT NULL)""",
    ),
    # where a Spark result too big for the dashboard was written as Parquet (--out-dir);
    # the workspace keeps only a sample and aggregates, and the pages say so.
    (
        """CREATE TABLE spark_outputs (
            kind VARCHAR NOT NULL, ref VARCHAR NOT NULL, path VARCHAR NOT NULL,
            rows_written BIGINT NOT NULL, users BIGINT NOT NULL, partitioning VARCHAR NOT NULL,
            sample_rows BIGINT NOT NULL, as_of TIMESTAMP, written_at TIMESTAMP NOT NULL,
            PRIMARY KEY (kind, ref))""",
    ),
    # tables that were created on first write: two sessions writing their first evaluation (or
    # uplift run) at once collided on the CREATE ("Catalog write-write conflict"); an older
    # workspace may already have them.
    (
        """CREATE TABLE IF NOT EXISTS recommend_evaluations (
    evaluation_id VARCHAR NOT NULL, created_at TIMESTAMP NOT NULL, model VARCHAR NOT NULL,
    segment VARCHAR NOT NULL, k INTEGER NOT NULL, users BIGINT NOT NULL,
    precision DOUBLE, recall DOUBLE, ndcg DOUBLE, map DOUBLE, hit_rate DOUBLE,
    coverage DOUBLE, novelty DOUBLE, fit_seconds DOUBLE, split VARCHAR, options JSON)""",
        """CREATE TABLE IF NOT EXISTS uplift_runs (
        run_id VARCHAR PRIMARY KEY, source VARCHAR NOT NULL, outcome VARCHAR NOT NULL,
        outcome_kind VARCHAR NOT NULL, treatment VARCHAR NOT NULL, control VARCHAR NOT NULL,
        model VARCHAR NOT NULL, users INTEGER NOT NULL, metrics JSON,
        created_at TIMESTAMP NOT NULL DEFAULT current_timestamp)""",
        """CREATE TABLE IF NOT EXISTS uplift_scores (
        run_id VARCHAR NOT NULL, user_id VARCHAR NOT NULL, uplift DOUBLE NOT NULL,
        percentile DOUBLE NOT NULL)""",
    ),
)

SCHEMA_VERSION = len(MIGRATIONS)

# Tables that hold rows of an ingested dataset (delete-by-dataset touches exactly these).
DATASET_TABLES = ("events", "rejects", "items", "users", "identities", "experiments")
