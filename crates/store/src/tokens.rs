use serde::Serialize;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use crate::{Store, StoreError, User, new_id};

/// An API token's record. The secret itself is never stored.
#[derive(Debug, Clone, Serialize)]
pub struct ApiToken {
    pub id: String,
    pub tenant_id: String,
    pub user_id: String,
    pub name: String,
    /// The first characters of the secret, to tell tokens apart in lists.
    pub prefix: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
    /// Permission names the token is limited to; `None`: all of its user's.
    pub scopes: Option<Vec<String>>,
}

pub struct NewApiToken<'a> {
    pub tenant_id: &'a str,
    pub user_id: &'a str,
    pub name: &'a str,
    pub prefix: &'a str,
    pub token_hash: &'a str,
    pub expires_at: Option<i64>,
    pub scopes: Option<&'a [String]>,
}

const TOKEN_COLUMNS: &str = "id, tenant_id, user_id, name, prefix, created_at, expires_at, last_used_at, revoked_at, scopes";

fn row_to_token(r: &SqliteRow) -> Result<ApiToken, sqlx::Error> {
    let scopes: Option<String> = r.try_get("scopes")?;
    Ok(ApiToken {
        // Written by this crate from a Vec<String>; unreadable means no scope
        // at all rather than everything.
        scopes: scopes.map(|s| serde_json::from_str(&s).unwrap_or_default()),
        id: r.try_get("id")?,
        tenant_id: r.try_get("tenant_id")?,
        user_id: r.try_get("user_id")?,
        name: r.try_get("name")?,
        prefix: r.try_get("prefix")?,
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
        last_used_at: r.try_get("last_used_at")?,
        revoked_at: r.try_get("revoked_at")?,
    })
}

impl Store {
    pub async fn create_api_token(
        &self,
        new: NewApiToken<'_>,
        now: i64,
    ) -> Result<ApiToken, StoreError> {
        let id = new_id();
        sqlx::query(
            "INSERT INTO api_tokens (id, tenant_id, user_id, name, prefix, token_hash, created_at, expires_at, scopes)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )
        .bind(&id)
        .bind(new.tenant_id)
        .bind(new.user_id)
        .bind(new.name)
        .bind(new.prefix)
        .bind(new.token_hash)
        .bind(now)
        .bind(new.expires_at)
        .bind(new.scopes.map(|s| serde_json::Value::from(s.to_vec()).to_string()))
        .execute(&self.pool)
        .await?;
        self.api_token(new.tenant_id, &id)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                what: format!("token {id}"),
            })
    }

    pub async fn api_token(
        &self,
        tenant_id: &str,
        id: &str,
    ) -> Result<Option<ApiToken>, StoreError> {
        let sql =
            format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE tenant_id = ?1 AND id = ?2");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant_id)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(row_to_token).transpose()?)
    }

    /// Tokens of a tenant, or of one user of it when `user_id` is given.
    pub async fn api_tokens(
        &self,
        tenant_id: &str,
        user_id: Option<&str>,
    ) -> Result<Vec<ApiToken>, StoreError> {
        let sql = format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE tenant_id = ?1 AND (?2 IS NULL OR user_id = ?2) ORDER BY created_at"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant_id)
            .bind(user_id)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(row_to_token).collect::<Result<_, _>>()?)
    }

    /// Resolves a presented token to its user: only live (not revoked, not
    /// expired) tokens of enabled users count. Records the use.
    pub async fn authenticate_api_token(
        &self,
        token_hash: &str,
        now: i64,
    ) -> Result<Option<(ApiToken, User)>, StoreError> {
        let sql = format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE token_hash = ?1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?2)"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(token_hash)
            .bind(now)
            .fetch_optional(&self.pool)
            .await?;
        let Some(token) = row.as_ref().map(row_to_token).transpose()? else {
            return Ok(None);
        };
        let Some(user) = self.user(&token.tenant_id, &token.user_id).await? else {
            return Ok(None);
        };
        if user.disabled {
            return Ok(None);
        }
        sqlx::query("UPDATE api_tokens SET last_used_at = ?2 WHERE id = ?1")
            .bind(&token.id)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(Some((token, user)))
    }

    /// Revokes a token; `false` when the tenant has no such live token.
    pub async fn revoke_api_token(
        &self,
        tenant_id: &str,
        id: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE api_tokens SET revoked_at = ?3 WHERE tenant_id = ?1 AND id = ?2 AND revoked_at IS NULL",
        )
        .bind(tenant_id)
        .bind(id)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
