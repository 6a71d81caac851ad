-- Positions of readers of the log that must survive a restart (the bus relay's "published
-- up to here"). Primary state, not a projection: the log cannot say how far a reader got,
-- so a rebuild of the projections leaves this table alone.
CREATE TABLE cursors (
    name          TEXT    PRIMARY KEY,
    seq           INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL
) STRICT;

-- The store's identity: 128 random bits drawn once, when the store is made. Readers that
-- publish the log elsewhere derive stable names from it (a bus message's id is this and the
-- event's sequence number), so two stores never name two events alike.
CREATE TABLE store_identity (
    only INTEGER PRIMARY KEY CHECK (only = 1),
    id   TEXT    NOT NULL -- 32 lowercase hex digits
) STRICT;

INSERT INTO store_identity (only, id) VALUES (1, lower(hex(randomblob(16))));
