-- blocked_items: blocked work items that are not done, with how long they have
-- been blocked. Each age bucket is a temporal filter on blocked_since, so an item
-- moves from '<1d' to '1-3d' to '3-7d' to '>7d' as time passes, with no new input.
-- A blocked item whose source gave no blocked_since (rule WI-004) is listed with
-- the bucket 'unknown'.
CREATE MATERIALIZED VIEW IF NOT EXISTS blocked_items AS
SELECT tenant_id, item_id, board_id, item_key, title, assignee_name, blocked_reason,
       blocked_since, '<1d' AS age_bucket
FROM work_items
WHERE blocked AND (status_category IS DISTINCT FROM 'done')
  AND now() < blocked_since + INTERVAL '1 day'
UNION ALL
SELECT tenant_id, item_id, board_id, item_key, title, assignee_name, blocked_reason,
       blocked_since, '1-3d'
FROM work_items
WHERE blocked AND (status_category IS DISTINCT FROM 'done')
  AND now() >= blocked_since + INTERVAL '1 day'
  AND now() < blocked_since + INTERVAL '3 days'
UNION ALL
SELECT tenant_id, item_id, board_id, item_key, title, assignee_name, blocked_reason,
       blocked_since, '3-7d'
FROM work_items
WHERE blocked AND (status_category IS DISTINCT FROM 'done')
  AND now() >= blocked_since + INTERVAL '3 days'
  AND now() < blocked_since + INTERVAL '7 days'
UNION ALL
SELECT tenant_id, item_id, board_id, item_key, title, assignee_name, blocked_reason,
       blocked_since, '>7d'
FROM work_items
WHERE blocked AND (status_category IS DISTINCT FROM 'done')
  AND now() >= blocked_since + INTERVAL '7 days'
UNION ALL
SELECT tenant_id, item_id, board_id, item_key, title, assignee_name, blocked_reason,
       blocked_since, 'unknown'
FROM work_items
WHERE blocked AND (status_category IS DISTINCT FROM 'done')
  AND blocked_since IS NULL
