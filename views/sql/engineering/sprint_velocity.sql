-- sprint_velocity: per sprint, the points committed when it started, the points and
-- items completed by its completion, and the items carried over.
--
-- Membership comes from sprint_memberships (when each item was added to and removed
-- from the sprint): committed = members at start_at; completed = members at
-- complete_at whose done_at <= complete_at; carried over = members at complete_at
-- not done by then. A sprint with no membership history uses the items that name
-- it now (work_items.sprint_id) for both, and says so: membership_history = false.
-- A sprint not completed yet counts its current members done so far, and has no
-- carried-over count (NULL).
CREATE MATERIALIZED VIEW IF NOT EXISTS sprint_velocity AS
WITH members AS (
    SELECT tenant_id, sprint_id, item_id, added_at, removed_at, true AS from_history
    FROM sprint_memberships
    UNION ALL
    SELECT w.tenant_id, w.sprint_id, w.item_id,
           CAST(NULL AS timestamptz), CAST(NULL AS timestamptz), false
    FROM work_items w
    WHERE w.sprint_id IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM sprint_memberships m
                      WHERE m.tenant_id = w.tenant_id AND m.sprint_id = w.sprint_id)
),
member_facts AS (
    SELECT s.tenant_id, s.sprint_id, m.item_id, m.from_history, w.story_points, w.done_at,
           -- a member when the sprint started
           NOT m.from_history
           OR (m.added_at <= s.start_at
               AND (m.removed_at IS NULL OR m.removed_at > s.start_at)) AS at_start,
           -- a member when it was completed (now, if it is not completed yet)
           CASE WHEN s.complete_at IS NULL THEN m.removed_at IS NULL
                ELSE NOT m.from_history
                     OR (m.added_at <= s.complete_at
                         AND (m.removed_at IS NULL OR m.removed_at > s.complete_at))
           END AS at_completion
    FROM sprints s
    JOIN members m ON m.tenant_id = s.tenant_id AND m.sprint_id = s.sprint_id
    JOIN work_items w ON w.tenant_id = m.tenant_id AND w.item_id = m.item_id
)
SELECT s.tenant_id,
       s.board_id,
       s.sprint_id,
       s.name AS sprint_name,
       s.state,
       s.start_at,
       s.end_at,
       s.complete_at,
       coalesce(sum(f.story_points) FILTER (WHERE f.at_start), 0) AS committed_points,
       coalesce(sum(f.story_points) FILTER (
           WHERE f.at_completion AND f.done_at IS NOT NULL
             AND (s.complete_at IS NULL OR f.done_at <= s.complete_at)), 0) AS completed_points,
       count(f.item_id) FILTER (
           WHERE f.at_completion AND f.done_at IS NOT NULL
             AND (s.complete_at IS NULL OR f.done_at <= s.complete_at)) AS completed_items,
       CASE WHEN s.complete_at IS NOT NULL THEN
           count(f.item_id) FILTER (
               WHERE f.at_completion AND (f.done_at IS NULL OR f.done_at > s.complete_at))
       END AS carried_over_items,
       coalesce(bool_or(f.from_history), false) AS membership_history
FROM sprints s
LEFT JOIN member_facts f ON f.tenant_id = s.tenant_id AND f.sprint_id = s.sprint_id
GROUP BY s.tenant_id, s.board_id, s.sprint_id, s.name, s.state, s.start_at, s.end_at,
         s.complete_at
