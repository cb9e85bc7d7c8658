-- How often each shopper shows each value of the labelled columns (unknown values skipped).
-- One scan of scoped with seven grouping sets instead of seven GROUP BYs over it. In each set
-- only its own column is grouped (the others read NULL), so the one non-NULL column names the
-- attribute; the NULL group of a column (its unknown values) is dropped.
SELECT user_id,
       CASE WHEN device IS NOT NULL THEN 'device' WHEN channel IS NOT NULL THEN 'channel'
            WHEN country IS NOT NULL THEN 'country' WHEN hour_band IS NOT NULL THEN 'hour_band'
            WHEN weekday IS NOT NULL THEN 'weekday' WHEN category IS NOT NULL THEN 'category'
            ELSE 'brand' END AS attribute,
       value, n
FROM (SELECT user_id, device, channel, country, hour_band, weekday, category, brand,
             coalesce(device, channel, country, hour_band, weekday, category, brand) AS value,
             count(*) AS n
      FROM scoped
      GROUP BY GROUPING SETS ((user_id, device), (user_id, channel), (user_id, country),
                              (user_id, hour_band), (user_id, weekday), (user_id, category),
                              (user_id, brand))) sets
WHERE value IS NOT NULL
