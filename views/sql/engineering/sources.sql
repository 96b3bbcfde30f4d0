-- The engineering domain's canonical relations: what connectors publish and the
-- built-in views read. One compacted topic per relation, upsert envelope: the
-- record key is a JSON object of the primary key's columns, the value a JSON
-- object of every column (a null value deletes the row). Times are RFC 3339 UTC
-- strings (or epoch milliseconds); every row carries its tenant and lineage:
-- source_system (jira, clickup, azure, github), source_record_id (the id in that
-- system), ingest_batch_id (the connector run that fetched it), payload_sha256 (of
-- the raw payload it came from) and mapping_version (the board mapping that
-- produced it).

CREATE SOURCE IF NOT EXISTS boards (
    tenant_id text NOT NULL,
    board_id text NOT NULL,          -- 'jira:10', 'clickup:901', 'azure:Fabrikam/Web'
    source text NOT NULL,            -- jira | clickup | azure
    name text,
    kind text,                       -- scrum | kanban
    blocked_sla_hours integer,       -- 48 unless the mapping says otherwise
    source_system text, source_record_id text, ingest_batch_id text, payload_sha256 text,
    mapping_version integer,
    PRIMARY KEY (tenant_id, board_id)
) FROM TOPIC 'eng.boards' WITH (envelope = 'upsert');

CREATE SOURCE IF NOT EXISTS work_items (
    tenant_id text NOT NULL,
    item_id text NOT NULL,           -- 'source:key', e.g. 'jira:WEB-12'
    board_id text,
    item_key text,                   -- 'WEB-12'
    title text,
    item_type text,                  -- story | bug | task | subtask | epic
    original_type text,              -- the source's own type name
    status text,
    status_category text,            -- todo | in_progress | done
    story_points numeric(10,2),
    assignee_id text,
    assignee_name text,
    sprint_id text,                  -- the current sprint, if any
    parent_key text,
    created_at timestamptz,
    updated_at timestamptz,
    started_at timestamptz,          -- first entry into an in-progress status
    ready_for_qa_at timestamptz,
    done_at timestamptz,             -- last entry into a done status
    blocked boolean,
    blocked_since timestamptz,       -- from the change that made it blocked
    blocked_reason text,
    source_system text, source_record_id text, ingest_batch_id text, payload_sha256 text,
    mapping_version integer,
    PRIMARY KEY (tenant_id, item_id)
) FROM TOPIC 'eng.work_items' WITH (envelope = 'upsert');

CREATE SOURCE IF NOT EXISTS status_changes (
    tenant_id text NOT NULL,
    change_id text NOT NULL,         -- 'source:item key:changelog id'
    item_id text NOT NULL,
    from_status text,
    to_status text,
    from_category text,
    to_category text,
    changed_at timestamptz,
    source_system text, source_record_id text, ingest_batch_id text, payload_sha256 text,
    mapping_version integer,
    PRIMARY KEY (tenant_id, change_id)
) FROM TOPIC 'eng.status_changes' WITH (envelope = 'upsert');

CREATE SOURCE IF NOT EXISTS sprints (
    tenant_id text NOT NULL,
    sprint_id text NOT NULL,         -- 'jira:37'
    board_id text,
    name text,
    state text,                      -- future | active | closed
    start_at timestamptz,
    end_at timestamptz,
    complete_at timestamptz,
    source_system text, source_record_id text, ingest_batch_id text, payload_sha256 text,
    mapping_version integer,
    PRIMARY KEY (tenant_id, sprint_id)
) FROM TOPIC 'eng.sprints' WITH (envelope = 'upsert');

CREATE SOURCE IF NOT EXISTS sprint_memberships (
    tenant_id text NOT NULL,
    sprint_id text NOT NULL,
    item_id text NOT NULL,
    added_at timestamptz,
    removed_at timestamptz,          -- NULL while still in the sprint
    source_system text, source_record_id text, ingest_batch_id text, payload_sha256 text,
    mapping_version integer,
    PRIMARY KEY (tenant_id, sprint_id, item_id)
) FROM TOPIC 'eng.sprint_memberships' WITH (envelope = 'upsert');

CREATE SOURCE IF NOT EXISTS item_links (
    tenant_id text NOT NULL,
    from_item_id text NOT NULL,
    to_item_id text NOT NULL,
    link_type text NOT NULL,         -- blocks | is_blocked_by | relates | defect_of | parent
    source_system text, source_record_id text, ingest_batch_id text, payload_sha256 text,
    mapping_version integer,
    PRIMARY KEY (tenant_id, from_item_id, to_item_id, link_type)
) FROM TOPIC 'eng.item_links' WITH (envelope = 'upsert');

CREATE SOURCE IF NOT EXISTS pull_requests (
    tenant_id text NOT NULL,
    pr_id text NOT NULL,             -- 'github:owner/repo#12'
    repo text,                       -- 'owner/repo'
    number integer,
    title text,
    head_ref text,
    author text,
    state text,                      -- open | closed | merged
    created_at timestamptz,
    merged_at timestamptz,
    closed_at timestamptz,
    first_review_at timestamptz,
    additions integer,
    deletions integer,
    linked_item_key text,            -- 'WEB-12', found by the board's key pattern
    link_method text,                -- title | branch | body
    source_system text, source_record_id text, ingest_batch_id text, payload_sha256 text,
    mapping_version integer,
    PRIMARY KEY (tenant_id, pr_id)
) FROM TOPIC 'eng.pull_requests' WITH (envelope = 'upsert');

CREATE SOURCE IF NOT EXISTS pr_reviews (
    tenant_id text NOT NULL,
    review_id text NOT NULL,         -- 'github:owner/repo#12:review id'
    pr_id text NOT NULL,
    reviewer text,
    state text,                      -- APPROVED | CHANGES_REQUESTED | COMMENTED | …
    submitted_at timestamptz,
    source_system text, source_record_id text, ingest_batch_id text, payload_sha256 text,
    mapping_version integer,
    PRIMARY KEY (tenant_id, review_id)
) FROM TOPIC 'eng.pr_reviews' WITH (envelope = 'upsert');

CREATE SOURCE IF NOT EXISTS connector_runs (
    tenant_id text NOT NULL,
    run_id text NOT NULL,
    connector text,                  -- jira | clickup | azure | github
    scope_id text,                   -- the board or repository the run fetched
    mapping_version integer,
    started_at timestamptz,
    finished_at timestamptz,
    status text,                     -- running | succeeded | failed
    fetched integer,                 -- raw records fetched
    published integer,               -- canonical records published
    rejected integer,                -- records that could not be mapped
    error text,
    warnings text[],                 -- what went wrong without failing the run (a
                                     -- OneRoster demographics grant missing)
    cursor text,                     -- where the next run starts
    PRIMARY KEY (tenant_id, run_id)
) FROM TOPIC 'eng.connector_runs' WITH (envelope = 'upsert');

CREATE SOURCE IF NOT EXISTS mappings (
    -- How a scope's records were mapped: every run publishes its scope's row, and
    -- every canonical record's mapping_version names one.
    tenant_id text NOT NULL,
    connector text NOT NULL,         -- jira | clickup | azure | github
    scope_id text NOT NULL,          -- as in connector_runs: '10', 'octo/web'
    version integer NOT NULL,
    board_id text,                   -- the board the scope is; NULL for a repository
    story_points_field text,
    sprint_field text,
    flagged_field text,
    status_categories jsonb,         -- {"In Review": "in_progress", …}
    blocked_statuses text[],
    blocked_tags text[],
    pr_key_pattern text,
    PRIMARY KEY (tenant_id, connector, scope_id, version)
) FROM TOPIC 'eng.mappings' WITH (envelope = 'upsert');
