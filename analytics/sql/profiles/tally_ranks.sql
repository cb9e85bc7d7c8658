-- Every tally with its explicit place: most frequent first, ties alphabetically (byte order),
-- so both engines pick the same label; total = the shopper's tallies of that attribute.
SELECT user_id, attribute, value, n,
       row_number() OVER (PARTITION BY user_id, attribute ORDER BY n DESC, value) AS position,
       sum(n) OVER (PARTITION BY user_id, attribute) AS total
FROM tallies
