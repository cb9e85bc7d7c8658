-- Each order numbered in time per shopper, with the shopper's first order time. Reads `orders`.
SELECT user_id, ordered_at, order_value,
       row_number() OVER (PARTITION BY user_id ORDER BY ordered_at, order_key) AS n,
       min(ordered_at) OVER (PARTITION BY user_id) AS first_at
FROM orders
