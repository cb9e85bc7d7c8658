-- The modes of the labelled columns side by side, one row per shopper.
SELECT user_id,
       max(top) FILTER (WHERE attribute = 'device') AS main_device,
       max(mobile_share) FILTER (WHERE attribute = 'device') AS mobile_share,
       max(top) FILTER (WHERE attribute = 'hour_band') AS preferred_hour_band,
       max(top) FILTER (WHERE attribute = 'weekday') AS preferred_weekday,
       max(top) FILTER (WHERE attribute = 'channel') AS main_channel,
       max(top) FILTER (WHERE attribute = 'country') AS country,
       max(top) FILTER (WHERE attribute = 'category') AS top_category,
       max(top_share) FILTER (WHERE attribute = 'category') AS top_category_share,
       max(distinct_values) FILTER (WHERE attribute = 'category') AS category_count,
       max(concentration) FILTER (WHERE attribute = 'brand') AS brand_concentration
FROM modes
GROUP BY user_id
