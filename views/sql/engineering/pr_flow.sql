-- pr_flow: per repository and ISO week (Monday 00:00 UTC) of merged_at, the pull
-- requests merged, the median hours from opening to the first review (the earliest
-- of pr_reviews.submitted_at and pull_requests.first_review_at) and to the merge,
-- and how many merged PRs name no work item.
CREATE MATERIALIZED VIEW IF NOT EXISTS pr_flow AS
WITH first_reviews AS (
    SELECT tenant_id, pr_id, min(submitted_at) AS first_review_at
    FROM pr_reviews
    GROUP BY tenant_id, pr_id
),
merged AS (
    SELECT p.tenant_id, p.repo, p.linked_item_key,
           date_trunc('week', p.merged_at) AS week_start,
           (extract(epoch FROM least(p.first_review_at, r.first_review_at))
            - extract(epoch FROM p.created_at)) / 3600.0 AS hours_to_first_review,
           (extract(epoch FROM p.merged_at) - extract(epoch FROM p.created_at)) / 3600.0
               AS hours_to_merge
    FROM pull_requests p
    LEFT JOIN first_reviews r ON r.tenant_id = p.tenant_id AND r.pr_id = p.pr_id
    WHERE p.state = 'merged' AND p.merged_at IS NOT NULL
)
SELECT tenant_id,
       repo,
       week_start,
       to_char(week_start, '%G-W%V') AS iso_week,
       count(*) AS prs_merged,
       CAST(round(median(hours_to_first_review), 1) AS numeric(10,1))
           AS median_hours_to_first_review,
       CAST(round(median(hours_to_merge), 1) AS numeric(10,1)) AS median_hours_to_merge,
       count(*) FILTER (WHERE linked_item_key IS NULL) AS unlinked_prs
FROM merged
GROUP BY tenant_id, repo, week_start
