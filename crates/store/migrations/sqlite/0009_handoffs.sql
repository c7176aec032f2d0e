-- Humans in the loop: agents' presence and skills, and conversations the
-- robot handed to a queue (waiting → assigned → closed). The conversation
-- log stays the record of what was said; these rows are the routing state.

CREATE TABLE agents (
    tenant_id         TEXT NOT NULL REFERENCES tenants(id),
    user_id           TEXT NOT NULL REFERENCES users(id),
    status            TEXT NOT NULL CHECK (status IN ('available', 'busy', 'away')),
    -- JSON array of queue names this agent serves; empty serves every queue.
    skills            TEXT NOT NULL DEFAULT '[]',
    max_chats         INTEGER NOT NULL DEFAULT 3,
    status_at         BIGINT NOT NULL,
    -- When the agent last became free (status change or a conversation closed):
    -- routing picks the longest-idle agent first.
    idle_since        BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);

CREATE TABLE handoffs (
    id               TEXT PRIMARY KEY,
    tenant_id        TEXT NOT NULL REFERENCES tenants(id),
    conversation_id  TEXT NOT NULL REFERENCES conversations(id),
    queue            TEXT NOT NULL,
    reason           TEXT NOT NULL,
    state            TEXT NOT NULL CHECK (state IN ('waiting', 'assigned', 'closed')),
    agent_id         TEXT REFERENCES users(id),
    created_at       BIGINT NOT NULL,
    assigned_at      BIGINT,
    closed_at        BIGINT,
    disposition      TEXT
);
CREATE INDEX handoffs_by_state ON handoffs(tenant_id, state, queue, created_at);
CREATE INDEX handoffs_by_agent ON handoffs(agent_id, state);
-- A conversation is in at most one open handoff.
CREATE UNIQUE INDEX handoffs_open ON handoffs(conversation_id) WHERE state <> 'closed';
