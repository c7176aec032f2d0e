-- Foundation schema: tenants, accounts, sessions, API tokens, audit log and the
-- append-only conversation event log.
--
-- Portability rules (a PostgreSQL set of migrations will sit beside this one):
-- ids are TEXT (UUIDv7, so they sort by creation time), timestamps are BIGINT
-- milliseconds since the Unix epoch (UTC), JSON is TEXT, booleans are BOOLEAN.

CREATE TABLE tenants (
    id          TEXT PRIMARY KEY,
    slug        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE users (
    id             TEXT PRIMARY KEY,
    tenant_id      TEXT NOT NULL REFERENCES tenants(id),
    username       TEXT NOT NULL,
    display_name   TEXT NOT NULL,
    role           TEXT NOT NULL CHECK (role IN ('admin', 'supervisor', 'agent', 'analyst')),
    password_hash  TEXT NOT NULL,
    disabled       BOOLEAN NOT NULL DEFAULT FALSE,
    failed_logins  INTEGER NOT NULL DEFAULT 0,
    locked_until   BIGINT,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    UNIQUE (tenant_id, username)
);

-- Browser sessions. Only a SHA-256 of the cookie value is stored.
CREATE TABLE sessions (
    token_hash  TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    user_id     TEXT NOT NULL REFERENCES users(id),
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    client_ip   TEXT
);
CREATE INDEX sessions_user ON sessions(user_id);

-- API tokens act as the user who created them. Only a SHA-256 is stored; the
-- prefix is kept so people can tell their tokens apart.
CREATE TABLE api_tokens (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants(id),
    user_id       TEXT NOT NULL REFERENCES users(id),
    name          TEXT NOT NULL,
    prefix        TEXT NOT NULL,
    token_hash    TEXT NOT NULL UNIQUE,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT,
    last_used_at  BIGINT,
    revoked_at    BIGINT
);
CREATE INDEX api_tokens_tenant ON api_tokens(tenant_id);

-- Who did what, when, from where. tenant_id is NULL for platform-level actions
-- (a tenant created from the CLI).
CREATE TABLE audit_log (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT,
    at          BIGINT NOT NULL,
    actor_kind  TEXT NOT NULL,
    actor_id    TEXT,
    actor_name  TEXT,
    action      TEXT NOT NULL,
    target      TEXT,
    outcome     TEXT NOT NULL,
    client_ip   TEXT,
    request_id  TEXT,
    detail      TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_tenant_at ON audit_log(tenant_id, at);

CREATE TABLE conversations (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants(id),
    channel       TEXT NOT NULL,
    external_ref  TEXT,
    created_at    BIGINT NOT NULL,
    last_seq      BIGINT NOT NULL DEFAULT 0,
    metadata      TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX conversations_tenant ON conversations(tenant_id, created_at);

-- The event log: one row per event or action, numbered 1, 2, 3... within its
-- conversation. Everything else about a conversation is derived from it.
CREATE TABLE conversation_events (
    conversation_id  TEXT NOT NULL REFERENCES conversations(id),
    seq              BIGINT NOT NULL,
    tenant_id        TEXT NOT NULL,
    at               BIGINT NOT NULL,
    kind             TEXT NOT NULL,
    payload          TEXT NOT NULL,
    PRIMARY KEY (conversation_id, seq)
);

CREATE TRIGGER conversation_events_append_only_update BEFORE UPDATE ON conversation_events
BEGIN SELECT RAISE(ABORT, 'conversation_events is append-only'); END;
CREATE TRIGGER conversation_events_append_only_delete BEFORE DELETE ON conversation_events
BEGIN SELECT RAISE(ABORT, 'conversation_events is append-only'); END;
CREATE TRIGGER audit_log_append_only_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_append_only_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
