-- Every plain per-shopper aggregate in ONE pass over the scoped events: RFM, engagement,
-- intent, prices, channel and feedback (each output column is used by profile_rows); the two
-- distinct counts come from their own units.
SELECT a.*, d.active_days, coalesce(o.frequency, 0) AS frequency
FROM (
SELECT s.user_id,
       count(*) AS events,
       count(*) FILTER (WHERE s.event_type = 'view') AS views,
       max(s.event_time) AS last_event_at,
       -- purchases without any price or amount give an unknown (NULL) monetary, not 0
       CASE WHEN count(s.revenue) FILTER (WHERE s.event_type IN ('purchase', 'refund')) = 0
                 AND count(*) FILTER (WHERE s.event_type = 'purchase') > 0 THEN NULL
            ELSE coalesce(sum(s.revenue) FILTER (WHERE s.event_type IN ('purchase', 'refund')), 0)
       END AS monetary,
       max(s.event_time) FILTER (WHERE s.event_type = 'purchase') AS last_purchase_at,
       count(*) FILTER (WHERE s.event_type = 'cart') AS cart_adds,
       count(*) FILTER (WHERE s.event_type = 'wishlist') AS wishlist_adds,
       count(*) FILTER (WHERE s.event_type = 'search') AS searches,
       count(*) FILTER (WHERE s.event_type = 'view' AND p.category IS NOT NULL)
           AS high_value_category_visits,
       avg(s.price) FILTER (WHERE s.event_type = 'view') AS avg_price_viewed,
       avg(s.price) FILTER (WHERE s.event_type = 'purchase') AS avg_price_bought,
       count(*) FILTER (WHERE s.purchase_channel = 'offline') AS offline_purchases,
       coalesce(sum(s.revenue) FILTER (WHERE s.purchase_channel = 'offline'), 0)
           / nullif(sum(s.revenue) FILTER (WHERE s.purchase_channel IS NOT NULL), 0) AS offline_share,
       -- bought both ways (two counts instead of a DISTINCT count, which costs DuckDB a join)
       CASE WHEN count(*) FILTER (WHERE s.purchase_channel = 'offline') > 0
                 AND count(*) FILTER (WHERE s.purchase_channel = 'online') > 0 THEN 1 ELSE 0
       END AS omnichannel,
       -- explicit feedback: ratings given, their mean, the share of high ones
       count(s.rating) FILTER (WHERE s.event_type = 'rate') AS ratings_given,
       avg(s.rating) FILTER (WHERE s.event_type = 'rate') AS mean_rating,
       avg(CASE WHEN s.rating >= k.high_rating THEN 1.0 ELSE 0.0 END)
           FILTER (WHERE s.event_type = 'rate' AND s.rating IS NOT NULL) AS high_rating_share
FROM scoped s
LEFT JOIN premium_categories p ON p.category = s.category
CROSS JOIN rating_scale k
GROUP BY s.user_id
) a
JOIN active_days d ON d.user_id = a.user_id
LEFT JOIN order_counts o ON o.user_id = a.user_id
