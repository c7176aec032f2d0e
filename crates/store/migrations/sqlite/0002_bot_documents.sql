-- Scripts (话术) and knowledge bases, as versioned documents per tenant.
-- A new upload of a name gets the next version; old versions stay, so every
-- conversation can record (and replay against) the exact version it ran.

CREATE TABLE bot_documents (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    kind        TEXT NOT NULL CHECK (kind IN ('script', 'knowledge_base')),
    name        TEXT NOT NULL,
    version     BIGINT NOT NULL,
    source      TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    created_by  TEXT,
    UNIQUE (tenant_id, kind, name, version)
);

CREATE TRIGGER bot_documents_immutable BEFORE UPDATE ON bot_documents
BEGIN SELECT RAISE(ABORT, 'bot_documents versions are immutable; upload a new version'); END;
