-- readiness_snapshots: readiness as it stood at the start of each day (UTC) of the
-- coordinator's clock, written by vigil_views::crdc::snapshot_if_due: the first call
-- on a day copies every readiness row with that day; later calls that day do
-- nothing. Rows are never updated; readiness_trend reads them.
CREATE TABLE IF NOT EXISTS readiness_snapshots (
    district_id text NOT NULL,
    collection text NOT NULL,
    school_id text NOT NULL,
    category text NOT NULL,
    day date NOT NULL,
    n bigint,
    errors bigint,
    warnings bigint,
    score numeric(5,2),
    band text,
    PRIMARY KEY (district_id, collection, school_id, category, day)
);

-- readiness_trend: readiness now against the last daily snapshot before today,
-- per school, collection and category. A snapshot counts from the end of its day
-- (a temporal filter), so at midnight the trend moves to compare with the day just
-- gone without new input. previous_* and change are NULL before the first full day.
CREATE MATERIALIZED VIEW IF NOT EXISTS readiness_trend AS
WITH before_today AS (
    SELECT district_id, collection, school_id, category, day, score, band
    FROM readiness_snapshots
    WHERE now() >= CAST(day AS timestamp) + INTERVAL '1 day'
),
latest AS (
    SELECT district_id, collection, school_id, category, max(day) AS day
    FROM before_today
    GROUP BY district_id, collection, school_id, category
),
previous AS (
    SELECT b.district_id, b.collection, b.school_id, b.category, b.day, b.score, b.band
    FROM before_today b
    JOIN latest l
      ON l.district_id = b.district_id AND l.collection = b.collection
     AND l.school_id = b.school_id AND l.category = b.category AND l.day = b.day
)
SELECT r.district_id, r.collection, r.school_id, r.category, r.score, r.band,
       p.day AS previous_day, p.score AS previous_score, p.band AS previous_band,
       r.score - p.score AS change
FROM readiness r
LEFT JOIN previous p
  ON p.district_id = r.district_id AND p.collection = r.collection
 AND p.school_id = r.school_id AND p.category = r.category
