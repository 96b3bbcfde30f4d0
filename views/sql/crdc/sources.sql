-- The CRDC domain's canonical relations: what the PowerSchool and OneRoster
-- connectors, CSV imports (COPY … FROM STDIN and POST /api/v1/imports) and the
-- synthetic district generator publish, and the CRDC rule pack and views read.
-- One compacted topic per relation, upsert envelope: the record key is a JSON
-- object of the primary key's columns, the value a JSON object of every column (a
-- null value deletes the row). Dates are YYYY-MM-DD, times RFC 3339 UTC.
--
-- The tenant is the district: every row carries district_id, and lineage:
-- source_system (powerschool, oneroster, csv, generator), source_record_id (the
-- id in that system, or FILE:LINE for CSV), ingest_batch_id (the connector run or
-- import batch that brought it) and payload_sha256 (of the raw payload or CSV
-- line it came from).

CREATE SOURCE IF NOT EXISTS districts (
    district_id text NOT NULL,
    name text,
    nces_id text,                    -- 7 digits
    timezone text,                   -- IANA, e.g. America/Chicago
    collects_nonbinary boolean,      -- whether sex X is collected (rule ENR-005)
    source_system text, source_record_id text, ingest_batch_id text, payload_sha256 text,
    PRIMARY KEY (district_id)
) FROM TOPIC 'crdc.districts' WITH (envelope = 'upsert');

CREATE SOURCE IF NOT EXISTS schools (
    district_id text NOT NULL,
    school_id text NOT NULL,
    name text,
    nces_id text,                    -- 12 digits
    level text,                      -- elementary | middle | high | other
    lowest_grade text,               -- PK, KG, 01 … 12
    highest_grade text,
    source_system text, source_record_id text, ingest_batch_id text, payload_sha256 text,
    PRIMARY KEY (district_id, school_id)
) FROM TOPIC 'crdc.schools' WITH (envelope = 'upsert');

CREATE SOURCE IF NOT EXISTS students (
    district_id text NOT NULL,
    student_id text NOT NULL,
    sis_id text,
    state_id text,
    birth_date date,
    sex text,                        -- M | F | X
    hispanic boolean,
    races text[],                    -- AM, AS, BL, HP, WH: each race reported
    race_ethnicity text,             -- HI | AM | AS | HP | BL | WH | TR (the CRDC roll-up)
    grade text,                      -- PK, KG, 01 … 12
    enrollment_status text,          -- active | inactive | graduated | withdrawn
    source_system text, source_record_id text, ingest_batch_id text, payload_sha256 text,
    PRIMARY KEY (district_id, student_id)
) FROM TOPIC 'crdc.students' WITH (envelope = 'upsert');

CREATE SOURCE IF NOT EXISTS enrollments (
    district_id text NOT NULL,
    enrollment_id text NOT NULL,
    student_id text NOT NULL,
    school_id text NOT NULL,
    entry_date date,
    exit_date date,                  -- NULL while enrolled
    grade text,
    source_system text, source_record_id text, ingest_batch_id text, payload_sha256 text,
    PRIMARY KEY (district_id, enrollment_id)
) FROM TOPIC 'crdc.enrollments' WITH (envelope = 'upsert');

CREATE SOURCE IF NOT EXISTS program_enrollments (
    district_id text NOT NULL,
    student_id text NOT NULL,
    program text NOT NULL,           -- IDEA | SEC504 | EL
    start_date date NOT NULL,
    end_date date,                   -- NULL while in the program
    source_system text, source_record_id text, ingest_batch_id text, payload_sha256 text,
    PRIMARY KEY (district_id, student_id, program, start_date)
) FROM TOPIC 'crdc.program_enrollments' WITH (envelope = 'upsert');

CREATE SOURCE IF NOT EXISTS discipline_incidents (
    district_id text NOT NULL,
    incident_id text NOT NULL,
    student_id text NOT NULL,
    school_id text NOT NULL,
    occurred_on date,
    action text,                     -- ISS | OSS | EXPULSION_WITH_SERVICES | EXPULSION_WITHOUT_SERVICES
                                     -- | CORPORAL | REFERRAL | ARREST | ALT_SCHOOL
    zero_tolerance boolean,
    days_removed numeric(5,1),
    harassment_basis text,           -- sex | race | disability | orientation | religion, when
                                     -- disciplined for harassment (rule HIB-001)
    source_system text, source_record_id text, ingest_batch_id text, payload_sha256 text,
    PRIMARY KEY (district_id, incident_id)
) FROM TOPIC 'crdc.discipline_incidents' WITH (envelope = 'upsert');

CREATE SOURCE IF NOT EXISTS restraint_seclusion_events (
    district_id text NOT NULL,
    event_id text NOT NULL,
    student_id text NOT NULL,
    school_id text NOT NULL,
    occurred_at timestamptz,
    kind text,                       -- MECHANICAL | PHYSICAL | SECLUSION
    duration_minutes integer,
    during_arrest boolean,
    source_system text, source_record_id text, ingest_batch_id text, payload_sha256 text,
    PRIMARY KEY (district_id, event_id)
) FROM TOPIC 'crdc.restraint_seclusion_events' WITH (envelope = 'upsert');

CREATE SOURCE IF NOT EXISTS harassment_allegations (
    district_id text NOT NULL,
    allegation_id text NOT NULL,
    school_id text NOT NULL,
    reported_on date,
    bases text[],                    -- sex, race, disability, orientation, religion
    source_system text, source_record_id text, ingest_batch_id text, payload_sha256 text,
    PRIMARY KEY (district_id, allegation_id)
) FROM TOPIC 'crdc.harassment_allegations' WITH (envelope = 'upsert');

CREATE SOURCE IF NOT EXISTS collections (
    year text NOT NULL,              -- 2025-26
    snapshot_date date,              -- October 1 of the first year: enrollment counts
    window_start date,               -- the school year discipline and restraint count over
    window_end date,
    PRIMARY KEY (year)
) FROM TOPIC 'crdc.collections' WITH (envelope = 'upsert');

-- What each CSV import or connector run brought in, with the file's hash.
CREATE SOURCE IF NOT EXISTS ingest_batches (
    district_id text NOT NULL,
    batch_id text NOT NULL,
    source_system text,              -- csv | powerschool | oneroster | generator
    relation text,                   -- the canonical relation loaded
    file_name text,
    file_sha256 text,
    profile text,                    -- the saved mapping profile used, if any
    rows_total integer,
    rows_loaded integer,
    rows_rejected integer,
    started_at timestamptz,
    finished_at timestamptz,
    PRIMARY KEY (district_id, batch_id)
) FROM TOPIC 'crdc.ingest_batches' WITH (envelope = 'upsert');
