-- board_compliance: per board, how many items in scope (in progress or done) are
-- free of open errors in validation_results, and how often each mandatory field is
-- filled where it is mandatory: story points on stories, started_at on every item
-- in scope, done_at on done items, an assignee on items in progress, blocked_since
-- on blocked items. A percentage is NULL when nothing on the board needs the field.
CREATE MATERIALIZED VIEW IF NOT EXISTS board_compliance AS
WITH open_errors AS (
    SELECT DISTINCT tenant_id, entity_id AS item_id
    FROM validation_results
    WHERE entity_type = 'work_item' AND severity = 'error'
),
in_scope AS (
    SELECT w.tenant_id, w.board_id, w.item_id, w.item_type, w.status_category,
           w.story_points, w.started_at, w.done_at, w.assignee_id, w.blocked, w.blocked_since,
           e.item_id IS NULL AS compliant
    FROM work_items w
    LEFT JOIN open_errors e ON e.tenant_id = w.tenant_id AND e.item_id = w.item_id
    WHERE w.status_category IN ('in_progress', 'done')
)
SELECT b.tenant_id,
       b.board_id,
       b.name AS board_name,
       count(i.item_id) AS items_in_scope,
       count(i.item_id) FILTER (WHERE i.compliant) AS compliant_items,
       CAST(round(100.0 * count(i.item_id) FILTER (WHERE i.compliant)
                  / nullif(count(i.item_id), 0), 1) AS numeric(4,1)) AS compliance_pct,
       CAST(round(100.0 * count(i.story_points) FILTER (WHERE i.item_type = 'story')
                  / nullif(count(i.item_id) FILTER (WHERE i.item_type = 'story'), 0), 1)
            AS numeric(4,1)) AS story_points_fill_pct,
       CAST(round(100.0 * count(i.started_at)
                  / nullif(count(i.item_id), 0), 1) AS numeric(4,1)) AS started_at_fill_pct,
       CAST(round(100.0 * count(i.done_at) FILTER (WHERE i.status_category = 'done')
                  / nullif(count(i.item_id) FILTER (WHERE i.status_category = 'done'), 0), 1)
            AS numeric(4,1)) AS done_at_fill_pct,
       CAST(round(100.0 * count(i.assignee_id) FILTER (WHERE i.status_category = 'in_progress')
                  / nullif(count(i.item_id) FILTER (WHERE i.status_category = 'in_progress'), 0), 1)
            AS numeric(4,1)) AS assignee_fill_pct,
       CAST(round(100.0 * count(i.blocked_since) FILTER (WHERE i.blocked)
                  / nullif(count(i.item_id) FILTER (WHERE i.blocked), 0), 1)
            AS numeric(4,1)) AS blocked_since_fill_pct
FROM boards b
LEFT JOIN in_scope i ON i.tenant_id = b.tenant_id AND i.board_id = b.board_id
GROUP BY b.tenant_id, b.board_id, b.name
