-- weekly_throughput: per board and ISO week (Monday 00:00 UTC) of done_at, the items
-- done, their story points and how many of them were bugs. Items done without a
-- done_at (rule WI-003) are not counted.
CREATE MATERIALIZED VIEW IF NOT EXISTS weekly_throughput AS
SELECT tenant_id,
       board_id,
       date_trunc('week', done_at) AS week_start,
       to_char(date_trunc('week', done_at), '%G-W%V') AS iso_week,
       count(*) AS items_done,
       coalesce(sum(story_points), 0) AS points_done,
       count(*) FILTER (WHERE item_type = 'bug') AS bugs_done
FROM work_items
WHERE status_category = 'done' AND done_at IS NOT NULL
GROUP BY tenant_id, board_id, date_trunc('week', done_at)
