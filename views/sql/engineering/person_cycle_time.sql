-- person_cycle_time: per assignee and board, over items done in the last 90 days
-- (a temporal filter: an item leaves 90 days after its done_at), the items and
-- points done and the median and 85th-percentile hours from started_at to done_at.
-- Items without a start, or done before they started (rule WI-005), count as done
-- but not in the cycle-time figures. Private: meant for the person and admins only.
CREATE MATERIALIZED VIEW IF NOT EXISTS person_cycle_time AS
SELECT tenant_id,
       board_id,
       assignee_id,
       max(assignee_name) AS assignee_name,
       count(*) AS items_done,
       coalesce(sum(story_points), 0) AS points_done,
       CAST(round(median(cycle_hours), 1) AS numeric(10,1)) AS median_cycle_hours,
       CAST(round(percentile_cont(0.85) WITHIN GROUP (ORDER BY cycle_hours), 1)
            AS numeric(10,1)) AS p85_cycle_hours
FROM (
    SELECT tenant_id, board_id, assignee_id, assignee_name, story_points,
           CASE WHEN started_at <= done_at
                THEN (extract(epoch FROM done_at) - extract(epoch FROM started_at)) / 3600.0
           END AS cycle_hours
    FROM work_items
    WHERE status_category = 'done' AND assignee_id IS NOT NULL
      AND done_at > now() - INTERVAL '90 days'
) AS done_items
GROUP BY tenant_id, board_id, assignee_id
