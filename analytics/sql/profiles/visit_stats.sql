SELECT user_id, count(*) AS sessions, avg(minutes) AS avg_session_minutes,
       count(*) FILTER (WHERE carted AND NOT bought)
           / nullif(count(*) FILTER (WHERE carted), 0) AS cart_abandonment_rate
FROM visits
GROUP BY user_id
