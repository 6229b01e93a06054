-- One row per integration: its sequence number (the Seq of its last
-- write, a resource's or the token's) and the SHA-256 hash of its bearer
-- token. A write locks this row (SELECT ... FOR UPDATE) for its whole
-- transaction: that is the integration's lock across replicas.
CREATE TABLE {{schema}}.scim_integrations (
    integration text        PRIMARY KEY,
    seq         bigint      NOT NULL DEFAULT 0,
    token_hash  bytea,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- The latest version of every resource of an integration (users, groups,
-- tombstones), as scim.Record holds it; attrs is the JSON object the
-- provider wrote, kept as bytes.
CREATE TABLE {{schema}}.scim_resources (
    integration text        NOT NULL REFERENCES {{schema}}.scim_integrations ON DELETE CASCADE,
    id          text        NOT NULL,
    type        text        NOT NULL,
    seq         bigint      NOT NULL,
    created_seq bigint      NOT NULL,
    created     timestamptz NOT NULL,
    modified    timestamptz NOT NULL,
    deleted     boolean     NOT NULL,
    attrs       bytea,
    PRIMARY KEY (integration, id)
);

-- A replica catches up with what others wrote: the records after its
-- sequence number.
CREATE INDEX scim_resources_seq ON {{schema}}.scim_resources (integration, seq);
