-- Incremental refresh only: shoppers without new events whose window features change as
-- as_of moves from $old to $as_of (events leave the 7- or 30-day windows).
SELECT DISTINCT user_id
FROM events
WHERE ((event_time > $old - INTERVAL 30 DAY AND event_time <= $as_of - INTERVAL 30 DAY)
    OR (event_time > $old - INTERVAL 7 DAY AND event_time <= $as_of - INTERVAL 7 DAY))
  AND user_id NOT IN (SELECT user_id FROM profile_refresh_users)
