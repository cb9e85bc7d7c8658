-- How often each shopper shows each value of the labelled columns (unknown values skipped).
-- Seven GROUP BYs over the (inlined) scoped events: measured cheaper on DuckDB than one
-- GROUPING SETS scan, which materialises its input first.
SELECT user_id, 'device' AS attribute, device AS value, count(*) AS n
FROM scoped WHERE device IS NOT NULL GROUP BY user_id, device
UNION ALL SELECT user_id, 'channel', channel, count(*)
FROM scoped WHERE channel IS NOT NULL GROUP BY user_id, channel
UNION ALL SELECT user_id, 'country', country, count(*)
FROM scoped WHERE country IS NOT NULL GROUP BY user_id, country
UNION ALL SELECT user_id, 'hour_band', hour_band, count(*)
FROM scoped GROUP BY user_id, hour_band
UNION ALL SELECT user_id, 'weekday', weekday, count(*)
FROM scoped GROUP BY user_id, weekday
UNION ALL SELECT user_id, 'category', category, count(*)
FROM scoped WHERE category IS NOT NULL GROUP BY user_id, category
UNION ALL SELECT user_id, 'brand', brand, count(*)
FROM scoped WHERE brand IS NOT NULL GROUP BY user_id, brand
