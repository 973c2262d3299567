//! The SQLite store: conversations, their numbered events and ownership, the
//! turn log, staff accounts, the glossary, and the knowledge (FAQ, passages,
//! orders) that the index is built from.
//!
//! All SQL lives in this module. Every write that must be atomic (a new event
//! and its sequence number, an ownership change and its version) runs in one
//! transaction whose first statement is a write, so SQLite takes the write
//! lock at once and concurrent writers queue instead of failing.

mod conversations;
mod events;
mod glossary;
mod knowledge;
mod ownership;
mod staff;
mod turns;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

pub use conversations::{Conversation, ConversationState, Transition};
pub use events::{AppendOutcome, Author, EventKind, NewEvent, StoredEvent};
pub use glossary::{GlossaryTerm, Note};
pub use knowledge::KnowledgeCounts;
pub use ownership::{
    Actor, LastMessage, OwnershipOutcome, QueueItem, StaffAction, StaffMessageOutcome,
};
pub use staff::{NewStaff, StaffAccount, StaffRole};
pub use turns::{Turn, TurnHit};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Errors from the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("conversation {0} not found")]
    ConversationNotFound(String),
    #[error("stored value {value:?} in column {column} is invalid")]
    Corrupt { column: &'static str, value: String },
}

/// Handle to the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: SqlitePool,
}

impl Store {
    /// Opens (creating if needed) the database file and applies migrations.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str("sqlite://")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(Self { pool })
    }

    /// Checks that the database answers, for `/health`.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// The pool, for tests and tools that inspect the log directly.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

impl Store {
    /// Starts a transaction that holds SQLite's write lock from its first
    /// statement, so it can read and then write without a lock upgrade.
    pub(crate) async fn begin_write(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, StoreError> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }
}
