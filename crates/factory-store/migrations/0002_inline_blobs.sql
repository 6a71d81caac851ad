-- Small blobs of the content-addressed store, kept here rather than as files: each is
-- inserted in the transaction of the event that first refers to it, so it is durable exactly
-- when that event is. Not a projection: a rebuild of the projections leaves it alone, and
-- only garbage collection removes rows.
CREATE TABLE inline_blobs (
    digest TEXT PRIMARY KEY, -- sha256:<hex>, as everywhere else
    data   BLOB NOT NULL
) STRICT;
