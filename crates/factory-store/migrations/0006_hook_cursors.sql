-- Where each hook of the definition is in the event log: the last event it has dealt with.
-- Not a projection: most events a hook passes leave no trace in the log, so the log cannot
-- rebuild this table, and a rebuild of the projections leaves it alone. A cursor moves in
-- the transaction that records the hook's outcome (hook_ran), so an outcome is never lost
-- and an event is delivered again only if the factory stopped before recording it.
-- (0005 is left to the message bus's cursors, made on another branch at the same time.)
CREATE TABLE hook_cursors (
    name          TEXT    PRIMARY KEY,
    seq           INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL
) STRICT;
