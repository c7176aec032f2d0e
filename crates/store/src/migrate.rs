//! Embedded, forward-only migrations.
//!
//! Written by hand rather than with `sqlx::migrate!` to keep the proc-macro
//! stack out of the build and to give operators errors that say what to do.
//! Each migration runs in one transaction together with its bookkeeping row, so
//! a crash mid-migration leaves the database at the previous version.

use sha2::{Digest, Sha256};
use sqlx::{Row, SqlitePool};

use crate::StoreError;

/// One embedded migration.
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

/// All migrations this build knows, in order.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "foundation",
        sql: include_str!("../migrations/sqlite/0001_foundation.sql"),
    },
    Migration {
        version: 2,
        name: "bot_documents",
        sql: include_str!("../migrations/sqlite/0002_bot_documents.sql"),
    },
    Migration {
        version: 3,
        name: "channels",
        sql: include_str!("../migrations/sqlite/0003_channels.sql"),
    },
    Migration {
        version: 4,
        name: "token_scopes",
        sql: include_str!("../migrations/sqlite/0004_token_scopes.sql"),
    },
    Migration {
        version: 5,
        name: "customers",
        sql: include_str!("../migrations/sqlite/0005_customers.sql"),
    },
    Migration {
        version: 7,
        name: "campaigns",
        sql: include_str!("../migrations/sqlite/0007_campaigns.sql"),
    },
    Migration {
        version: 9,
        name: "handoffs",
        sql: include_str!("../migrations/sqlite/0009_handoffs.sql"),
    },
    Migration {
        version: 10,
        name: "agent_phones",
        sql: include_str!("../migrations/sqlite/0010_agent_phones.sql"),
    },
    Migration {
        version: 11,
        name: "sip_trunks",
        sql: include_str!("../migrations/sqlite/0011_sip_trunks.sql"),
    },
    Migration {
        version: 12,
        name: "conversation_phase",
        sql: include_str!("../migrations/sqlite/0012_conversation_phase.sql"),
    },
];

/// Whether a known migration is applied.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MigrationStatus {
    pub version: i64,
    pub name: String,
    pub applied_at: Option<i64>,
}

fn checksum(sql: &str) -> String {
    let digest = Sha256::digest(sql.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

async fn ensure_table(pool: &SqlitePool) -> Result<(), StoreError> {
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version BIGINT PRIMARY KEY,
            name TEXT NOT NULL,
            checksum TEXT NOT NULL,
            applied_at BIGINT NOT NULL
        )",
    )
    .execute(pool)
    .await?;
    Ok(())
}

async fn applied(pool: &SqlitePool) -> Result<Vec<(i64, String, String, i64)>, StoreError> {
    let rows = sqlx::query(
        "SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY version",
    )
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get("version")?,
                r.try_get("name")?,
                r.try_get("checksum")?,
                r.try_get("applied_at")?,
            ))
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(StoreError::from)
}

/// Verifies the applied history against this build and applies what is missing.
pub(crate) async fn apply(pool: &SqlitePool) -> Result<usize, StoreError> {
    apply_up_to(pool, i64::MAX).await
}

/// As [`apply`], stopping after `target` (tests build old databases with it).
pub(crate) async fn apply_up_to(pool: &SqlitePool, target: i64) -> Result<usize, StoreError> {
    ensure_table(pool).await?;
    let done = applied(pool).await?;
    for (version, name, sum, _) in &done {
        match MIGRATIONS.iter().find(|m| m.version == *version) {
            None => {
                return Err(StoreError::UnknownMigration {
                    version: *version,
                    name: name.clone(),
                });
            }
            Some(m) if checksum(m.sql) != *sum => {
                return Err(StoreError::ChangedMigration {
                    version: *version,
                    name: name.clone(),
                });
            }
            Some(_) => {}
        }
    }
    let mut count = 0;
    for m in MIGRATIONS {
        if done.iter().any(|(v, ..)| *v == m.version) || m.version > target {
            continue;
        }
        let failed = |source| StoreError::MigrationFailed {
            version: m.version,
            name: m.name.to_string(),
            source,
        };
        let mut tx = pool.begin().await?;
        sqlx::raw_sql(m.sql)
            .execute(&mut *tx)
            .await
            .map_err(failed)?;
        sqlx::query(
            "INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (?1, ?2, ?3, ?4)",
        )
        .bind(m.version)
        .bind(m.name)
        .bind(checksum(m.sql))
        .bind(now_ms())
        .execute(&mut *tx)
        .await
        .map_err(failed)?;
        tx.commit().await.map_err(failed)?;
        tracing::info!(version = m.version, name = m.name, "applied migration");
        count += 1;
    }
    Ok(count)
}

pub(crate) async fn status(pool: &SqlitePool) -> Result<Vec<MigrationStatus>, StoreError> {
    ensure_table(pool).await?;
    let done = applied(pool).await?;
    Ok(MIGRATIONS
        .iter()
        .map(|m| MigrationStatus {
            version: m.version,
            name: m.name.to_string(),
            applied_at: done
                .iter()
                .find(|(v, ..)| *v == m.version)
                .map(|(.., at)| *at),
        })
        .collect())
}

// Migration bookkeeping is the one place the store reads the clock itself: the
// time a schema change happened is a fact about this process, not the caller.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
