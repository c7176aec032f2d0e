-- Customers across channels: one person, several ways to recognise them
-- (a phone number, a WeChat openid, the business's CRM id, a web visitor).

CREATE TABLE customers (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    name        TEXT,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE customer_identities (
    tenant_id    TEXT NOT NULL REFERENCES tenants(id),
    kind         TEXT NOT NULL CHECK (kind IN ('phone', 'wechat', 'crm', 'web')),
    value        TEXT NOT NULL,
    customer_id  TEXT NOT NULL REFERENCES customers(id),
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, kind, value)
);
CREATE INDEX customer_identities_customer ON customer_identities(customer_id);

ALTER TABLE conversations ADD COLUMN customer_id TEXT REFERENCES customers(id);
CREATE INDEX conversations_customer ON conversations(customer_id);
