-- Mean viewed price per category (all shoppers' views up to $as_of, categories as counted).
SELECT category, avg(price) AS avg_price
FROM catalogued_events
WHERE event_time <= $as_of AND event_type = 'view' AND category IS NOT NULL AND price IS NOT NULL
GROUP BY category
