-- Releases of product streams (a projection of `release_made` events): numbered per stream,
-- never changed. The releaser reads a stream's history from here to decide what is due.
CREATE TABLE releases (
    product        TEXT    NOT NULL,
    stream         TEXT    NOT NULL,
    number         INTEGER NOT NULL,
    channel        TEXT    NOT NULL,
    candidate      TEXT    NOT NULL, -- sha256:HEX
    contents       TEXT    NOT NULL, -- JSON: job name -> sha256:HEX
    compose_id     TEXT    NOT NULL,
    compose_path   TEXT    NOT NULL,
    by_text        TEXT    NOT NULL,
    why            TEXT    NOT NULL,
    released_at_ms INTEGER NOT NULL,
    seq            INTEGER NOT NULL,
    PRIMARY KEY (product, stream, number)
) STRICT;

-- What each stream said about its end of life (a projection of `stream_eol` events), so a
-- warning is given once.
CREATE TABLE stream_notices (
    product TEXT    NOT NULL,
    stream  TEXT    NOT NULL,
    notice  TEXT    NOT NULL,
    seq     INTEGER NOT NULL,
    PRIMARY KEY (product, stream, notice)
) STRICT;
