//! The staff side: accounts and sign-in, the console WebSocket, and what an
//! agent does with a conversation (take it, reply, note, hand back, resolve).
//!
//! Every ownership change goes through the store's versioned update and is
//! published after it commits. A takeover silences the bot's turn in flight
//! before the takeover's own frames go out, so no bot text reaches the buyer
//! after "a person has joined".

pub mod accounts;
mod actions;
pub mod protocol;
pub mod session;
mod translate;

use std::sync::Arc;
use std::time::Duration;

use tracing::{info, warn};

use crate::chat::ChatService;
use crate::chat::protocol::ServerFrame;
use crate::language::Language;
use crate::storage::{Conversation, StaffAccount, StoreError};
use accounts::SignInLimiter;

pub use actions::{ActionOutcome, Refusal, ReplyOutcome};

/// How often chats owned by disabled accounts are returned to the queue.
const SWEEP_INTERVAL: Duration = Duration::from_secs(15);

/// Shared state of the staff side.
pub struct StaffService {
    pub chat: Arc<ChatService>,
    pub sign_in: SignInLimiter,
}

impl StaffService {
    pub fn new(chat: Arc<ChatService>) -> Self {
        let staff = &chat.config.staff;
        let sign_in = SignInLimiter::new(
            staff.sign_in_failures_per_name,
            staff.sign_in_failures_per_ip,
            Duration::from_secs(staff.sign_in_window_minutes * 60),
        );
        // The decoy hash for unknown names is made now, so the first such
        // sign-in takes as long as later ones.
        tokio::spawn(accounts::decoy_hash());
        Self { chat, sign_in }
    }

    /// Returns the chats of disabled accounts to the queue and publishes the
    /// change to their buyers and every console.
    pub async fn requeue_chats_of_disabled(&self) -> Result<usize, StoreError> {
        let moved = self.chat.store.requeue_chats_of_disabled().await?;
        for (conversation_id, event) in &moved {
            info!(conversation_id = %conversation_id, "chat of a disabled agent returned to the queue");
            let frame = ServerFrame::Event(Box::new(event.clone()));
            self.chat.hub.publish(conversation_id, frame);
        }
        Ok(moved.len())
    }

    /// Starts the task that sweeps disabled agents' chats back to the queue
    /// every `SWEEP_INTERVAL`, starting at once.
    pub fn spawn_sweeper(self: &Arc<Self>) {
        let service = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(SWEEP_INTERVAL);
            loop {
                interval.tick().await;
                let Some(service) = service.upgrade() else {
                    return;
                };
                if let Err(error) = service.requeue_chats_of_disabled().await {
                    warn!(%error, "returning disabled agents' chats to the queue failed");
                }
            }
        });
    }

    /// Lifetime of a console session, in seconds.
    pub fn session_seconds(&self) -> i64 {
        self.chat.config.staff.session_hours * 3600
    }

    /// Returns the language the buyer of a conversation reads.
    fn buyer_language(&self, conversation: &Conversation) -> Language {
        conversation
            .language
            .or(conversation.locale)
            .unwrap_or(self.chat.config.knowledge_language)
    }
}

/// Returns whether an account owns a conversation now.
fn owns(staff: &StaffAccount, conversation: &Conversation) -> bool {
    conversation.state == crate::storage::ConversationState::Staff
        && conversation.owner_staff_id.as_deref() == Some(staff.id.as_str())
}
