-- Outbound campaigns: contact lists, the do-not-call lists, campaigns, their
-- work queue, every dial attempt, and the outbox of CRM webhooks and SMS.

CREATE TABLE contact_lists (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    name        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE (tenant_id, name)
);

-- One row per number per list: re-importing a file changes nothing.
CREATE TABLE contacts (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    list_id     TEXT NOT NULL REFERENCES contact_lists(id),
    number      TEXT NOT NULL,
    name        TEXT,
    -- Script variables and free custom fields, a JSON object of strings.
    variables   TEXT NOT NULL DEFAULT '{}',
    -- The callee's UTC offset in minutes, when known.
    utc_offset  INTEGER,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE (list_id, number)
);
CREATE INDEX contacts_tenant_number ON contacts(tenant_id, number);

-- scope: a tenant id, or '*' for the global list every tenant obeys.
CREATE TABLE dnc_numbers (
    scope       TEXT NOT NULL,
    number      TEXT NOT NULL,
    source      TEXT NOT NULL,
    reason      TEXT,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (scope, number)
);

-- Per tenant: at most max_calls answered calls to one number per window.
CREATE TABLE dialing_policies (
    tenant_id   TEXT PRIMARY KEY REFERENCES tenants(id),
    max_calls   INTEGER NOT NULL,
    window_ms   BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE campaigns (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants(id),
    name            TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('draft', 'running', 'paused', 'stopped', 'completed')),
    script_name     TEXT NOT NULL,
    script_version  BIGINT NOT NULL,
    list_id         TEXT NOT NULL REFERENCES contact_lists(id),
    trunk           TEXT NOT NULL,
    caller_id       TEXT,
    max_lines       INTEGER NOT NULL,
    -- Windows, holidays, pacing, retry policy, webhook, SMS: a JSON object.
    settings        TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    started_at      BIGINT,
    finished_at     BIGINT,
    UNIQUE (tenant_id, name)
);
CREATE INDEX campaigns_status ON campaigns(status);

-- The work queue: one row per contact per campaign.
CREATE TABLE campaign_contacts (
    campaign_id   TEXT NOT NULL REFERENCES campaigns(id),
    contact_id    TEXT NOT NULL REFERENCES contacts(id),
    tenant_id     TEXT NOT NULL,
    number        TEXT NOT NULL,
    utc_offset    INTEGER NOT NULL,
    state         TEXT NOT NULL CHECK (state IN ('pending', 'dialing', 'done')),
    attempts      INTEGER NOT NULL DEFAULT 0,
    next_at       BIGINT NOT NULL,
    -- 1 while the next call is one the callee asked for (the cap yields to it).
    callback      INTEGER NOT NULL DEFAULT 0,
    last_outcome  TEXT,
    PRIMARY KEY (campaign_id, contact_id)
);
-- Claims walk this index: the due pending rows of one campaign, oldest first.
CREATE INDEX campaign_contacts_due ON campaign_contacts(campaign_id, state, next_at);

-- Every dial attempt. The row is written when the contact is claimed, before
-- the dialer is called, so a restart knows which attempts were in flight.
CREATE TABLE campaign_attempts (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL,
    campaign_id     TEXT NOT NULL REFERENCES campaigns(id),
    contact_id      TEXT NOT NULL REFERENCES contacts(id),
    number          TEXT NOT NULL,
    attempt_no      INTEGER NOT NULL,
    claimed_at      BIGINT NOT NULL,
    ended_at        BIGINT,
    outcome         TEXT,
    talk_ms         BIGINT,
    conversation_id TEXT,
    recording       TEXT,
    transcript      TEXT,
    grade           TEXT,
    tags            TEXT,
    callback_at     BIGINT,
    detail          TEXT,
    UNIQUE (campaign_id, contact_id, attempt_no)
);
CREATE INDEX campaign_attempts_open ON campaign_attempts(campaign_id, ended_at);
CREATE INDEX campaign_attempts_number ON campaign_attempts(tenant_id, number, outcome, ended_at);

-- The outbox: a CRM webhook or SMS per finished attempt, delivered with retries.
CREATE TABLE campaign_deliveries (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL,
    campaign_id  TEXT NOT NULL REFERENCES campaigns(id),
    attempt_id   TEXT NOT NULL REFERENCES campaign_attempts(id),
    kind         TEXT NOT NULL CHECK (kind IN ('webhook', 'sms')),
    url          TEXT NOT NULL,
    payload      TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    tries        INTEGER NOT NULL DEFAULT 0,
    next_at      BIGINT NOT NULL,
    last_status  INTEGER,
    last_error   TEXT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    UNIQUE (attempt_id, kind)
);
CREATE INDEX campaign_deliveries_due ON campaign_deliveries(status, next_at);
CREATE INDEX campaign_deliveries_campaign ON campaign_deliveries(campaign_id, created_at);
