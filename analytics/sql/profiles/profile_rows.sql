-- One row per shopper with every feature except the population scores (see scores.sql).
SELECT s.user_id,
       @days_between(CAST(s.last_purchase_at AS DATE), CAST($as_of AS DATE)) AS recency_days,
       s.frequency, s.monetary,
       s.monetary / nullif(s.frequency, 0) AS avg_order_value,
       s.last_purchase_at,
       s.events, v.sessions, s.active_days,
       s.events / v.sessions AS events_per_session,
       s.views / v.sessions AS views_per_session,
       v.avg_session_minutes,
       @days_between(CAST(s.last_event_at AS DATE), CAST($as_of AS DATE)) AS days_since_last_event,
       s.cart_adds, v.cart_abandonment_rate, s.wishlist_adds, s.searches,
       w.cart_no_purchase_7d, s.high_value_category_visits,
       l.main_device, l.mobile_share, l.preferred_hour_band, l.preferred_weekday, l.main_channel,
       l.country,
       l.top_category, l.top_category_share, coalesce(l.category_count, 0) AS category_count,
       c.category_shares, l.brand_concentration,
       s.avg_price_viewed, s.avg_price_bought,
       s.avg_price_viewed / nullif(s.avg_price_bought, 0) - 1 AS price_sensitivity,
       s.offline_purchases, s.offline_share, s.omnichannel,
       s.ratings_given, s.mean_rating, s.high_rating_share,
       w.events_7d, w.events_30d, w.purchases_30d, w.revenue_30d, w.views_7d,
       r.crm_attributes
FROM user_stats s
JOIN visit_stats v ON v.user_id = s.user_id
JOIN windows w ON w.user_id = s.user_id
LEFT JOIN labels l ON l.user_id = s.user_id
LEFT JOIN category_mix c ON c.user_id = s.user_id
LEFT JOIN crm r ON r.user_id = s.user_id
