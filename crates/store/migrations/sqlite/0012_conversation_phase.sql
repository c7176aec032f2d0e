-- Where each conversation stands, kept next to its log so the supervisors'
-- page can list the live ones without replaying every log: the engine's
-- phase after the last turn (`active`, `transferring`, `with_agent`,
-- `ended`) and when anything was last appended. Both are derived from the
-- log, written in the same transaction as the entries they summarise.

ALTER TABLE conversations ADD COLUMN phase TEXT;
ALTER TABLE conversations ADD COLUMN last_event_at BIGINT;
CREATE INDEX conversations_by_activity ON conversations (tenant_id, last_event_at);
