-- crdc_open_results: the results of crdc_rule_results that are still open: no
-- exceptions row with status explained, resolved or wont_fix for the result_key
-- (open and in_review stay open), with the readiness category the rule's module
-- feeds: ENRL → enrollment, DISC and ARRS → discipline, RSTR →
-- restraint_seclusion, HIBS → harassment, all → general.
CREATE MATERIALIZED VIEW IF NOT EXISTS crdc_open_results AS
SELECT r.*,
       CASE r.category
           WHEN 'ENRL' THEN 'enrollment'
           WHEN 'DISC' THEN 'discipline'
           WHEN 'ARRS' THEN 'discipline'
           WHEN 'RSTR' THEN 'restraint_seclusion'
           WHEN 'HIBS' THEN 'harassment'
           ELSE 'general'
       END AS readiness_category
FROM crdc_rule_results r
WHERE NOT EXISTS (
    SELECT 1 FROM exceptions x
    WHERE x.district_id = r.district_id AND x.result_key = r.result_key
      AND x.status IN ('explained', 'resolved', 'wont_fix'));

-- readiness: per school, collection and category (enrollment, discipline,
-- restraint_seclusion, harassment, general), how ready the school's data is:
-- N = the records that category's rules check at the school (students enrolled on
-- the snapshot date; incidents, restraint events and allegations of the school
-- year; all of these for general), E = those with an open error, W = those with
-- only open warnings (info results do not count);
-- score = 100 × (1 − (E + 0.25·W) / N), clamped to [0, 100], 100 when N = 0;
-- an open school-level error of the category caps it at 79, because a failed
-- count check blocks certification; band green ≥ 95, yellow ≥ 80, red below.
-- A record-level result counts against its record at the result's school: an
-- enrollment's result (ENR-006, ENR-007) against the enrolled student. District-
-- level results (RST-002) do not enter a school's score. The district rollup is
-- readiness_district.
CREATE MATERIALIZED VIEW IF NOT EXISTS readiness AS
WITH population AS (
    SELECT district_id, collection, school_id, 'enrollment' AS category,
           'student' AS record_type, student_id AS record_id
    FROM crdc_enrolled
    UNION ALL
    SELECT district_id, collection, school_id, 'discipline', 'discipline_incident',
           incident_id
    FROM crdc_incidents
    UNION ALL
    SELECT district_id, collection, school_id, 'restraint_seclusion', 'restraint_event',
           event_id
    FROM crdc_restraint_events
    UNION ALL
    SELECT district_id, collection, school_id, 'harassment', 'harassment_allegation',
           allegation_id
    FROM crdc_allegations
),
all_records AS (
    SELECT district_id, collection, school_id, category, record_type, record_id
    FROM population
    UNION ALL
    SELECT district_id, collection, school_id, 'general', record_type, record_id
    FROM population
),
record_results AS (
    SELECT o.district_id, o.collection, o.school_id, o.readiness_category AS category,
           o.entity_type AS record_type, o.entity_id AS record_id, o.severity
    FROM crdc_open_results o
    WHERE o.level = 'record' AND o.entity_type <> 'enrollment'
    UNION ALL
    SELECT o.district_id, o.collection, o.school_id, o.readiness_category, 'student',
           e.student_id, o.severity
    FROM crdc_open_results o
    JOIN enrollments e ON e.district_id = o.district_id AND e.enrollment_id = o.entity_id
    WHERE o.level = 'record' AND o.entity_type = 'enrollment'
),
flags AS (
    SELECT district_id, collection, school_id, category, record_type, record_id,
           count(*) FILTER (WHERE severity = 'error') > 0 AS has_error,
           count(*) FILTER (WHERE severity = 'warning') > 0 AS has_warning
    FROM record_results
    GROUP BY district_id, collection, school_id, category, record_type, record_id
),
tallies AS (
    SELECT p.district_id, p.collection, p.school_id, p.category, count(*) AS n,
           count(*) FILTER (WHERE f.has_error) AS errors,
           count(*) FILTER (WHERE f.has_warning AND NOT f.has_error) AS warnings
    FROM all_records p
    LEFT JOIN flags f
      ON f.district_id = p.district_id AND f.collection = p.collection
     AND f.school_id = p.school_id AND f.category = p.category
     AND f.record_type = p.record_type AND f.record_id = p.record_id
    GROUP BY p.district_id, p.collection, p.school_id, p.category
),
capped AS (
    SELECT DISTINCT district_id, collection, school_id, readiness_category AS category
    FROM crdc_open_results
    WHERE level = 'school' AND severity = 'error'
),
grid AS (
    SELECT sc.district_id, c.year AS collection, sc.school_id, sc.name AS school_name,
           k.category
    FROM schools sc
    CROSS JOIN collections c
    CROSS JOIN (VALUES ('enrollment'), ('discipline'), ('restraint_seclusion'),
                       ('harassment'), ('general')) AS k (category)
),
raw AS (
    SELECT g.district_id, g.collection, g.school_id, g.school_name, g.category,
           coalesce(t.n, 0) AS n, coalesce(t.errors, 0) AS errors,
           coalesce(t.warnings, 0) AS warnings,
           x.category IS NOT NULL AS capped,
           CASE WHEN coalesce(t.n, 0) = 0 THEN 100.0
                ELSE 100.0 * (1.0 - (t.errors + 0.25 * t.warnings) / t.n)
           END AS unclamped
    FROM grid g
    LEFT JOIN tallies t
      ON t.district_id = g.district_id AND t.collection = g.collection
     AND t.school_id = g.school_id AND t.category = g.category
    LEFT JOIN capped x
      ON x.district_id = g.district_id AND x.collection = g.collection
     AND x.school_id = g.school_id AND x.category = g.category
),
scored AS (
    SELECT district_id, collection, school_id, school_name, category, n, errors,
           warnings, capped,
           CAST(round(
               CASE WHEN unclamped < 0.0 THEN 0.0
                    WHEN capped AND unclamped > 79.0 THEN 79.0
                    ELSE unclamped
               END, 2) AS numeric(5,2)) AS score
    FROM raw
)
SELECT district_id, collection, school_id, school_name, category, n, errors, warnings,
       capped, score,
       CASE WHEN score >= 95 THEN 'green' WHEN score >= 80 THEN 'yellow' ELSE 'red' END
           AS band
FROM scored;

-- readiness_district: the district rollup of readiness per collection and category:
-- the schools' scores weighted by their N (100 when no school has a record), with
-- the same bands.
CREATE MATERIALIZED VIEW IF NOT EXISTS readiness_district AS
WITH weighted AS (
    SELECT district_id, collection, category, sum(n) AS n, sum(errors) AS errors,
           sum(warnings) AS warnings,
           count(*) FILTER (WHERE capped) AS capped_schools,
           sum(score * n) AS weighted_score
    FROM readiness
    GROUP BY district_id, collection, category
),
scored AS (
    SELECT district_id, collection, category, n, errors, warnings, capped_schools,
           CAST(round(CASE WHEN n = 0 THEN 100.0
                           ELSE CAST(weighted_score AS double) / n
                      END, 2) AS numeric(5,2)) AS score
    FROM weighted
)
SELECT district_id, collection, category, n, errors, warnings, capped_schools, score,
       CASE WHEN score >= 95 THEN 'green' WHEN score >= 80 THEN 'yellow' ELSE 'red' END
           AS band
FROM scored
