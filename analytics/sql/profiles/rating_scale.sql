-- The rating that counts as high: 4 on a 1-5 scale; when the workspace's top rating is above 5
-- (a 1-10 or 0-100 scale), 80% of it. One row, over every rate event.
SELECT CASE WHEN max(rating) > 5 THEN 0.8 * max(rating) ELSE 4 END AS high_rating
FROM events
WHERE event_type = 'rate'
