use serde::Serialize;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use crate::{Store, StoreError, new_id};

/// One line of the audit log: who did what, when, from where, and how it went.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    pub id: String,
    pub tenant_id: Option<String>,
    pub at: i64,
    /// `user`, `token`, `cli`, `system` or `anonymous`.
    pub actor_kind: String,
    pub actor_id: Option<String>,
    pub actor_name: Option<String>,
    /// A dotted verb such as `user.create` or `auth.login`.
    pub action: String,
    pub target: Option<String>,
    /// `ok`, `denied` or `failed`.
    pub outcome: String,
    pub client_ip: Option<String>,
    pub request_id: Option<String>,
    pub detail: serde_json::Value,
}

#[derive(Debug, Clone, Default)]
pub struct NewAuditEntry {
    pub tenant_id: Option<String>,
    pub actor_kind: String,
    pub actor_id: Option<String>,
    pub actor_name: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub outcome: String,
    pub client_ip: Option<String>,
    pub request_id: Option<String>,
    pub detail: serde_json::Value,
}

/// A page of the audit log, newest first.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub action: Option<String>,
    /// Only entries older than this id (for paging).
    pub before_id: Option<String>,
    pub limit: i64,
}

fn row_to_entry(r: &SqliteRow) -> Result<AuditEntry, StoreError> {
    let detail: String = r.try_get("detail")?;
    Ok(AuditEntry {
        id: r.try_get("id")?,
        tenant_id: r.try_get("tenant_id")?,
        at: r.try_get("at")?,
        actor_kind: r.try_get("actor_kind")?,
        actor_id: r.try_get("actor_id")?,
        actor_name: r.try_get("actor_name")?,
        action: r.try_get("action")?,
        target: r.try_get("target")?,
        outcome: r.try_get("outcome")?,
        client_ip: r.try_get("client_ip")?,
        request_id: r.try_get("request_id")?,
        detail: serde_json::from_str(&detail)
            .map_err(|e| StoreError::Corrupt(format!("audit detail is not JSON: {e}")))?,
    })
}

impl Store {
    pub async fn append_audit(&self, e: &NewAuditEntry, now: i64) -> Result<String, StoreError> {
        let id = new_id();
        let detail = if e.detail.is_null() {
            "{}".to_string()
        } else {
            e.detail.to_string()
        };
        sqlx::query(
            "INSERT INTO audit_log (id, tenant_id, at, actor_kind, actor_id, actor_name, action, target, outcome, client_ip, request_id, detail)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        )
        .bind(&id)
        .bind(e.tenant_id.as_deref())
        .bind(now)
        .bind(&e.actor_kind)
        .bind(e.actor_id.as_deref())
        .bind(e.actor_name.as_deref())
        .bind(&e.action)
        .bind(e.target.as_deref())
        .bind(&e.outcome)
        .bind(e.client_ip.as_deref())
        .bind(e.request_id.as_deref())
        .bind(detail)
        .execute(&self.pool)
        .await?;
        Ok(id)
    }

    /// Audit entries of one tenant, newest first.
    pub async fn audit_entries(
        &self,
        tenant_id: &str,
        q: &AuditQuery,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM audit_log
             WHERE tenant_id = ?1 AND (?2 IS NULL OR action = ?2) AND (?3 IS NULL OR id < ?3)
             ORDER BY id DESC LIMIT ?4",
        )
        .bind(tenant_id)
        .bind(q.action.as_deref())
        .bind(q.before_id.as_deref())
        .bind(q.limit.clamp(1, 1000))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(row_to_entry).collect()
    }

    /// Platform-level entries (no tenant), newest first; for the CLI.
    pub async fn platform_audit_entries(&self, limit: i64) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM audit_log WHERE tenant_id IS NULL ORDER BY id DESC LIMIT ?1",
        )
        .bind(limit.clamp(1, 1000))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(row_to_entry).collect()
    }
}
