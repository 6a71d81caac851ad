-- API tokens. Not a projection: the log cannot rebuild this table, because a token's hash
-- never goes into an event (events leave the store, for the message bus). A rebuild of the
-- projections leaves it alone; its changes are recorded in the log as audit events
-- (token_created, token_revoked) without the hash, in the same transaction.
CREATE TABLE tokens (
    id            INTEGER PRIMARY KEY,
    name          TEXT    NOT NULL,
    scope         TEXT    NOT NULL, -- read | build | admin
    owners        TEXT    NOT NULL, -- JSON array of group names
    -- Hex sha256 of the whole token string. Unique over revoked tokens too: a token once
    -- issued is never accepted again as another.
    hash          TEXT    NOT NULL UNIQUE,
    created_at_ms INTEGER NOT NULL,
    revoked_at_ms INTEGER
) STRICT;

-- At most one active token of a name; a revoked name can be taken again.
CREATE UNIQUE INDEX tokens_active_name ON tokens (name) WHERE revoked_at_ms IS NULL;
