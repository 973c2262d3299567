//! Ownership changes made by staff, and the queue they work from.
//!
//! Each change reads the conversation and writes the new state in one
//! `BEGIN IMMEDIATE` transaction, so two agents taking the same chat at the
//! same moment are serialized: the first wins and the second reads the
//! winner as the owner. The per-agent limit on owned chats is counted in the
//! same transaction, so concurrent takes cannot exceed it.

use serde::Serialize;
use sqlx::sqlite::SqliteRow;
use sqlx::{AssertSqlSafe, Row};

use super::conversations::{
    SELECT_CONVERSATIONS, apply_transition, conversation_from_row, conversation_in,
};
use super::events::{insert_event, next_seq};
use super::{ConversationState, NewEvent, Store, StoreError, StoredEvent, Transition};
use crate::language::Language;

/// The staff member asking for a change.
#[derive(Debug, Clone, Copy)]
pub struct Actor<'a> {
    pub staff_id: &'a str,
    pub display_name: &'a str,
    pub max_chats: i64,
    /// Admins may take over, hand back or resolve a chat another agent owns,
    /// so a chat is never stuck with someone who is away.
    pub may_override: bool,
}

/// A change a staff member requests for a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaffAction {
    Take,
    HandBack,
    Resolve,
}

/// The result of a staff ownership change.
#[derive(Debug, Clone)]
pub enum OwnershipOutcome {
    /// The change was made; the `state` event is returned.
    Changed(Box<StoredEvent>),
    /// The conversation was already in the requested state.
    Unchanged,
    /// Another staff member owns the conversation.
    OwnedByOther {
        owner_staff_id: String,
        owner_name: String,
    },
    /// The agent already owns `limit` conversations.
    LimitReached { limit: i64 },
    /// The change does not apply in this state (handing back a chat the
    /// agent does not own).
    NotAllowed(ConversationState),
}

/// A staff reply that was not stored.
#[derive(Debug, Clone)]
pub enum StaffMessageOutcome {
    Stored(Box<StoredEvent>),
    /// A message with this client id was stored before, under this `seq`.
    Duplicate(i64),
    /// The agent no longer owns the conversation.
    NotOwner(ConversationState),
}

/// A conversation as the staff queue and lists show it.
#[derive(Debug, Clone, Serialize)]
pub struct QueueItem {
    pub conversation_id: String,
    pub state: ConversationState,
    pub language: Option<Language>,
    pub reason: Option<String>,
    pub queued_at: Option<String>,
    pub waiting_seconds: Option<i64>,
    pub last_message: Option<LastMessage>,
    pub owner: Option<String>,
    pub owner_name: Option<String>,
    pub last_seq: i64,
}

/// The buyer's last message in a conversation.
#[derive(Debug, Clone, Serialize)]
pub struct LastMessage {
    pub seq: i64,
    pub text: String,
    pub language: Option<Language>,
}

const SELECT_ITEMS: &str = "SELECT c.id, c.state, c.language, c.locale, c.queue_reason, \
    c.queued_at, c.owner_staff_id, s.display_name AS owner_name, c.last_seq, \
    CAST((julianday('now') - julianday(c.queued_at)) * 86400 AS INTEGER) AS waiting_seconds, \
    e.seq AS message_seq, e.text AS message_text, e.language AS message_language \
    FROM conversations c \
    LEFT JOIN staff s ON s.id = c.owner_staff_id \
    LEFT JOIN events e ON e.conversation_id = c.id AND e.seq = (SELECT MAX(seq) FROM events \
        WHERE conversation_id = c.id AND author = 'buyer' AND kind = 'message')";

impl Store {
    /// Applies a staff member's take, hand-back or resolve. `notice` is the
    /// text stored for the buyer, in the buyer's language.
    pub async fn staff_transition(
        &self,
        id: &str,
        action: StaffAction,
        actor: Actor<'_>,
        notice: &str,
    ) -> Result<OwnershipOutcome, StoreError> {
        let mut tx = self.begin_write().await?;
        let current = conversation_in(&mut tx, id).await?;
        let mine = current.owner_staff_id.as_deref() == Some(actor.staff_id);
        if current.state == ConversationState::Staff && !mine && !actor.may_override {
            let owner_staff_id = current.owner_staff_id.clone().unwrap_or_default();
            let owner_name = self.display_name_in(&mut tx, &owner_staff_id).await?;
            return Ok(OwnershipOutcome::OwnedByOther {
                owner_staff_id,
                owner_name,
            });
        }
        let (to, owner, reason) = match action {
            StaffAction::Take => (ConversationState::Staff, Some(actor.staff_id), "staff_took"),
            StaffAction::HandBack => (ConversationState::Bot, None, "staff_handed_back"),
            StaffAction::Resolve => (ConversationState::Resolved, None, "staff_resolved"),
        };
        let already = current.state == to && (to != ConversationState::Staff || mine);
        if already {
            return Ok(OwnershipOutcome::Unchanged);
        }
        if action == StaffAction::HandBack && current.state != ConversationState::Staff {
            return Ok(OwnershipOutcome::NotAllowed(current.state));
        }
        if action == StaffAction::Take {
            let owned: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM conversations WHERE state = 'staff' AND owner_staff_id = ?",
            )
            .bind(actor.staff_id)
            .fetch_one(&mut *tx)
            .await?;
            if owned >= actor.max_chats {
                return Ok(OwnershipOutcome::LimitReached {
                    limit: actor.max_chats,
                });
            }
        }
        let actor_label = format!("staff:{}", actor.staff_id);
        let change = Transition {
            to,
            owner_staff_id: owner,
            actor: &actor_label,
            reason,
            allowed_from: &[],
            notice: Some(notice),
            actor_name: Some(actor.display_name),
        };
        let language = current.language.or(current.locale);
        let event = apply_transition(&mut tx, &current, &change, language).await?;
        tx.commit().await?;
        Ok(OwnershipOutcome::Changed(Box::new(event)))
    }

    /// Stores a staff reply only if `staff_id` owns the conversation. A
    /// second reply with the same client id stores nothing.
    pub async fn append_staff_message(
        &self,
        id: &str,
        staff_id: &str,
        event: &NewEvent,
    ) -> Result<StaffMessageOutcome, StoreError> {
        let mut tx = self.begin_write().await?;
        if let Some(client_id) = &event.client_id {
            let earlier: Option<i64> = sqlx::query_scalar(
                "SELECT seq FROM events WHERE conversation_id = ? AND client_id = ?",
            )
            .bind(id)
            .bind(client_id)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(seq) = earlier {
                return Ok(StaffMessageOutcome::Duplicate(seq));
            }
        }
        let current = conversation_in(&mut tx, id).await?;
        let mine = current.state == ConversationState::Staff
            && current.owner_staff_id.as_deref() == Some(staff_id);
        if !mine {
            return Ok(StaffMessageOutcome::NotOwner(current.state));
        }
        let seq = next_seq(&mut tx, id).await?;
        let stored = insert_event(&mut tx, id, seq, event).await?;
        tx.commit().await?;
        Ok(StaffMessageOutcome::Stored(Box::new(stored)))
    }

    /// Returns every chat owned by a disabled account to the queue, in one
    /// transaction, and returns each conversation id with its `state` event.
    /// Accounts are disabled from the command line, in another process, so
    /// the server calls this periodically and publishes the events.
    pub async fn requeue_chats_of_disabled(
        &self,
    ) -> Result<Vec<(String, StoredEvent)>, StoreError> {
        let mut tx = self.begin_write().await?;
        let rows = sqlx::query(AssertSqlSafe(format!(
            "{SELECT_CONVERSATIONS} WHERE state = 'staff' \
             AND owner_staff_id IN (SELECT id FROM staff WHERE disabled = 1)"
        )))
        .fetch_all(&mut *tx)
        .await?;
        let mut events = Vec::new();
        for row in rows {
            let current = conversation_from_row(&row)?;
            let change = Transition {
                to: ConversationState::Queued,
                owner_staff_id: None,
                actor: "system",
                reason: "agent_disabled",
                allowed_from: &[],
                notice: None,
                actor_name: None,
            };
            let language = current.language.or(current.locale);
            let event = apply_transition(&mut tx, &current, &change, language).await?;
            events.push((current.id, event));
        }
        tx.commit().await?;
        Ok(events)
    }

    /// Conversations waiting for a person, longest waiting first.
    pub async fn queue(&self, limit: i64) -> Result<Vec<QueueItem>, StoreError> {
        let sql = format!("{SELECT_ITEMS} WHERE c.state = 'queued' ORDER BY c.queued_at LIMIT ?");
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(item_from_row).collect()
    }

    /// Conversations a staff member owns, most recently changed first.
    pub async fn owned_by(&self, staff_id: &str) -> Result<Vec<QueueItem>, StoreError> {
        let sql = format!(
            "{SELECT_ITEMS} WHERE c.state = 'staff' AND c.owner_staff_id = ? \
             ORDER BY c.updated_at DESC"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(staff_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(item_from_row).collect()
    }

    /// Returns one conversation as a queue item.
    pub async fn queue_item(&self, id: &str) -> Result<Option<QueueItem>, StoreError> {
        let sql = format!("{SELECT_ITEMS} WHERE c.id = ?");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(item_from_row).transpose()
    }

    async fn display_name_in(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
        staff_id: &str,
    ) -> Result<String, StoreError> {
        let name: Option<String> =
            sqlx::query_scalar("SELECT display_name FROM staff WHERE id = ?")
                .bind(staff_id)
                .fetch_optional(&mut **tx)
                .await?;
        Ok(name.unwrap_or_else(|| staff_id.to_owned()))
    }
}

fn item_from_row(row: &SqliteRow) -> Result<QueueItem, StoreError> {
    let state: String = row.try_get("state")?;
    let language: Option<String> = row.try_get("language")?;
    let locale: Option<String> = row.try_get("locale")?;
    let message_seq: Option<i64> = row.try_get("message_seq")?;
    let message_text: Option<String> = row.try_get("message_text")?;
    let message_language: Option<String> = row.try_get("message_language")?;
    let state = ConversationState::parse(&state)?;
    let last_message = message_seq.map(|seq| LastMessage {
        seq,
        text: message_text.unwrap_or_default(),
        language: message_language.and_then(|code| code.parse().ok()),
    });
    let queued = state == ConversationState::Queued;
    Ok(QueueItem {
        conversation_id: row.try_get("id")?,
        state,
        language: language.or(locale).and_then(|code| code.parse().ok()),
        reason: row.try_get("queue_reason")?,
        queued_at: row.try_get("queued_at")?,
        waiting_seconds: if queued {
            row.try_get("waiting_seconds")?
        } else {
            None
        },
        last_message,
        owner: row.try_get("owner_staff_id")?,
        owner_name: row.try_get("owner_name")?,
        last_seq: row.try_get("last_seq")?,
    })
}
