-- Each shopper's mix of categories as {category: share of their events with a category},
-- keys in tally order (most frequent first).
SELECT user_id, @json_object_by(value, @round_share(n, total, 4), position) AS category_shares
FROM tally_ranks
WHERE attribute = 'category'
GROUP BY user_id
