-- Channels: how customers reach a tenant's robot other than by phone (a
-- WeChat official account, ...), with the settings each needs.

CREATE TABLE channels (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('wechat', 'web')),
    -- JSON. Holds the channel's secrets (WeChat token, AES key, app secret):
    -- the API never returns them.
    settings    TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE (tenant_id, name)
);

-- Deliveries already acted on, so a platform's retries (WeChat resends a
-- message it got no answer to) and replayed requests are acted on once, on
-- whichever node they arrive.
CREATE TABLE channel_deliveries (
    channel_id  TEXT NOT NULL REFERENCES channels(id),
    key         TEXT NOT NULL,
    at          BIGINT NOT NULL,
    PRIMARY KEY (channel_id, key)
);
