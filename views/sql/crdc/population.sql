-- crdc_students: each student with the CRDC race/ethnicity roll-up: Hispanic → HI;
-- otherwise exactly one race reported → that race; more than one → TR. A student
-- whose races are not given keeps the race_ethnicity the source sent. A value
-- outside the seven categories (or none) is kept as it is, for rule ENR-004 to
-- report: the counts leave such a student out of every race cell.
CREATE MATERIALIZED VIEW IF NOT EXISTS crdc_students AS
SELECT district_id, student_id, sis_id, sex,
       CASE WHEN hispanic THEN 'HI'
            WHEN cardinality(races) = 1 THEN races[1]
            WHEN cardinality(races) > 1 THEN 'TR'
            ELSE race_ethnicity
       END AS race,
       grade, source_system, source_record_id, ingest_batch_id, payload_sha256
FROM students;

-- crdc_program_status: per collection, the programs a student is in on the snapshot
-- date (a program's end_date is its last day). IEP wins over 504: a student in both
-- IDEA and Section 504 counts as IDEA, and sec504_only is false.
CREATE MATERIALIZED VIEW IF NOT EXISTS crdc_program_status AS
SELECT p.district_id, c.year AS collection, p.student_id,
       count(*) FILTER (WHERE p.program = 'IDEA') > 0 AS idea,
       count(*) FILTER (WHERE p.program = 'SEC504') > 0
           AND count(*) FILTER (WHERE p.program = 'IDEA') = 0 AS sec504_only,
       count(*) FILTER (WHERE p.program = 'EL') > 0 AS el
FROM program_enrollments p
CROSS JOIN collections c
WHERE p.start_date <= c.snapshot_date
  AND (p.end_date IS NULL OR p.end_date >= c.snapshot_date)
GROUP BY p.district_id, c.year, p.student_id;

-- crdc_enrolled: the October 1 enrollment of each collection, one row per (school,
-- student) with an enrollment covering the snapshot date (entry_date on or before
-- it, exit_date, the first day away, after it), with the student's sex, race
-- roll-up and programs on that date. A student enrolled at two schools that day
-- counts at both (rule ENR-007 reports it).
CREATE MATERIALIZED VIEW IF NOT EXISTS crdc_enrolled AS
SELECT DISTINCT e.district_id, c.year AS collection, e.school_id, e.student_id,
       s.sex, s.race,
       coalesce(p.idea, false) AS idea,
       coalesce(p.sec504_only, false) AS sec504_only,
       coalesce(p.el, false) AS el
FROM enrollments e
CROSS JOIN collections c
JOIN crdc_students s ON s.district_id = e.district_id AND s.student_id = e.student_id
LEFT JOIN crdc_program_status p
  ON p.district_id = e.district_id AND p.collection = c.year AND p.student_id = e.student_id
WHERE e.entry_date <= c.snapshot_date
  AND (e.exit_date IS NULL OR e.exit_date > c.snapshot_date);

-- crdc_incidents: the discipline incidents of each collection's school year
-- (window_start … window_end, both included), with the student's sex, race roll-up
-- and disability group (IDEA, SEC504 for 504-only, NONE) as of the snapshot date.
-- Discipline counts the whole year, so it can exceed the October 1 enrollment.
CREATE MATERIALIZED VIEW IF NOT EXISTS crdc_incidents AS
SELECT i.district_id, c.year AS collection, i.incident_id, i.student_id, i.school_id,
       i.occurred_on, i.action, i.zero_tolerance, i.days_removed, i.harassment_basis,
       s.sex, s.race,
       CASE WHEN p.idea THEN 'IDEA' WHEN p.sec504_only THEN 'SEC504' ELSE 'NONE' END
           AS disability
FROM discipline_incidents i
CROSS JOIN collections c
LEFT JOIN crdc_students s ON s.district_id = i.district_id AND s.student_id = i.student_id
LEFT JOIN crdc_program_status p
  ON p.district_id = i.district_id AND p.collection = c.year AND p.student_id = i.student_id
WHERE i.occurred_on >= c.window_start AND i.occurred_on <= c.window_end;

-- crdc_restraint_events: the restraint and seclusion events of each collection's
-- school year. counted is false for a mechanical restraint during an arrest
-- (handcuffing by law enforcement is not a mechanical restraint for the CRDC, rule
-- RST-004): such an event stays in readiness's population but not in the counts.
CREATE MATERIALIZED VIEW IF NOT EXISTS crdc_restraint_events AS
SELECT r.district_id, c.year AS collection, r.event_id, r.student_id, r.school_id,
       r.occurred_at, r.kind, r.duration_minutes,
       NOT (r.kind = 'MECHANICAL' AND coalesce(r.during_arrest, false)) AS counted
FROM restraint_seclusion_events r
CROSS JOIN collections c
WHERE CAST(r.occurred_at AS date) >= c.window_start
  AND CAST(r.occurred_at AS date) <= c.window_end;

-- crdc_allegations: the harassment allegations reported in each collection's school
-- year.
CREATE MATERIALIZED VIEW IF NOT EXISTS crdc_allegations AS
SELECT a.district_id, c.year AS collection, a.allegation_id, a.school_id, a.reported_on,
       a.bases
FROM harassment_allegations a
CROSS JOIN collections c
WHERE a.reported_on >= c.window_start AND a.reported_on <= c.window_end;

-- crdc_school_grades: the grades each school offers, lowest_grade … highest_grade in
-- the order PK, KG, 01 … 12 (rule ENR-006).
CREATE MATERIALIZED VIEW IF NOT EXISTS crdc_school_grades AS
WITH grades (grade, ordinal) AS (
    VALUES ('PK', -1), ('KG', 0), ('01', 1), ('02', 2), ('03', 3), ('04', 4), ('05', 5),
           ('06', 6), ('07', 7), ('08', 8), ('09', 9), ('10', 10), ('11', 11), ('12', 12)
)
SELECT sc.district_id, sc.school_id, g.grade
FROM schools sc
JOIN grades lo ON lo.grade = sc.lowest_grade
JOIN grades hi ON hi.grade = sc.highest_grade
CROSS JOIN grades g
WHERE g.ordinal >= lo.ordinal AND g.ordinal <= hi.ordinal
