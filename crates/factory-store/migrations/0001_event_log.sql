-- The event log: the source of truth. Append-only, one global gap-free sequence.
CREATE TABLE events (
    -- Assigned by the writer as MAX(seq)+1 inside the inserting write transaction, so it is
    -- gap-free even with several processes appending (the write lock serialises them).
    seq            INTEGER PRIMARY KEY,
    recorded_at_ms INTEGER NOT NULL,
    kind           TEXT    NOT NULL,
    schema_version INTEGER NOT NULL,
    -- The build the event is about, for reading one build's events (its log) cheaply.
    build_id       INTEGER,
    body           TEXT    NOT NULL
) STRICT;

CREATE INDEX events_by_build ON events (build_id, seq) WHERE build_id IS NOT NULL;

CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'the event log is append-only');
END;

CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'the event log is append-only');
END;

-- Projections: everything below can be dropped and rebuilt from `events`.

CREATE TABLE builds (
    id             INTEGER PRIMARY KEY, -- seq of the build_queued event
    wave           INTEGER,
    component      TEXT    NOT NULL,
    build_key      TEXT    NOT NULL,
    state          TEXT    NOT NULL,
    reason         TEXT    NOT NULL,
    inputs         TEXT    NOT NULL,    -- JSON object: input name -> digest/revision
    outputs        TEXT    NOT NULL,    -- JSON array of outputs
    attempt        INTEGER NOT NULL,
    failure_kind   TEXT,
    detail         TEXT,                -- failure / cancel / block / cut-off reason
    related        TEXT,                -- JSON array: blocking builds, reused or previous build
    log_bytes      INTEGER NOT NULL,
    queued_at_ms   INTEGER NOT NULL,
    started_at_ms  INTEGER,
    finished_at_ms INTEGER,
    last_seq       INTEGER NOT NULL
) STRICT;

CREATE INDEX builds_by_key ON builds (build_key, state);
CREATE INDEX builds_by_component ON builds (component, id);
CREATE INDEX builds_by_wave ON builds (wave, id) WHERE wave IS NOT NULL;
CREATE INDEX builds_by_state ON builds (state, id);

CREATE TABLE waves (
    id             INTEGER PRIMARY KEY, -- seq of the wave_planned event
    trigger_text   TEXT    NOT NULL,
    affected       TEXT    NOT NULL,    -- JSON array
    plan           TEXT    NOT NULL,    -- JSON array of arrays
    state          TEXT    NOT NULL,    -- planned | finished
    summary        TEXT,
    planned_at_ms  INTEGER NOT NULL,
    finished_at_ms INTEGER,
    last_seq       INTEGER NOT NULL
) STRICT;

CREATE INDEX waves_by_state ON waves (state, id);

CREATE TABLE artifacts (
    id        INTEGER PRIMARY KEY, -- seq of the artifact_stored event
    digest    TEXT    NOT NULL,
    name      TEXT    NOT NULL,
    kind      TEXT    NOT NULL,
    size      INTEGER NOT NULL,
    build     INTEGER
) STRICT;

CREATE INDEX artifacts_by_digest ON artifacts (digest);
CREATE INDEX artifacts_by_build ON artifacts (build) WHERE build IS NOT NULL;

-- Components seen in changes or builds; their latest builds are read from `builds`.
CREATE TABLE components (
    name               TEXT PRIMARY KEY,
    revision           TEXT,
    last_change_reason TEXT,
    last_change_seq    INTEGER
) STRICT;
