-- Distinct orders per purchasing shopper (order id, else purchase session, else day), as a
-- GROUP BY of its own for the same reason as active_days.
SELECT user_id, count(*) AS frequency
FROM (SELECT user_id, order_key FROM scoped WHERE event_type = 'purchase' GROUP BY 1, 2) orders
GROUP BY user_id
