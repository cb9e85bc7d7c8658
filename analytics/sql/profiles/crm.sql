-- The latest CRM file's attributes per shopper, from crm_rows (CRM rows with their ids already
-- resolved through the identity map: everyone's, or a refresh's shoppers' only).
-- Ties (one shopper twice in the same file) go to the greatest attributes text, explicitly.
SELECT user_id, crm_attributes
FROM (SELECT user_id, CAST(attributes AS STRING) AS crm_attributes,
             row_number() OVER (PARTITION BY user_id
                                ORDER BY loaded_at DESC, CAST(attributes AS STRING) DESC)
                 AS position
      FROM crm_rows) ranked
WHERE position = 1
