-- The events that count (scope_events: up to $as_of, of everyone or of the shoppers a refresh
-- recomputes), with the keys and flags every group below uses.
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
FROM scope_events
