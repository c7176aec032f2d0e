use thiserror::Error;

/// Everything that can go wrong in the store, worded for the person who has to
/// act on it.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot open database {path}: {source}")]
    Open { path: String, source: sqlx::Error },
    #[error(
        "the database has migration {version} ({name}) that this tonghua does not know; it was written by a newer version — upgrade tonghua or restore a backup"
    )]
    UnknownMigration { version: i64, name: String },
    #[error(
        "migration {version} ({name}) was changed after it was applied (checksum mismatch); restore the original migration or the database backup"
    )]
    ChangedMigration { version: i64, name: String },
    #[error("migration {version} ({name}) failed: {source}")]
    MigrationFailed {
        version: i64,
        name: String,
        source: sqlx::Error,
    },
    #[error("{what} already exists")]
    Conflict { what: String },
    #[error("{what} not found")]
    NotFound { what: String },
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

impl StoreError {
    /// Maps a unique-constraint violation to `Conflict`, leaving others as is.
    pub(crate) fn conflict_or(err: sqlx::Error, what: impl Into<String>) -> Self {
        if let sqlx::Error::Database(db) = &err
            && db.is_unique_violation()
        {
            return StoreError::Conflict { what: what.into() };
        }
        StoreError::Database(err)
    }
}
