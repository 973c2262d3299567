//! Numbered conversation events: messages, ownership changes and ratings.
//!
//! Each conversation numbers its events 1, 2, 3, … in the order they are
//! stored; the number is taken from `conversations.last_seq` in the same
//! transaction as the insert, so numbers have no gaps and no repeats. A
//! buyer message carries the client's id, and a second message with the same
//! id stores nothing.

use serde::{Deserialize, Serialize};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, Sqlite, Transaction};

use super::{ConversationState, Store, StoreError};
use crate::knowledge::Source;
use crate::language::Language;

/// What an event records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    #[default]
    Message,
    State,
    Rating,
}

/// Who produced an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Author {
    #[default]
    Buyer,
    Bot,
    Staff,
    System,
}

/// An event before it is stored.
#[derive(Debug, Clone, Default)]
pub struct NewEvent {
    pub kind: EventKind,
    pub author: Author,
    pub client_id: Option<String>,
    pub reply_id: Option<String>,
    pub text: Option<String>,
    pub language: Option<Language>,
    pub machine_translated: bool,
    pub answer_source: Option<String>,
    pub sources: Vec<Source>,
    pub reply_to: Option<i64>,
    pub state: Option<ConversationState>,
    pub reason: Option<String>,
    pub note: Option<String>,
    pub rating: Option<String>,
    /// The agent's own text, when `text` is its translation for the buyer.
    pub original_text: Option<String>,
    pub original_language: Option<Language>,
    pub staff_id: Option<String>,
    /// The staff member's display name on their messages and takeovers.
    pub author_name: Option<String>,
    /// The check failure of the translation in `text`, when an agent sent it anyway.
    pub check_failure: Option<String>,
}

/// A stored event, as clients receive it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StoredEvent {
    pub seq: i64,
    pub kind: EventKind,
    pub author: Author,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<Language>,
    pub machine_translated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answer_source: Option<String>,
    pub sources: Vec<Source>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<ConversationState>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rating: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_language: Option<Language>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staff_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_failure: Option<String>,
    pub created_at: String,
}

impl StoredEvent {
    /// Returns the event as the buyer may see it: without the agent's own
    /// wording, staff ids, internal client ids or check results.
    pub fn for_buyer(&self) -> StoredEvent {
        let mut event = self.clone();
        event.original_text = None;
        event.original_language = None;
        event.staff_id = None;
        event.check_failure = None;
        if event.author == Author::Staff {
            event.client_id = None;
        }
        event
    }
}

/// Result of storing a buyer message.
#[derive(Debug, Clone)]
pub enum AppendOutcome {
    Stored(Box<StoredEvent>),
    /// A message with the same client id was stored earlier under this `seq`.
    Duplicate(i64),
}

impl Store {
    /// Stores an event and returns it with its sequence number.
    pub async fn append_event(
        &self,
        conversation_id: &str,
        event: &NewEvent,
    ) -> Result<StoredEvent, StoreError> {
        let mut tx = self.begin_write().await?;
        let seq = next_seq(&mut tx, conversation_id).await?;
        let stored = insert_event(&mut tx, conversation_id, seq, event).await?;
        tx.commit().await?;
        Ok(stored)
    }

    /// Stores a buyer message unless its client id was stored before.
    pub async fn append_buyer_message(
        &self,
        conversation_id: &str,
        event: &NewEvent,
    ) -> Result<AppendOutcome, StoreError> {
        let mut tx = self.begin_write().await?;
        let earlier: Option<i64> = sqlx::query_scalar(
            "SELECT seq FROM events WHERE conversation_id = ? AND client_id = ?",
        )
        .bind(conversation_id)
        .bind(&event.client_id)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(seq) = earlier {
            return Ok(AppendOutcome::Duplicate(seq));
        }
        let seq = next_seq(&mut tx, conversation_id).await?;
        let stored = insert_event(&mut tx, conversation_id, seq, event).await?;
        tx.commit().await?;
        Ok(AppendOutcome::Stored(Box::new(stored)))
    }

    /// Stores a bot message only if the bot still owns the conversation.
    /// Returns `None` when a person took over (or the chat was queued or
    /// resolved) while the reply was being written; nothing is stored then.
    pub async fn append_bot_message(
        &self,
        conversation_id: &str,
        event: &NewEvent,
    ) -> Result<Option<StoredEvent>, StoreError> {
        let mut tx = self.begin_write().await?;
        let state: Option<String> =
            sqlx::query_scalar("SELECT state FROM conversations WHERE id = ?")
                .bind(conversation_id)
                .fetch_optional(&mut *tx)
                .await?;
        match state.as_deref() {
            Some("bot") => {}
            Some(_) => return Ok(None),
            None => return Err(StoreError::ConversationNotFound(conversation_id.to_owned())),
        }
        let seq = next_seq(&mut tx, conversation_id).await?;
        let stored = insert_event(&mut tx, conversation_id, seq, event).await?;
        tx.commit().await?;
        Ok(Some(stored))
    }

    /// Events with a sequence number above `after_seq`, in order, at most `limit`.
    pub async fn events_after(
        &self,
        conversation_id: &str,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM events WHERE conversation_id = ? AND seq > ? ORDER BY seq LIMIT ?",
        )
        .bind(conversation_id)
        .bind(after_seq)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(event_from_row).collect()
    }

    /// Returns the last `limit` events before `before_seq` (or the newest when
    /// `None`), oldest first, for paging back through a transcript.
    pub async fn events_before(
        &self,
        conversation_id: &str,
        before_seq: Option<i64>,
        limit: i64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM events WHERE conversation_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?",
        )
        .bind(conversation_id)
        .bind(before_seq.unwrap_or(i64::MAX))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut events = rows
            .iter()
            .map(event_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        events.reverse();
        Ok(events)
    }

    /// Returns whether the bot or the system already replied to buyer message `seq`.
    pub async fn has_reply(&self, conversation_id: &str, seq: i64) -> Result<bool, StoreError> {
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT seq FROM events WHERE conversation_id = ? AND reply_to = ? \
             AND author IN ('bot', 'system') AND kind = 'message' LIMIT 1",
        )
        .bind(conversation_id)
        .bind(seq)
        .fetch_optional(&self.pool)
        .await?;
        Ok(found.is_some())
    }

    /// Loads the event stored with this client id, if any.
    pub async fn event_by_client_id(
        &self,
        conversation_id: &str,
        client_id: &str,
    ) -> Result<Option<StoredEvent>, StoreError> {
        let row = sqlx::query("SELECT * FROM events WHERE conversation_id = ? AND client_id = ?")
            .bind(conversation_id)
            .bind(client_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(event_from_row).transpose()
    }

    /// Loads the event with this sequence number, if any.
    pub async fn event(
        &self,
        conversation_id: &str,
        seq: i64,
    ) -> Result<Option<StoredEvent>, StoreError> {
        let row = sqlx::query("SELECT * FROM events WHERE conversation_id = ? AND seq = ?")
            .bind(conversation_id)
            .bind(seq)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(event_from_row).transpose()
    }

    /// Records a buyer's rating of a bot message (a new rating replaces the
    /// old one) and stores a `rating` event. Returns `None` when `seq` is not
    /// a bot message of this conversation.
    pub async fn rate(
        &self,
        conversation_id: &str,
        seq: i64,
        value: &str,
    ) -> Result<Option<StoredEvent>, StoreError> {
        let mut tx = self.begin_write().await?;
        let author: Option<String> = sqlx::query_scalar(
            "SELECT author FROM events WHERE conversation_id = ? AND seq = ? AND kind = 'message'",
        )
        .bind(conversation_id)
        .bind(seq)
        .fetch_optional(&mut *tx)
        .await?;
        if author.as_deref() != Some("bot") {
            return Ok(None);
        }
        sqlx::query(
            "INSERT INTO ratings (conversation_id, seq, value) VALUES (?, ?, ?) \
             ON CONFLICT (conversation_id, seq) DO UPDATE SET value = excluded.value, \
             created_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
        )
        .bind(conversation_id)
        .bind(seq)
        .bind(value)
        .execute(&mut *tx)
        .await?;
        let event = NewEvent {
            kind: EventKind::Rating,
            reply_to: Some(seq),
            rating: Some(value.to_owned()),
            ..NewEvent::default()
        };
        let next = next_seq(&mut tx, conversation_id).await?;
        let stored = insert_event(&mut tx, conversation_id, next, &event).await?;
        tx.commit().await?;
        Ok(Some(stored))
    }
}

/// Takes the conversation's next sequence number inside `tx`.
pub(super) async fn next_seq(
    tx: &mut Transaction<'static, Sqlite>,
    conversation_id: &str,
) -> Result<i64, StoreError> {
    let seq: Option<i64> = sqlx::query_scalar(
        "UPDATE conversations SET last_seq = last_seq + 1, \
         updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ? RETURNING last_seq",
    )
    .bind(conversation_id)
    .fetch_optional(&mut **tx)
    .await?;
    seq.ok_or_else(|| StoreError::ConversationNotFound(conversation_id.to_owned()))
}

pub(super) async fn insert_event(
    tx: &mut Transaction<'static, Sqlite>,
    conversation_id: &str,
    seq: i64,
    event: &NewEvent,
) -> Result<StoredEvent, StoreError> {
    let sources = serde_json::to_string(&event.sources).expect("sources serialize to JSON");
    let row = sqlx::query(
        "INSERT INTO events (conversation_id, seq, kind, author, client_id, reply_id, text, \
         language, machine_translated, answer_source, sources, reply_to, state, reason, note, \
         rating, original_text, original_language, staff_id, author_name, check_failure) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *",
    )
    .bind(conversation_id)
    .bind(seq)
    .bind(enum_str(&event.kind))
    .bind(enum_str(&event.author))
    .bind(&event.client_id)
    .bind(&event.reply_id)
    .bind(&event.text)
    .bind(event.language.map(Language::code))
    .bind(event.machine_translated)
    .bind(&event.answer_source)
    .bind(sources)
    .bind(event.reply_to)
    .bind(event.state.map(ConversationState::as_str))
    .bind(&event.reason)
    .bind(&event.note)
    .bind(&event.rating)
    .bind(&event.original_text)
    .bind(event.original_language.map(Language::code))
    .bind(&event.staff_id)
    .bind(&event.author_name)
    .bind(&event.check_failure)
    .fetch_one(&mut **tx)
    .await?;
    event_from_row(&row)
}

fn enum_str<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(text)) => text,
        _ => unreachable!("unit enum variants serialize to strings"),
    }
}

fn enum_parse<T: for<'de> Deserialize<'de>>(
    column: &'static str,
    value: String,
) -> Result<T, StoreError> {
    serde_json::from_value(serde_json::Value::String(value.clone()))
        .map_err(|_| StoreError::Corrupt { column, value })
}

pub(super) fn event_from_row(row: &SqliteRow) -> Result<StoredEvent, StoreError> {
    let sources: String = row.try_get("sources")?;
    let original_language: Option<String> = row.try_get("original_language")?;
    let language: Option<String> = row.try_get("language")?;
    let state: Option<String> = row.try_get("state")?;
    Ok(StoredEvent {
        seq: row.try_get("seq")?,
        kind: enum_parse("kind", row.try_get("kind")?)?,
        author: enum_parse("author", row.try_get("author")?)?,
        client_id: row.try_get("client_id")?,
        reply_id: row.try_get("reply_id")?,
        text: row.try_get("text")?,
        language: language.and_then(|code| code.parse().ok()),
        machine_translated: row.try_get("machine_translated")?,
        answer_source: row.try_get("answer_source")?,
        sources: serde_json::from_str(&sources).map_err(|_| StoreError::Corrupt {
            column: "sources",
            value: sources.clone(),
        })?,
        reply_to: row.try_get("reply_to")?,
        state: state.map(|value| enum_parse("state", value)).transpose()?,
        reason: row.try_get("reason")?,
        note: row.try_get("note")?,
        rating: row.try_get("rating")?,
        original_text: row.try_get("original_text")?,
        original_language: original_language.and_then(|code| code.parse().ok()),
        staff_id: row.try_get("staff_id")?,
        author_name: row.try_get("author_name")?,
        check_failure: row.try_get("check_failure")?,
        created_at: row.try_get("created_at")?,
    })
}
