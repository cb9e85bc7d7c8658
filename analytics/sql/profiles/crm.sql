-- The latest CRM file's attributes per shopper, CRM ids resolved through the identity map.
-- Ties (one shopper twice in the same file) go to the greatest attributes text, explicitly.
SELECT user_id, crm_attributes
FROM (SELECT coalesce(m.user_id, u.user_id) AS user_id,
             CAST(u.attributes AS STRING) AS crm_attributes,
             row_number() OVER (PARTITION BY coalesce(m.user_id, u.user_id)
                                ORDER BY d.loaded_at DESC, CAST(u.attributes AS STRING) DESC)
                 AS position
      FROM users u
      JOIN datasets d ON d.dataset_id = u.dataset_id
      LEFT JOIN identity_map m ON m.alias = u.user_id) ranked
WHERE position = 1
