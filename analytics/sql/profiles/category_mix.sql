-- Each shopper's mix of categories as {category: share of their events with a category},
-- keys most frequent first, ties in byte order (the order modes.sql ranks by).
SELECT t.user_id,
       @json_object_by(t.value, @round_share(t.n, m.total, 4), @ordered_pair(-t.n, t.value))
           AS category_shares
FROM tallies t
JOIN modes m ON m.user_id = t.user_id AND m.attribute = 'category'
WHERE t.attribute = 'category'
GROUP BY t.user_id
