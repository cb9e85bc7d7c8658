-- One row per visit: its length and whether it carted and bought.
SELECT user_id, session_key,
       (@epoch_seconds(max(event_time)) - @epoch_seconds(min(event_time))) / 60 AS minutes,
       bool_or(event_type = 'cart') AS carted,
       bool_or(event_type = 'purchase') AS bought
FROM scoped
GROUP BY user_id, session_key
