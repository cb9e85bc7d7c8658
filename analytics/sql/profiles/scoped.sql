-- The events that count, with the keys and flags every group below uses.
-- Parameters: $as_of, $all_users (false: only the shoppers in profile_refresh_users).
SELECT user_id, event_time, event_type, category, brand, price, revenue, device, channel, country,
       rating,
       coalesce(session_id, 'day:' || CAST(CAST(event_time AS DATE) AS STRING)) AS session_key,
       coalesce('order:' || order_id, 'session:' || session_id,
                'day:' || CAST(CAST(event_time AS DATE) AS STRING)) AS order_key,
       CASE WHEN event_type = 'purchase'
            THEN CASE WHEN source = 'offline' THEN 'offline' ELSE 'online' END
       END AS purchase_channel,
       CASE WHEN hour(event_time) < 6 THEN 'night' WHEN hour(event_time) < 12 THEN 'morning'
            WHEN hour(event_time) < 18 THEN 'afternoon' ELSE 'evening' END AS hour_band,
       @weekday(event_time) AS weekday
FROM events
WHERE event_time <= $as_of
  AND ($all_users OR user_id IN (SELECT user_id FROM profile_refresh_users))
