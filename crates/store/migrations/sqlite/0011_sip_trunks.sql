-- Carrier trunks become channels of kind 'sip' (managed from the console).
-- SQLite cannot change a CHECK constraint in place, so the two channel
-- tables are rebuilt with their rows; the child table goes first so no
-- foreign key is ever left pointing at a missing channel.

CREATE TABLE channel_deliveries_copy AS SELECT channel_id, key, at FROM channel_deliveries;
DROP TABLE channel_deliveries;

CREATE TABLE channels_new (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('wechat', 'web', 'sip')),
    -- JSON. Holds the channel's secrets (WeChat token, AES key, app secret,
    -- trunk password): the API never returns them.
    settings    TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE (tenant_id, name)
);
INSERT INTO channels_new (id, tenant_id, name, kind, settings, created_at, updated_at)
    SELECT id, tenant_id, name, kind, settings, created_at, updated_at FROM channels;
DROP TABLE channels;
ALTER TABLE channels_new RENAME TO channels;

CREATE TABLE channel_deliveries (
    channel_id  TEXT NOT NULL REFERENCES channels(id),
    key         TEXT NOT NULL,
    at          BIGINT NOT NULL,
    PRIMARY KEY (channel_id, key)
);
INSERT INTO channel_deliveries (channel_id, key, at)
    SELECT channel_id, key, at FROM channel_deliveries_copy;
DROP TABLE channel_deliveries_copy;

-- Inbound routing and the registration supervisor look trunks up by kind.
CREATE INDEX channels_by_kind ON channels (kind);
