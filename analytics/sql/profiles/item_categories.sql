-- The catalogue's category for each item: from the newest items file that gives one (ties:
-- the greatest category, explicitly), for the events that name only their item.
SELECT item_id, category
FROM (SELECT i.item_id, i.category,
             row_number() OVER (PARTITION BY i.item_id
                                ORDER BY d.loaded_at DESC, i.category DESC) AS position
      FROM items i JOIN datasets d ON d.dataset_id = i.dataset_id
      WHERE i.item_id IS NOT NULL AND i.category IS NOT NULL) ranked
WHERE position = 1
