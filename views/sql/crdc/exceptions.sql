-- exceptions: the triage state of one failing (rule, entity) of crdc_rule_results,
-- written by people (SQL INSERT/UPDATE, the REST endpoints) and by the auto-close
-- task; readiness and the open counts read it.
--
-- Contract for the writers (REST endpoints, auto-close task, analysts):
-- - result_key is crdc_rule_results.result_key: 'RULE:entity_type:entity_id', e.g.
--   'ENR-004:student:S123', 'ENR-001:school:SCH1:F' (a school-level rule's entity_id
--   names the school and the cell it checked). It stays the same while the same
--   entity fails the same rule, whatever else changes, so a row here outlives
--   edits to the record. A student enrolled at two schools on the snapshot date has
--   one result per school under one key; one exceptions row covers both.
-- - One row per (district_id, result_key). The first action INSERTs it with status
--   'open' (or the status asked for); later actions UPDATE it. rule_id,
--   entity_type, entity_id and school_id are copied from the result so that a row
--   stays readable after its result has gone.
-- - status: open | in_review | explained | resolved | wont_fix. explained, resolved
--   and wont_fix take the result out of the open counts (crdc_open_results,
--   readiness); open and in_review leave it in. 'explained' needs reason_code and
--   comment and is refused for a result whose clearable is false; 'resolved' means
--   the data was fixed.
-- - owner: who is to act on it; due_on: by when (a date in the district's calendar).
-- - updated_by / updated_at: the last writer and when (the coordinator's clock).
-- - Auto-close: when a result_key with an exceptions row whose status is not
--   resolved leaves crdc_rule_results (its data was fixed), the task sets status
--   'resolved', updated_by 'vigil', and logs action 'auto_resolved' in
--   exception_activity. If the result comes back later, the task sets status
--   'open' again and logs 'reopened'.
CREATE TABLE IF NOT EXISTS exceptions (
    district_id text NOT NULL,
    result_key text NOT NULL,
    rule_id text,
    entity_type text,
    entity_id text,
    school_id text,
    owner text,
    status text NOT NULL,            -- open | in_review | explained | resolved | wont_fix
    due_on date,
    reason_code text,
    comment text,
    updated_by text,
    updated_at timestamptz,
    PRIMARY KEY (district_id, result_key)
);

-- exception_activity: the append-only log of what happened to each exception, one
-- row per action, never updated or deleted.
--
-- Contract for the writers: seq numbers one result_key's actions 1, 2, 3, … (the
-- writer takes max(seq) + 1 for that key under its own lock), so two actions in the
-- same millisecond keep their order and both fit the primary key. action is one of
-- created | assigned | status_changed | due_date_changed | commented | explained |
-- auto_resolved | reopened; detail says what changed in words or as JSON, e.g.
-- 'status open -> explained (reason MIDYEAR_ENTRANT)'. actor is the user, or
-- 'vigil' for the auto-close task. at is the coordinator's clock.
CREATE TABLE IF NOT EXISTS exception_activity (
    district_id text NOT NULL,
    result_key text NOT NULL,
    seq bigint NOT NULL,
    at timestamptz NOT NULL,
    actor text NOT NULL,
    action text NOT NULL,
    detail text,
    PRIMARY KEY (district_id, result_key, seq)
)
