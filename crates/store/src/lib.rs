//! Tonghua's persistence layer.
//!
//! Owns the schema, the migrations embedded in the binary, the repositories the
//! server uses, and the append-only conversation event log from which
//! transcripts, analytics and profiles are derived.
//!
//! Invariants:
//! - Every query is scoped by `tenant_id` where the row belongs to a tenant;
//!   callers cannot read another tenant's rows by guessing an id.
//! - `conversation_events` and `audit_log` are append-only (enforced by
//!   triggers, not only by this API).
//! - A write that returned `Ok` is durable: the database runs in WAL mode with
//!   `synchronous=FULL`, so neither a killed process nor a power cut loses it.
//! - Timestamps are milliseconds since the Unix epoch, passed in by the caller
//!   (this crate reads no clock, so tests can move time).

mod agent_phones;
mod audit;
mod campaigns;
mod channels;
mod contacts;
mod conversations;
mod customers;
mod documents;
mod error;
mod handoffs;
mod migrate;
mod tenants;
mod tokens;
mod users;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

pub use agent_phones::AgentPhone;
pub use audit::{AuditEntry, AuditQuery, NewAuditEntry};
pub use campaigns::{
    Attempt, AttemptResult, Campaign, Candidate, Claim, ClaimDecision, Delivery, NewCampaign,
    NewDelivery, NextStep, OpenAttempt, Progress,
};
pub use channels::Channel;
pub use contacts::{
    Contact, ContactList, DialingPolicy, DncEntry, GLOBAL_DNC, ImportCounts, NewContact,
};
pub use conversations::{Appended, Conversation, EventRecord, NewConversation};
pub use customers::{Customer, Identity, IdentityKind};
pub use documents::{Document, DocumentKind, DocumentSummary};
pub use error::StoreError;
pub use handoffs::{Agent, AgentStatus, Handoff, HandoffState};
pub use migrate::{MIGRATIONS, MigrationStatus};
pub use tenants::Tenant;
pub use tokens::{ApiToken, NewApiToken};
pub use users::{NewUser, Role, Session, User, UserUpdate};

/// File name of the embedded database inside the data directory.
pub const DATABASE_FILE: &str = "tonghua.db";

/// A handle on the database. Cheap to clone; all clones share one pool.
#[derive(Clone, Debug)]
pub struct Store {
    pool: SqlitePool,
}

impl Store {
    /// Opens (creating if needed) the embedded database in `data_dir` and
    /// applies any pending migrations.
    pub async fn open(data_dir: &Path) -> Result<Self, StoreError> {
        let store = Self::open_without_migrating(data_dir).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Opens the database without touching its schema (for `tonghua migrate
    /// --status` and for tests that build an old schema by hand).
    pub async fn open_without_migrating(data_dir: &Path) -> Result<Self, StoreError> {
        Self::open_with(data_dir, SqliteSynchronous::Full).await
    }

    /// Opens with `synchronous=NORMAL`: an acknowledged write can be lost on
    /// a power cut. Only for benchmarks, as the baseline that shows what
    /// durability costs; never used by the server.
    #[doc(hidden)]
    pub async fn open_relaxed_for_benchmarks(data_dir: &Path) -> Result<Self, StoreError> {
        let store = Self::open_with(data_dir, SqliteSynchronous::Normal).await?;
        store.migrate().await?;
        Ok(store)
    }

    async fn open_with(
        data_dir: &Path,
        synchronous: SqliteSynchronous,
    ) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::DataDir {
            path: data_dir.display().to_string(),
            source,
        })?;
        let path = data_dir.join(DATABASE_FILE);
        let options = SqliteConnectOptions::from_str("sqlite:")
            .map_err(StoreError::Database)?
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a commit is fsynced before it returns, so an acknowledged
            // write survives a crash of the process and of the machine.
            .synchronous(synchronous)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await
            .map_err(|source| StoreError::Open {
                path: path.display().to_string(),
                source,
            })?;
        Ok(Self { pool })
    }

    /// Applies pending migrations; returns how many were applied.
    pub async fn migrate(&self) -> Result<usize, StoreError> {
        migrate::apply(&self.pool).await
    }

    /// Applies migrations up to and including `version` only: for tests that
    /// need a database as an older release left it.
    #[doc(hidden)]
    pub async fn migrate_to(&self, version: i64) -> Result<usize, StoreError> {
        migrate::apply_up_to(&self.pool, version).await
    }

    /// Which migrations are applied and which are pending.
    pub async fn migration_status(&self) -> Result<Vec<MigrationStatus>, StoreError> {
        migrate::status(&self.pool).await
    }

    /// A cheap round trip, for readiness probes.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Closes the pool, checkpointing the WAL.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Direct pool access for tests and migrations of this crate only.
    #[doc(hidden)]
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

/// A new, time-ordered identifier (UUIDv7) as text.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
