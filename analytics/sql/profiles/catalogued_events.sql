-- Every event with the category it counts under: its own, else the catalogue's for its item
-- (RetailRocket's events name only the item; its item_properties file gives the category).
-- Only the columns scoped and category_prices read.
SELECT e.user_id, e.event_time, e.event_type, coalesce(e.category, c.category) AS category,
       e.brand, e.price, e.revenue, e.device, e.channel, e.country, e.rating, e.session_id,
       e.order_id, e.source
FROM events e
LEFT JOIN item_categories c ON e.category IS NULL AND c.item_id = e.item_id
