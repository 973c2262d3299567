//! Conversations and their ownership state machine.
//!
//! A conversation is owned by the bot, waits for a person (`queued`), is owned
//! by a staff member, or is resolved. Every change bumps `state_version` in
//! one conditional update, so of two racing changes from the same version
//! exactly one wins; each change is recorded with who made it and why, and
//! stored as a `state` event the buyer sees.

use serde::{Deserialize, Serialize};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, Sqlite, Transaction};

use super::events::{insert_event, next_seq};
use super::{Author, EventKind, NewEvent, Store, StoreError, StoredEvent};
use crate::language::Language;

/// Who owns a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConversationState {
    Bot,
    Queued,
    Staff,
    Resolved,
}

impl ConversationState {
    pub fn as_str(self) -> &'static str {
        match self {
            ConversationState::Bot => "bot",
            ConversationState::Queued => "queued",
            ConversationState::Staff => "staff",
            ConversationState::Resolved => "resolved",
        }
    }

    pub(super) fn parse(value: &str) -> Result<Self, StoreError> {
        match value {
            "bot" => Ok(Self::Bot),
            "queued" => Ok(Self::Queued),
            "staff" => Ok(Self::Staff),
            "resolved" => Ok(Self::Resolved),
            other => Err(StoreError::Corrupt {
                column: "state",
                value: other.to_owned(),
            }),
        }
    }
}

/// A conversation row.
#[derive(Debug, Clone)]
pub struct Conversation {
    pub id: String,
    pub language: Option<Language>,
    pub locale: Option<Language>,
    pub state: ConversationState,
    pub owner_staff_id: Option<String>,
    pub state_version: i64,
    pub last_seq: i64,
    /// Order number the buyer named and has not yet proven with an e-mail.
    pub pending_order: Option<String>,
    pub failed_order_attempts: i64,
}

/// A requested ownership change.
#[derive(Debug, Clone)]
pub struct Transition<'a> {
    pub to: ConversationState,
    pub owner_staff_id: Option<&'a str>,
    /// Who asks: `buyer`, `bot`, `system` or `staff:<id>`.
    pub actor: &'a str,
    pub reason: &'a str,
    /// The change applies only if the conversation is in one of these states.
    pub allowed_from: &'a [ConversationState],
    /// The notice stored for the buyer, already in the buyer's language.
    pub notice: Option<&'a str>,
    /// The staff member's display name, on changes a staff member makes.
    pub actor_name: Option<&'a str>,
}

/// Every column of the conversations table, for loading several rows.
pub(super) const SELECT_CONVERSATIONS: &str = "SELECT id, language, locale, state, \
    owner_staff_id, state_version, last_seq, pending_order, failed_order_attempts \
    FROM conversations";
pub(super) const SELECT_CONVERSATION: &str = "SELECT id, language, locale, state, \
    owner_staff_id, state_version, last_seq, pending_order, failed_order_attempts \
    FROM conversations WHERE id = ?";

impl Store {
    /// Creates a conversation owned by the bot.
    pub async fn create_conversation(
        &self,
        locale: Option<Language>,
    ) -> Result<Conversation, StoreError> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        sqlx::query("INSERT INTO conversations (id, locale) VALUES (?, ?)")
            .bind(&id)
            .bind(locale.map(Language::code))
            .execute(&self.pool)
            .await?;
        self.conversation(&id)
            .await?
            .ok_or(StoreError::ConversationNotFound(id))
    }

    /// Loads a conversation, or `None` if it does not exist.
    pub async fn conversation(&self, id: &str) -> Result<Option<Conversation>, StoreError> {
        let row = sqlx::query(SELECT_CONVERSATION)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| conversation_from_row(&row)).transpose()
    }

    /// Sets the conversation's language and the locale hint.
    pub async fn set_conversation_language(
        &self,
        id: &str,
        language: Language,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE conversations SET language = ? WHERE id = ?")
            .bind(language.code())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Updates the locale hint sent by the client.
    pub async fn set_conversation_locale(
        &self,
        id: &str,
        locale: Language,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE conversations SET locale = ? WHERE id = ?")
            .bind(locale.code())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Applies an ownership change atomically and stores its `state` event.
    /// Returns `None` (and changes nothing) when the conversation is not in one
    /// of `allowed_from`, or already in the target state with the same owner.
    pub async fn transition(
        &self,
        id: &str,
        change: Transition<'_>,
        language: Option<Language>,
    ) -> Result<Option<StoredEvent>, StoreError> {
        let mut tx = self.begin_write().await?;
        let current = conversation_in(&mut tx, id).await?;
        let same = current.state == change.to
            && current.owner_staff_id.as_deref() == change.owner_staff_id;
        if same || !change.allowed_from.contains(&current.state) {
            return Ok(None);
        }
        let stored = apply_transition(&mut tx, &current, &change, language).await?;
        tx.commit().await?;
        Ok(Some(stored))
    }

    /// Remembers the order number a buyer named, until they prove it.
    pub async fn set_pending_order(
        &self,
        id: &str,
        order_number: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE conversations SET pending_order = ? WHERE id = ?")
            .bind(order_number)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

/// Loads a conversation inside `tx`, failing when it does not exist.
pub(super) async fn conversation_in(
    tx: &mut Transaction<'static, Sqlite>,
    id: &str,
) -> Result<Conversation, StoreError> {
    let row = sqlx::query(SELECT_CONVERSATION)
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?;
    match row {
        Some(row) => conversation_from_row(&row),
        None => Err(StoreError::ConversationNotFound(id.to_owned())),
    }
}

/// Writes an ownership change inside `tx`: the new state and version, the
/// `state_changes` row and the `state` event, which it returns.
pub(super) async fn apply_transition(
    tx: &mut Transaction<'static, Sqlite>,
    current: &Conversation,
    change: &Transition<'_>,
    language: Option<Language>,
) -> Result<StoredEvent, StoreError> {
    let id = current.id.as_str();
    let version = current.state_version + 1;
    let queued = change.to == ConversationState::Queued;
    sqlx::query(
        "UPDATE conversations SET state = ?, owner_staff_id = ?, state_version = ?, \
         queue_reason = CASE WHEN ? THEN ? ELSE queue_reason END, \
         queued_at = CASE WHEN ? THEN strftime('%Y-%m-%dT%H:%M:%fZ', 'now') ELSE queued_at END, \
         updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?",
    )
    .bind(change.to.as_str())
    .bind(change.owner_staff_id)
    .bind(version)
    .bind(queued)
    .bind(change.reason)
    .bind(queued)
    .bind(id)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "INSERT INTO state_changes \
         (conversation_id, from_state, to_state, version, actor, reason) \
         VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(id)
    .bind(current.state.as_str())
    .bind(change.to.as_str())
    .bind(version)
    .bind(change.actor)
    .bind(change.reason)
    .execute(&mut **tx)
    .await?;

    let event = NewEvent {
        kind: EventKind::State,
        author: Author::System,
        language,
        state: Some(change.to),
        reason: Some(change.reason.to_owned()),
        text: change.notice.map(str::to_owned),
        author_name: change.actor_name.map(str::to_owned),
        staff_id: change.owner_staff_id.map(str::to_owned),
        ..NewEvent::default()
    };
    let seq = next_seq(tx, id).await?;
    insert_event(tx, id, seq, &event).await
}

pub(super) fn conversation_from_row(row: &SqliteRow) -> Result<Conversation, StoreError> {
    let language: Option<String> = row.try_get("language")?;
    let locale: Option<String> = row.try_get("locale")?;
    let state: String = row.try_get("state")?;
    Ok(Conversation {
        id: row.try_get("id")?,
        language: language.and_then(|code| code.parse().ok()),
        locale: locale.and_then(|code| code.parse().ok()),
        state: ConversationState::parse(&state)?,
        owner_staff_id: row.try_get("owner_staff_id")?,
        state_version: row.try_get("state_version")?,
        last_seq: row.try_get("last_seq")?,
        pending_order: row.try_get("pending_order")?,
        failed_order_attempts: row.try_get("failed_order_attempts")?,
    })
}
