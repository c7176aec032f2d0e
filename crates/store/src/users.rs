use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use crate::{Store, StoreError, new_id};

/// What a user may do. The server maps roles to permissions; the store only
/// keeps the name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything within the tenant: users, tokens, audit log, configuration.
    Admin,
    /// Runs the floor: sees all conversations and agents, reads users.
    Supervisor,
    /// Handles conversations handed over by the robot.
    Agent,
    /// Reads conversations and analytics; changes nothing.
    Analyst,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Admin, Role::Supervisor, Role::Agent, Role::Analyst];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Supervisor => "supervisor",
            Role::Agent => "agent",
            Role::Analyst => "analyst",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A person who logs in to the console or owns API tokens.
#[derive(Debug, Clone, Serialize)]
pub struct User {
    pub id: String,
    pub tenant_id: String,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    #[serde(skip)]
    pub password_hash: String,
    pub disabled: bool,
    #[serde(skip)]
    pub failed_logins: i64,
    pub locked_until: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

pub struct NewUser<'a> {
    pub tenant_id: &'a str,
    pub username: &'a str,
    pub display_name: &'a str,
    pub role: Role,
    pub password_hash: &'a str,
}

/// Fields an admin may change; `None` leaves a field as it is.
#[derive(Debug, Default, Clone)]
pub struct UserUpdate {
    pub display_name: Option<String>,
    pub role: Option<Role>,
    pub disabled: Option<bool>,
}

/// A logged-in browser session, joined with its user.
#[derive(Debug, Clone)]
pub struct Session {
    pub user: User,
    pub expires_at: i64,
}

const USER_COLUMNS: &str = "id, tenant_id, username, display_name, role, password_hash, disabled, failed_logins, locked_until, created_at, updated_at";

fn row_to_user(r: &SqliteRow) -> Result<User, StoreError> {
    let role: String = r.try_get("role")?;
    Ok(User {
        id: r.try_get("id")?,
        tenant_id: r.try_get("tenant_id")?,
        username: r.try_get("username")?,
        display_name: r.try_get("display_name")?,
        role: Role::parse(&role)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown role '{role}'")))?,
        password_hash: r.try_get("password_hash")?,
        disabled: r.try_get("disabled")?,
        failed_logins: r.try_get("failed_logins")?,
        locked_until: r.try_get("locked_until")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

impl Store {
    pub async fn create_user(&self, new: NewUser<'_>, now: i64) -> Result<User, StoreError> {
        let id = new_id();
        sqlx::query(
            "INSERT INTO users (id, tenant_id, username, display_name, role, password_hash, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
        )
        .bind(&id)
        .bind(new.tenant_id)
        .bind(new.username)
        .bind(new.display_name)
        .bind(new.role.as_str())
        .bind(new.password_hash)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::conflict_or(e, format!("user '{}'", new.username)))?;
        self.user(new.tenant_id, &id)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                what: format!("user {id}"),
            })
    }

    pub async fn user(&self, tenant_id: &str, id: &str) -> Result<Option<User>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE tenant_id = ?1 AND id = ?2");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant_id)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(row_to_user).transpose()
    }

    pub async fn user_by_name(
        &self,
        tenant_id: &str,
        username: &str,
    ) -> Result<Option<User>, StoreError> {
        let sql =
            format!("SELECT {USER_COLUMNS} FROM users WHERE tenant_id = ?1 AND username = ?2");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant_id)
            .bind(username)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(row_to_user).transpose()
    }

    pub async fn users(&self, tenant_id: &str) -> Result<Vec<User>, StoreError> {
        let sql =
            format!("SELECT {USER_COLUMNS} FROM users WHERE tenant_id = ?1 ORDER BY username");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(row_to_user).collect()
    }

    /// Number of enabled admins of a tenant (to refuse removing the last one).
    pub async fn active_admin_count(&self, tenant_id: &str) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM users WHERE tenant_id = ?1 AND role = 'admin' AND disabled = FALSE",
        )
        .bind(tenant_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get("n")?)
    }

    pub async fn update_user(
        &self,
        tenant_id: &str,
        id: &str,
        update: &UserUpdate,
        now: i64,
    ) -> Result<Option<User>, StoreError> {
        let done = sqlx::query(
            "UPDATE users SET
                display_name = COALESCE(?3, display_name),
                role = COALESCE(?4, role),
                disabled = COALESCE(?5, disabled),
                updated_at = ?6
             WHERE tenant_id = ?1 AND id = ?2",
        )
        .bind(tenant_id)
        .bind(id)
        .bind(update.display_name.as_deref())
        .bind(update.role.map(Role::as_str))
        .bind(update.disabled)
        .bind(now)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        if update.disabled == Some(true) {
            self.delete_sessions_of(tenant_id, id).await?;
        }
        self.user(tenant_id, id).await
    }

    /// Sets a new password hash, clears any lockout and ends the user's
    /// sessions (a reset is often the answer to a stolen password).
    pub async fn set_password(
        &self,
        tenant_id: &str,
        id: &str,
        password_hash: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE users SET password_hash = ?3, failed_logins = 0, locked_until = NULL, updated_at = ?4
             WHERE tenant_id = ?1 AND id = ?2",
        )
        .bind(tenant_id)
        .bind(id)
        .bind(password_hash)
        .bind(now)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        self.delete_sessions_of(tenant_id, id).await?;
        Ok(true)
    }

    /// Counts a failed login; locks the account until `lock_until` once the
    /// count reaches `max_failures`. Returns the new failure count.
    pub async fn record_login_failure(
        &self,
        user_id: &str,
        max_failures: i64,
        lock_until: i64,
    ) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "UPDATE users SET
                failed_logins = failed_logins + 1,
                locked_until = CASE WHEN failed_logins + 1 >= ?2 THEN ?3 ELSE locked_until END
             WHERE id = ?1 RETURNING failed_logins",
        )
        .bind(user_id)
        .bind(max_failures)
        .bind(lock_until)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get("failed_logins")?)
    }

    pub async fn record_login_success(&self, user_id: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = ?1")
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn create_session(
        &self,
        token_hash: &str,
        user: &User,
        now: i64,
        expires_at: i64,
        client_ip: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sessions (token_hash, tenant_id, user_id, created_at, expires_at, client_ip)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .bind(token_hash)
        .bind(&user.tenant_id)
        .bind(&user.id)
        .bind(now)
        .bind(expires_at)
        .bind(client_ip)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The live session for a cookie hash, with its user; `None` when unknown,
    /// expired, or the user is disabled.
    pub async fn session(&self, token_hash: &str, now: i64) -> Result<Option<Session>, StoreError> {
        let row = sqlx::query(
            "SELECT user_id, tenant_id, expires_at FROM sessions WHERE token_hash = ?1 AND expires_at > ?2",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let tenant_id: String = row.try_get("tenant_id")?;
        let user_id: String = row.try_get("user_id")?;
        let expires_at: i64 = row.try_get("expires_at")?;
        match self.user(&tenant_id, &user_id).await? {
            Some(user) if !user.disabled => Ok(Some(Session { user, expires_at })),
            _ => Ok(None),
        }
    }

    pub async fn delete_session(&self, token_hash: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = ?1")
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn delete_sessions_of(
        &self,
        tenant_id: &str,
        user_id: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE tenant_id = ?1 AND user_id = ?2")
            .bind(tenant_id)
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Removes expired sessions; returns how many.
    pub async fn purge_expired_sessions(&self, now: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM sessions WHERE expires_at <= ?1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}
