-- RFM quintiles among purchasers over all of profile_rows; ties go by the finer measure, then
-- user id, so every engine and every rebuild agree. rfm_grid is (r_score, f_score, segment).
SELECT p.user_id, q.r_score, q.f_score, q.m_score,
       coalesce(g.segment, $never_purchased) AS rfm_segment
FROM profile_rows p
LEFT JOIN (SELECT user_id,
                  ntile(5) OVER (ORDER BY last_purchase_at, user_id) AS r_score,
                  ntile(5) OVER (ORDER BY frequency, monetary NULLS LAST, user_id) AS f_score,
                  -- no M score from unknown spend (purchases with no amounts)
                  CASE WHEN monetary IS NOT NULL THEN ntile(5) OVER (
                      PARTITION BY monetary IS NULL ORDER BY monetary, user_id) END AS m_score
           FROM profile_rows
           WHERE frequency > 0) q ON q.user_id = p.user_id
LEFT JOIN rfm_grid g ON g.r_score = q.r_score AND g.f_score = q.f_score
