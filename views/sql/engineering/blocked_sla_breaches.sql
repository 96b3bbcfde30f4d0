-- blocked_sla_breaches: blocked, not-done items that have been blocked longer than
-- their board's SLA (boards.blocked_sla_hours, 48 hours when unset). due_at is when
-- the SLA ran out; a row appears the moment the clock passes it, with no new input,
-- which is what alert sinks and SUBSCRIBE follow.
CREATE MATERIALIZED VIEW IF NOT EXISTS blocked_sla_breaches AS
SELECT w.tenant_id,
       w.item_id,
       w.board_id,
       w.item_key,
       w.title,
       w.assignee_name,
       w.blocked_reason,
       w.blocked_since,
       coalesce(b.blocked_sla_hours, 48) AS sla_hours,
       w.blocked_since + CAST(coalesce(b.blocked_sla_hours, 48) || ' hours' AS interval) AS due_at
FROM work_items w
LEFT JOIN boards b ON b.tenant_id = w.tenant_id AND b.board_id = w.board_id
WHERE w.blocked AND (w.status_category IS DISTINCT FROM 'done')
  AND w.blocked_since + CAST(coalesce(b.blocked_sla_hours, 48) || ' hours' AS interval) <= now()
