-- defect_density: per board and sprint, the bugs created on the board in the sprint
-- window [start_at, end_at), per 10 points completed in the sprint (from
-- sprint_velocity) and per 1,000 lines changed (additions + deletions) by pull
-- requests merged in the window whose linked item is on the board. A ratio is NULL
-- when its denominator is 0.
CREATE MATERIALIZED VIEW IF NOT EXISTS defect_density AS
WITH bugs AS (
    SELECT s.tenant_id, s.sprint_id, count(w.item_id) AS bugs_created
    FROM sprints s
    LEFT JOIN work_items w
           ON w.tenant_id = s.tenant_id AND w.board_id = s.board_id
          AND w.item_type = 'bug'
          AND w.created_at >= s.start_at AND w.created_at < s.end_at
    GROUP BY s.tenant_id, s.sprint_id
),
changed AS (
    SELECT s.tenant_id, s.sprint_id,
           sum(coalesce(p.additions, 0) + coalesce(p.deletions, 0)) AS changed_lines
    FROM sprints s
    JOIN work_items w ON w.tenant_id = s.tenant_id AND w.board_id = s.board_id
    JOIN pull_requests p ON p.tenant_id = w.tenant_id AND p.linked_item_key = w.item_key
    WHERE p.state = 'merged' AND p.merged_at >= s.start_at AND p.merged_at < s.end_at
    GROUP BY s.tenant_id, s.sprint_id
)
SELECT v.tenant_id,
       v.board_id,
       v.sprint_id,
       v.sprint_name,
       b.bugs_created,
       v.completed_points,
       CAST(round(CASE WHEN v.completed_points > 0
                       THEN b.bugs_created * 10.0 / CAST(v.completed_points AS double precision)
                  END, 2) AS numeric(10,2)) AS bugs_per_10_points,
       coalesce(c.changed_lines, 0) AS changed_lines,
       CAST(round(CASE WHEN c.changed_lines > 0
                       THEN b.bugs_created * 1000.0 / c.changed_lines
                  END, 2) AS numeric(10,2)) AS bugs_per_1000_lines
FROM sprint_velocity v
JOIN bugs b ON b.tenant_id = v.tenant_id AND b.sprint_id = v.sprint_id
LEFT JOIN changed c ON c.tenant_id = v.tenant_id AND c.sprint_id = v.sprint_id
