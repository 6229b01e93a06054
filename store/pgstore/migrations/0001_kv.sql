-- The key-value table of a dirsync Store: one row per key (an
-- integration's cursor, exceptions, history, fingerprint, pending plan).
CREATE TABLE {{schema}}.kv (
    key        text        PRIMARY KEY,
    value      bytea       NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
