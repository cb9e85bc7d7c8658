-- Per buyer whose first order is at or before $calibration_end: repeat orders (frequency),
-- days from the first to the last order (recency) and to $calibration_end (age), the mean value
-- of the repeat orders, and the orders after $calibration_end (holdout_orders). Reads `ranked`.
SELECT user_id,
       count(*) FILTER (WHERE ordered_at <= $calibration_end) - 1 AS frequency,
       (epoch(max(ordered_at) FILTER (WHERE ordered_at <= $calibration_end)) - epoch(first_at))
           / 86400.0 AS recency,
       (epoch(CAST($calibration_end AS TIMESTAMP)) - epoch(first_at)) / 86400.0 AS age,
       avg(order_value) FILTER (WHERE n > 1 AND ordered_at <= $calibration_end) AS mean_value,
       count(*) FILTER (WHERE ordered_at > $calibration_end) AS holdout_orders
FROM ranked
WHERE first_at <= $calibration_end
GROUP BY user_id, first_at
ORDER BY user_id
