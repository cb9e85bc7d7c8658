-- Per shopper and column: the most frequent value (ties to the first in byte order, so both
-- engines pick the same label), the value count, its share, the Herfindahl index of the value
-- shares and the share of 'mobile' (read for device only). Plain aggregates, no window: the
-- top value is the one with the least (-n, value).
SELECT user_id, attribute,
       min_by(value, @ordered_pair(-n, value)) AS top,
       sum(n) AS total,
       max(n) / sum(n) AS top_share,
       sum(n * n) / (sum(n) * sum(n)) AS concentration,
       count(*) AS distinct_values,
       coalesce(sum(n) FILTER (WHERE lower(value) = 'mobile'), 0) / sum(n) AS mobile_share
FROM tallies
GROUP BY user_id, attribute
