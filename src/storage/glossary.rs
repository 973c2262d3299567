//! The glossary of protected terms and the staff notes on conversations.

use serde::Serialize;
use sqlx::sqlite::SqliteRow;
use sqlx::{AssertSqlSafe, Row};

use super::{Store, StoreError};

/// A term that machine translation must keep as written.
#[derive(Debug, Clone, Serialize)]
pub struct GlossaryTerm {
    pub term: String,
    pub note: String,
    pub created_by: String,
    pub created_at: String,
}

/// An internal note on a conversation; buyers never receive it.
#[derive(Debug, Clone, Serialize)]
pub struct Note {
    pub id: i64,
    pub staff_id: String,
    pub author_name: String,
    #[serde(skip)]
    pub client_id: String,
    pub text: String,
    /// The note belongs after this event.
    pub after_seq: i64,
    pub created_at: String,
}

const SELECT_NOTES: &str = "SELECT n.id, n.staff_id, COALESCE(s.display_name, n.staff_id) AS \
    author_name, n.client_id, n.text, n.after_seq, n.created_at FROM notes n \
    LEFT JOIN staff s ON s.id = n.staff_id";

impl Store {
    /// Returns every glossary term, alphabetically.
    pub async fn glossary(&self) -> Result<Vec<GlossaryTerm>, StoreError> {
        let rows = sqlx::query(
            "SELECT term, note, created_by, created_at FROM glossary ORDER BY term_key",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(term_from_row).collect()
    }

    /// Adds a term and returns it; `None` when it exists, compared without
    /// regard to case.
    pub async fn add_glossary_term(
        &self,
        term: &str,
        note: &str,
        created_by: &str,
    ) -> Result<Option<GlossaryTerm>, StoreError> {
        let row = sqlx::query(
            "INSERT INTO glossary (term_key, term, note, created_by) VALUES (?, ?, ?, ?) \
             ON CONFLICT (term_key) DO NOTHING RETURNING term, note, created_by, created_at",
        )
        .bind(term.to_lowercase())
        .bind(term)
        .bind(note)
        .bind(created_by)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(term_from_row).transpose()
    }

    /// Deletes a term, compared without regard to case; `false` when it did
    /// not exist.
    pub async fn delete_glossary_term(&self, term: &str) -> Result<bool, StoreError> {
        let deleted = sqlx::query("DELETE FROM glossary WHERE term_key = ?")
            .bind(term.to_lowercase())
            .execute(&self.pool)
            .await?;
        Ok(deleted.rows_affected() == 1)
    }

    /// Stores a note after the conversation's newest event. A second note
    /// with the same client id returns the first.
    pub async fn add_note(
        &self,
        conversation_id: &str,
        staff_id: &str,
        client_id: &str,
        text: &str,
    ) -> Result<Note, StoreError> {
        let mut tx = self.begin_write().await?;
        let existing: Option<i64> =
            sqlx::query_scalar("SELECT id FROM notes WHERE conversation_id = ? AND client_id = ?")
                .bind(conversation_id)
                .bind(client_id)
                .fetch_optional(&mut *tx)
                .await?;
        let id = match existing {
            Some(id) => id,
            None => {
                let after_seq: Option<i64> =
                    sqlx::query_scalar("SELECT last_seq FROM conversations WHERE id = ?")
                        .bind(conversation_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                let after_seq = after_seq
                    .ok_or_else(|| StoreError::ConversationNotFound(conversation_id.to_owned()))?;
                sqlx::query_scalar(
                    "INSERT INTO notes (conversation_id, id, staff_id, client_id, text, after_seq) \
                     VALUES (?1, (SELECT COALESCE(MAX(id), 0) + 1 FROM notes \
                     WHERE conversation_id = ?1), ?2, ?3, ?4, ?5) RETURNING id",
                )
                .bind(conversation_id)
                .bind(staff_id)
                .bind(client_id)
                .bind(text)
                .bind(after_seq)
                .fetch_one(&mut *tx)
                .await?
            }
        };
        tx.commit().await?;
        let row = sqlx::query(AssertSqlSafe(format!(
            "{SELECT_NOTES} WHERE n.conversation_id = ? AND n.id = ?"
        )))
        .bind(conversation_id)
        .bind(id)
        .fetch_one(&self.pool)
        .await?;
        note_from_row(&row)
    }

    /// Returns the id of the conversation's newest note, or 0.
    pub async fn last_note_id(&self, conversation_id: &str) -> Result<i64, StoreError> {
        let id: i64 =
            sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM notes WHERE conversation_id = ?")
                .bind(conversation_id)
                .fetch_one(&self.pool)
                .await?;
        Ok(id)
    }

    /// Notes with an id above `after_id`, in order.
    pub async fn notes_after(
        &self,
        conversation_id: &str,
        after_id: i64,
    ) -> Result<Vec<Note>, StoreError> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "{SELECT_NOTES} WHERE n.conversation_id = ? AND n.id > ? ORDER BY n.id"
        )))
        .bind(conversation_id)
        .bind(after_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(note_from_row).collect()
    }

    /// Notes placed after events `from_seq` to `to_seq`, in order.
    pub async fn notes_between(
        &self,
        conversation_id: &str,
        from_seq: i64,
        to_seq: i64,
    ) -> Result<Vec<Note>, StoreError> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "{SELECT_NOTES} WHERE n.conversation_id = ? AND n.after_seq BETWEEN ? AND ? \
             ORDER BY n.id"
        )))
        .bind(conversation_id)
        .bind(from_seq)
        .bind(to_seq)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(note_from_row).collect()
    }
}

fn term_from_row(row: &SqliteRow) -> Result<GlossaryTerm, StoreError> {
    Ok(GlossaryTerm {
        term: row.try_get("term")?,
        note: row.try_get("note")?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
    })
}

fn note_from_row(row: &SqliteRow) -> Result<Note, StoreError> {
    Ok(Note {
        id: row.try_get("id")?,
        staff_id: row.try_get("staff_id")?,
        author_name: row.try_get("author_name")?,
        client_id: row.try_get("client_id")?,
        text: row.try_get("text")?,
        after_seq: row.try_get("after_seq")?,
        created_at: row.try_get("created_at")?,
    })
}
