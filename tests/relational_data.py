"""Synthetic relational exports (real public column names, invented values) with known answers.

Olist-like: person P1 has two orders under two per-order customer ids (c1, c2); order o1 holds two
units of product pA (two rows, order_item_id 1 and 2); o4 is canceled and o9's lines have no order
header, so those two lines are rejected. Known answers are in OLIST_EXPECTED.
"""

from __future__ import annotations

from pathlib import Path

OLIST_FILES = {
    "olist_customers_dataset.csv": (
        "customer_id,customer_unique_id,customer_zip_code_prefix,customer_city,customer_state\n"
        "c1,P1,01001,sao paulo,SP\nc2,P1,01001,sao paulo,SP\nc3,P2,20010,rio de janeiro,RJ\n"),
    "olist_orders_dataset.csv": (
        "order_id,customer_id,order_status,order_purchase_timestamp,order_approved_at,"
        "order_delivered_customer_date\n"
        "o1,c1,delivered,2017-10-02 10:56:33,2017-10-02 11:07:15,2017-10-10 21:25:13\n"
        "o2,c2,delivered,2017-11-05 09:00:00,2017-11-05 09:10:00,2017-11-12 10:00:00\n"
        "o3,c3,shipped,2018-01-10 12:00:00,2018-01-10 12:30:00,\n"
        "o4,c3,canceled,2018-01-11 12:00:00,,\n"),
    "olist_order_items_dataset.csv": (
        "order_id,order_item_id,product_id,seller_id,shipping_limit_date,price,freight_value\n"
        "o1,1,pA,s1,2017-10-06 11:07:15,29.90,5.00\n"
        "o1,2,pA,s1,2017-10-06 11:07:15,29.90,5.00\n"
        "o1,3,pB,s2,2017-10-06 11:07:15,100.00,10.00\n"
        "o2,1,pC,s1,2017-11-09 09:10:00,15.50,3.00\n"
        "o3,1,pB,s2,2018-01-14 12:30:00,100.00,8.00\n"
        "o4,1,pA,s1,2018-01-15 12:00:00,29.90,5.00\n"
        "o9,1,pA,s1,2018-02-01 12:00:00,29.90,5.00\n"),
    "olist_products_dataset.csv": (
        "product_id,product_category_name,product_name_lenght,product_weight_g\n"
        "pA,cama_mesa_banho,40,500\npB,beleza_saude,35,200\npC,informatica_acessorios,50,900\n"),
    "product_category_name_translation.csv": (
        "product_category_name,product_category_name_english\n"
        "cama_mesa_banho,bed_bath_table\nbeleza_saude,health_beauty\n"),
}

OLIST_EXPECTED = {
    "revenue": {"P1": 29.90 * 2 + 100.00 + 15.50, "P2": 100.00},
    "orders": {"P1": 2, "P2": 1},
    # file -> (kind, rows_read, rows_loaded, rows_rejected, duplicates_skipped)
    "files": {
        ("olist_customers_dataset.csv", "identities"): (3, 3, 0, 0),
        ("olist_customers_dataset.csv", "users"): (3, 2, 0, 1),
        ("olist_orders_dataset.csv", "identities"): (4, 4, 0, 0),
        ("olist_products_dataset.csv", "items"): (3, 3, 0, 0),
        ("olist_order_items_dataset.csv", "events"): (7, 5, 2, 0),
        ("product_category_name_translation.csv", "lookup"): (2, 2, 0, 0),
    },
}

# The four files of the browser test: no translation, so categories stay as in the products file.
OLIST_FOUR = ("olist_customers_dataset.csv", "olist_orders_dataset.csv",
              "olist_order_items_dataset.csv", "olist_products_dataset.csv")

# Shopify: order-level fields only on an order's first line; #1002 has two lines; #1003 voided.
SHOPIFY_FILE = (
    "Name,Email,Financial Status,Paid at,Fulfillment Status,Currency,Subtotal,Total,Created at,"
    "Lineitem quantity,Lineitem name,Lineitem price,Lineitem sku,Billing Country,Source\n"
    "#1001,ann@example.com,paid,2024-01-15 10:24:00 -0500,fulfilled,USD,16.00,16.00,"
    "2024-01-15 10:23:45 -0500,2,Mug,8.00,MUG-1,US,web\n"
    "#1002,bob@example.com,paid,2024-01-16 09:00:00 -0500,fulfilled,USD,35.00,35.00,"
    "2024-01-16 08:59:00 -0500,1,Tee,20.00,TEE-1,US,web\n"
    "#1002,,,,,,,,,3,Sticker,5.00,STK-1,,\n"
    "#1003,ann@example.com,voided,,,USD,8.00,8.00,2024-01-17 12:00:00 -0500,1,Mug,8.00,MUG-1,US,web\n"
    "#1004,ann@example.com,partially_refunded,2024-02-01 10:00:00 -0500,fulfilled,USD,20.00,"
    "20.00,2024-02-01 09:59:00 -0500,1,Tee,20.00,TEE-1,US,web\n")

SHOPIFY_EXPECTED = {"revenue": {"ann@example.com": 16.0 + 20.0, "bob@example.com": 20.0 + 15.0},
                    "rows": (5, 4, 1, 0)}

# WooCommerce (Advanced Order Export column names): order fields repeated on #501's lines but
# only on the first line of #502; #503 is cancelled; statuses may carry the `wc-` prefix.
WOO_FILE = (
    "Order Number,Order Status,Order Date,First Name (Billing),Email (Billing),"
    "Country Code (Billing),Payment Method Title,Order Total Amount,SKU,Item #,Item Name,Quantity,"
    "Item Cost\n"
    "501,completed,2024-03-01 09:15:00,Cy,cy@example.com,DE,PayPal,34.00,HAT-1,1,Hat,1,14.00\n"
    "501,completed,2024-03-01 09:15:00,Cy,cy@example.com,DE,PayPal,34.00,SOCK-2,2,Socks,2,10.00\n"
    "502,wc-processing,2024-03-02 18:00:00,Di,di@example.com,FR,Card,42.00,BAG-1,1,Bag,1,42.00\n"
    "502,,,,,,,,,2,Gift wrap,1,0.00\n"
    "503,cancelled,2024-03-03 08:00:00,Cy,cy@example.com,DE,PayPal,14.00,HAT-1,1,Hat,1,14.00\n")

WOO_EXPECTED = {"revenue": {"cy@example.com": 14.0 + 2 * 10.0, "di@example.com": 42.0},
                "rows": (5, 4, 1, 0)}


def write_olist(folder: Path, names: tuple[str, ...] | None = None) -> list[Path]:
    """Write the Olist-like files (all, or ``names``) into ``folder``; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in names or tuple(OLIST_FILES):
        path = folder / name
        path.write_text(OLIST_FILES[name])
        paths.append(path)
    return paths
