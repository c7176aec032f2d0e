-- Agents' SIP phones: the username a phone registers with and the digest
-- HA1 = MD5(username:realm:password) the registrar checks it against. The
-- password itself is never stored. Usernames are unique across tenants (a
-- REGISTER names only the user). Where a phone is registered right now
-- (contact, expiry) is kept in memory by the registrar, not here.

CREATE TABLE agent_phones (
    tenant_id     TEXT NOT NULL REFERENCES tenants(id),
    user_id       TEXT NOT NULL REFERENCES users(id),
    sip_username  TEXT NOT NULL UNIQUE,
    realm         TEXT NOT NULL,
    ha1           TEXT NOT NULL,
    updated_at    BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);
