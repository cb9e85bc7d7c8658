-- Distinct days with an event per shopper, as a GROUP BY of its own: as a DISTINCT aggregate
-- inside user_stats it made DuckDB copy every scoped event first.
SELECT user_id, count(*) AS active_days
FROM (SELECT user_id, CAST(event_time AS DATE) AS day FROM scoped GROUP BY 1, 2) days
GROUP BY user_id
