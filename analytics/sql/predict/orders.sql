-- One row per order (the profiles' order key: order id; else visit; else day) up to $as_of:
-- when it was placed (its first purchase event) and its value (purchase revenue, NULL when no
-- line has an amount). Reads `scoped` (analytics/sql/profiles/scoped.sql), so an "order" here is
-- exactly what the profiles' `frequency` counts.
SELECT user_id, order_key, min(event_time) AS ordered_at, sum(revenue) AS order_value
FROM scoped
WHERE event_type = 'purchase'
GROUP BY user_id, order_key
