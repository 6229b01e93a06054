-- The leases of the locks a Store hands out (Store.Lock): one row per lock
-- name. holder is the token of the Lock that holds it, NULL once it was
-- released cleanly; renewed_at is when the holder last renewed it (the
-- database's clock); grace is how long after renewed_at another holder
-- must wait when holder is still set: the holder's own heartbeat interval
-- and timeout, with a margin, so that a holder that lost its connection
-- has noticed before anyone else proceeds. pid is the holder's backend
-- (pg_stat_activity.pid), for whoever wants to see or end it. The
-- heartbeat updates the row every second or so; the low fill factor keeps
-- those updates HOT.
CREATE TABLE {{schema}}.locks (
    name       text        PRIMARY KEY,
    holder     text,
    renewed_at timestamptz NOT NULL,
    grace      interval    NOT NULL,
    pid        integer
) WITH (fillfactor = 50);
