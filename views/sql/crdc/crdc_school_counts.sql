-- crdc_school_counts: the CRDC cells of each school and collection, one row per
-- cell: (module, measure) and the cell's dimensions race (HI, AM, AS, HP, BL, WH,
-- TR), sex (M, F, X), disability (IDEA, SEC504 for 504-only, NONE) and kind (the
-- discipline action, restraint kind or harassment basis), NULL where the measure is
-- not broken down that way.
--
-- | module | measure | by | counts |
-- | --- | --- | --- | --- |
-- | ENRL | enrolled | race, sex | students enrolled on the snapshot date |
-- | ENRL | enrolled_total | sex | the same, all races (and none: rule ENR-001) |
-- | ENRL | idea, sec504_only, el | sex | enrolled students in the program on the snapshot date |
-- | DISC | students_disciplined | race, sex | students with any incident in the school year |
-- | DISC | students | race, sex, disability, kind | students per action; OSS as kind oss_one or oss_multiple |
-- | DISC | instances | kind | incidents per action |
-- | DISC | expulsions_zero_tolerance | | incidents flagged zero tolerance |
-- | RSTR | instances, students | kind | counted events (not handcuffing during an arrest) |
-- | HIBS | allegations | kind (basis) | allegations on the basis |
-- | HIBS | students_disciplined_harassment | kind (basis) | students disciplined for harassment on it |
--
-- Report 0 only where data was collected: a school with enrolled students has
-- every enrollment cell, 0 included (sex X only where the district collects it);
-- discipline, restraint and harassment cells exist only where a record counts in
-- them, so a blank there means no such record, not a reported 0.
CREATE MATERIALIZED VIEW IF NOT EXISTS crdc_school_counts AS
WITH enrolled_schools AS (
    SELECT DISTINCT en.district_id, en.collection, en.school_id,
           coalesce(d.collects_nonbinary, false) AS nonbinary
    FROM crdc_enrolled en
    LEFT JOIN districts d ON d.district_id = en.district_id
),
sex_grid AS (
    SELECT es.district_id, es.collection, es.school_id, x.sex
    FROM enrolled_schools es
    CROSS JOIN (VALUES ('M'), ('F'), ('X')) AS x (sex)
    WHERE x.sex <> 'X' OR es.nonbinary
),
by_race_sex AS (
    SELECT district_id, collection, school_id, race, sex, count(*) AS n
    FROM crdc_enrolled
    GROUP BY district_id, collection, school_id, race, sex
),
by_sex AS (
    SELECT district_id, collection, school_id, sex, count(*) AS n,
           count(*) FILTER (WHERE idea) AS idea,
           count(*) FILTER (WHERE sec504_only) AS sec504_only,
           count(*) FILTER (WHERE el) AS el
    FROM crdc_enrolled
    GROUP BY district_id, collection, school_id, sex
),
sex_cells AS (
    SELECT g.district_id, g.collection, g.school_id, g.sex,
           coalesce(c.n, 0) AS n, coalesce(c.idea, 0) AS idea,
           coalesce(c.sec504_only, 0) AS sec504_only, coalesce(c.el, 0) AS el
    FROM sex_grid g
    LEFT JOIN by_sex c
      ON c.district_id = g.district_id AND c.collection = g.collection
     AND c.school_id = g.school_id AND c.sex = g.sex
),
oss_per_student AS (
    SELECT district_id, collection, school_id, student_id, race, sex, disability,
           count(*) AS n
    FROM crdc_incidents
    WHERE action = 'OSS'
    GROUP BY district_id, collection, school_id, student_id, race, sex, disability
)
SELECT g.district_id, g.collection, g.school_id, 'ENRL' AS module, 'enrolled' AS measure,
       r.race, g.sex, CAST(NULL AS text) AS disability, CAST(NULL AS text) AS kind,
       coalesce(c.n, 0) AS value
FROM sex_grid g
CROSS JOIN (VALUES ('HI'), ('AM'), ('AS'), ('HP'), ('BL'), ('WH'), ('TR')) AS r (race)
LEFT JOIN by_race_sex c
  ON c.district_id = g.district_id AND c.collection = g.collection
 AND c.school_id = g.school_id AND c.race = r.race AND c.sex = g.sex
UNION ALL
SELECT district_id, collection, school_id, 'ENRL', 'enrolled_total', NULL, sex, NULL, NULL, n
FROM sex_cells
UNION ALL
SELECT district_id, collection, school_id, 'ENRL', 'idea', NULL, sex, NULL, NULL, idea
FROM sex_cells
UNION ALL
SELECT district_id, collection, school_id, 'ENRL', 'sec504_only', NULL, sex, NULL, NULL,
       sec504_only
FROM sex_cells
UNION ALL
SELECT district_id, collection, school_id, 'ENRL', 'el', NULL, sex, NULL, NULL, el
FROM sex_cells
UNION ALL
SELECT district_id, collection, school_id, 'DISC', 'students_disciplined', race, sex, NULL,
       NULL, count(DISTINCT student_id)
FROM crdc_incidents
GROUP BY district_id, collection, school_id, race, sex
UNION ALL
SELECT district_id, collection, school_id, 'DISC', 'students', race, sex, disability,
       action, count(DISTINCT student_id)
FROM crdc_incidents
WHERE action <> 'OSS'
GROUP BY district_id, collection, school_id, race, sex, disability, action
UNION ALL
SELECT district_id, collection, school_id, 'DISC', 'students', race, sex, disability,
       'oss_one', count(*)
FROM oss_per_student
WHERE n = 1
GROUP BY district_id, collection, school_id, race, sex, disability
UNION ALL
SELECT district_id, collection, school_id, 'DISC', 'students', race, sex, disability,
       'oss_multiple', count(*)
FROM oss_per_student
WHERE n > 1
GROUP BY district_id, collection, school_id, race, sex, disability
UNION ALL
SELECT district_id, collection, school_id, 'DISC', 'instances', NULL, NULL, NULL, action,
       count(*)
FROM crdc_incidents
GROUP BY district_id, collection, school_id, action
UNION ALL
SELECT district_id, collection, school_id, 'DISC', 'expulsions_zero_tolerance', NULL, NULL,
       NULL, NULL, count(*)
FROM crdc_incidents
WHERE zero_tolerance
GROUP BY district_id, collection, school_id
UNION ALL
SELECT district_id, collection, school_id, 'RSTR', 'instances', NULL, NULL, NULL, kind,
       count(*)
FROM crdc_restraint_events
WHERE counted
GROUP BY district_id, collection, school_id, kind
UNION ALL
SELECT district_id, collection, school_id, 'RSTR', 'students', NULL, NULL, NULL, kind,
       count(DISTINCT student_id)
FROM crdc_restraint_events
WHERE counted
GROUP BY district_id, collection, school_id, kind
UNION ALL
SELECT a.district_id, a.collection, a.school_id, 'HIBS', 'allegations', NULL, NULL, NULL,
       b.basis, count(*)
FROM crdc_allegations a
CROSS JOIN (VALUES ('sex'), ('race'), ('disability'), ('orientation'), ('religion'))
    AS b (basis)
WHERE array_has(a.bases, b.basis)
GROUP BY a.district_id, a.collection, a.school_id, b.basis
UNION ALL
SELECT district_id, collection, school_id, 'HIBS', 'students_disciplined_harassment', NULL,
       NULL, NULL, harassment_basis, count(DISTINCT student_id)
FROM crdc_incidents
WHERE harassment_basis IS NOT NULL
GROUP BY district_id, collection, school_id, harassment_basis
