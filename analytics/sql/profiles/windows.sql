-- The 7- and 30-day window features, written once: for every shopper of window_users
-- (user_id, last_purchase_at) from their events in window_events. The full build feeds it the
-- scoped events; an incremental refresh feeds it the shoppers whose windows moved.
SELECT u.user_id,
       coalesce(w.events_7d, 0) AS events_7d,
       coalesce(w.events_30d, 0) AS events_30d,
       coalesce(w.purchases_30d, 0) AS purchases_30d,
       coalesce(w.revenue_30d, 0) AS revenue_30d,
       coalesce(w.views_7d, 0) AS views_7d,
       CASE WHEN w.last_cart_7d IS NULL THEN 0
            WHEN u.last_purchase_at >= w.last_cart_7d THEN 0
            ELSE 1 END AS cart_no_purchase_7d
FROM window_users u
LEFT JOIN (
    SELECT user_id,
           count(*) FILTER (WHERE event_time > $as_of - INTERVAL 7 DAY) AS events_7d,
           count(*) AS events_30d,
           count(*) FILTER (WHERE event_type = 'purchase') AS purchases_30d,
           coalesce(sum(revenue) FILTER (WHERE event_type IN ('purchase', 'refund')), 0)
               AS revenue_30d,
           count(*) FILTER (WHERE event_time > $as_of - INTERVAL 7 DAY AND event_type = 'view')
               AS views_7d,
           max(event_time) FILTER (WHERE event_type = 'cart'
                                   AND event_time > $as_of - INTERVAL 7 DAY) AS last_cart_7d
    FROM window_events
    WHERE event_time > $as_of - INTERVAL 30 DAY AND event_time <= $as_of
    GROUP BY user_id
) w ON w.user_id = u.user_id
