-- Per shopper and column: the most frequent value (position 1), its share, the Herfindahl
-- index of the value shares and the share of 'mobile' (read for device only).
SELECT user_id, attribute,
       max(value) FILTER (WHERE position = 1) AS top,
       max(n) / sum(n) AS top_share,
       sum(n * n) / (sum(n) * sum(n)) AS concentration,
       count(*) AS distinct_values,
       coalesce(sum(n) FILTER (WHERE lower(value) = 'mobile'), 0) / sum(n) AS mobile_share
FROM tally_ranks
GROUP BY user_id, attribute
