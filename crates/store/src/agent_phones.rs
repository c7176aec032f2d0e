//! Agents' SIP phone credentials: the username a phone registers with and
//! the digest HA1 (`MD5(username:realm:password)`) it is checked against.
//! The password is never stored. Usernames are unique across tenants,
//! because a REGISTER names only the user; the lookup by username is the one
//! read that is not scoped by a tenant (the registrar acts before it knows
//! one), and it returns the tenant the phone belongs to.

use serde::Serialize;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use crate::{Store, StoreError};

/// One agent's phone account.
#[derive(Debug, Clone, Serialize)]
pub struct AgentPhone {
    pub tenant_id: String,
    pub user_id: String,
    pub sip_username: String,
    pub realm: String,
    /// Digest HA1; never shown by the API.
    #[serde(skip)]
    pub ha1: String,
    pub updated_at: i64,
}

fn row_to_phone(r: &SqliteRow) -> Result<AgentPhone, StoreError> {
    Ok(AgentPhone {
        tenant_id: r.try_get("tenant_id")?,
        user_id: r.try_get("user_id")?,
        sip_username: r.try_get("sip_username")?,
        realm: r.try_get("realm")?,
        ha1: r.try_get("ha1")?,
        updated_at: r.try_get("updated_at")?,
    })
}

const COLUMNS: &str = "tenant_id, user_id, sip_username, realm, ha1, updated_at";

impl Store {
    /// Sets (or replaces) a user's phone account. `Conflict` when the
    /// username belongs to someone else.
    pub async fn set_agent_phone(
        &self,
        tenant_id: &str,
        user_id: &str,
        sip_username: &str,
        realm: &str,
        ha1: &str,
        now: i64,
    ) -> Result<AgentPhone, StoreError> {
        sqlx::query(
            "INSERT INTO agent_phones (tenant_id, user_id, sip_username, realm, ha1, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (tenant_id, user_id) DO UPDATE SET
               sip_username = excluded.sip_username, realm = excluded.realm,
               ha1 = excluded.ha1, updated_at = excluded.updated_at",
        )
        .bind(tenant_id)
        .bind(user_id)
        .bind(sip_username)
        .bind(realm)
        .bind(ha1)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::conflict_or(e, "SIP username"))?;
        self.agent_phone(tenant_id, user_id)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                what: "agent phone".into(),
            })
    }

    /// A user's phone account.
    pub async fn agent_phone(
        &self,
        tenant_id: &str,
        user_id: &str,
    ) -> Result<Option<AgentPhone>, StoreError> {
        let sql =
            format!("SELECT {COLUMNS} FROM agent_phones WHERE tenant_id = ?1 AND user_id = ?2");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant_id)
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(row_to_phone).transpose()
    }

    /// The tenant's phone accounts.
    pub async fn agent_phones(&self, tenant_id: &str) -> Result<Vec<AgentPhone>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM agent_phones WHERE tenant_id = ?1");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(row_to_phone).collect()
    }

    /// The phone account with this SIP username, in whichever tenant (the
    /// registrar's lookup; the row says the tenant).
    pub async fn agent_phone_by_username(
        &self,
        sip_username: &str,
    ) -> Result<Option<AgentPhone>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM agent_phones WHERE sip_username = ?1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(sip_username)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(row_to_phone).transpose()
    }
}
