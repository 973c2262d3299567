//! Live fan-out of conversation frames to the sockets that follow them.
//!
//! Publishing never blocks: each conversation has a bounded broadcast
//! channel for its buyer sockets, and every frame is also sent on one staff
//! feed that all staff consoles read and filter. A receiver that falls
//! behind is told it lagged and reloads the missed events from the store.
//! Per-conversation answer locks make the bot handle one buyer message of a
//! conversation at a time, in order.
//!
//! A bot turn holds a [`BotTurn`]. When a person takes the conversation over,
//! [`Hub::silence_bot`] ends every turn in flight: their remaining frames are
//! not published (checked under the same lock as publishing, so none slips
//! out after the takeover's own frames), and their generation is cancelled.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{broadcast, watch};

use super::protocol::ServerFrame;
use crate::storage::Note;

/// Frames buffered per conversation for slow receivers.
const CHANNEL_CAPACITY: usize = 256;
/// Signals buffered on the staff feed, shared by every conversation.
const STAFF_FEED_CAPACITY: usize = 4096;

/// A signal on the staff feed.
#[derive(Debug, Clone)]
pub enum StaffSignal {
    /// A frame published to a conversation's buyer sockets.
    Frame {
        conversation_id: Arc<str>,
        frame: ServerFrame,
    },
    /// An internal note, which buyer sockets never receive.
    Note {
        conversation_id: Arc<str>,
        note: Note,
    },
}

pub struct Hub {
    channels: Mutex<HashMap<String, broadcast::Sender<ServerFrame>>>,
    staff: broadcast::Sender<StaffSignal>,
    answer_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    bot_turns: Mutex<HashMap<String, watch::Sender<u64>>>,
}

impl Default for Hub {
    fn default() -> Self {
        Self {
            channels: Mutex::default(),
            staff: broadcast::channel(STAFF_FEED_CAPACITY).0,
            answer_locks: Mutex::default(),
            bot_turns: Mutex::default(),
        }
    }
}

/// A bot turn in flight, ended by [`Hub::silence_bot`].
#[derive(Clone)]
pub struct BotTurn {
    epoch: u64,
    changes: watch::Receiver<u64>,
}

impl BotTurn {
    /// Resolves once a person has taken the conversation over.
    pub async fn silenced(&mut self) {
        let epoch = self.epoch;
        // An error means the hub dropped the sender, which happens only at shutdown.
        let _ = self.changes.wait_for(|current| *current != epoch).await;
    }

    pub fn is_silenced(&self) -> bool {
        *self.changes.borrow() != self.epoch
    }
}

impl Hub {
    pub fn subscribe(&self, conversation_id: &str) -> broadcast::Receiver<ServerFrame> {
        let mut channels = self.channels.lock().expect("hub lock is never poisoned");
        channels
            .entry(conversation_id.to_owned())
            .or_insert_with(|| broadcast::channel(CHANNEL_CAPACITY).0)
            .subscribe()
    }

    /// Receives every frame of every conversation, and the notes.
    pub fn subscribe_staff(&self) -> broadcast::Receiver<StaffSignal> {
        self.staff.subscribe()
    }

    /// Sends a frame to every attached socket and to the staff feed; drops
    /// the conversation's channel when no buyer socket is attached.
    pub fn publish(&self, conversation_id: &str, frame: ServerFrame) {
        let mut channels = self.channels.lock().expect("hub lock is never poisoned");
        self.publish_locked(&mut channels, conversation_id, frame);
    }

    /// Publishes a frame of a bot turn unless the turn was silenced.
    /// Returns whether it was published.
    pub fn publish_for_bot(
        &self,
        turn: &BotTurn,
        conversation_id: &str,
        frame: ServerFrame,
    ) -> bool {
        let mut channels = self.channels.lock().expect("hub lock is never poisoned");
        if turn.is_silenced() {
            return false;
        }
        self.publish_locked(&mut channels, conversation_id, frame);
        true
    }

    fn publish_locked(
        &self,
        channels: &mut HashMap<String, broadcast::Sender<ServerFrame>>,
        conversation_id: &str,
        frame: ServerFrame,
    ) {
        // No staff console may be listening; that is not an error.
        let _ = self.staff.send(StaffSignal::Frame {
            conversation_id: conversation_id.into(),
            frame: frame.clone(),
        });
        if let Some(sender) = channels.get(conversation_id)
            && sender.send(frame).is_err()
        {
            channels.remove(conversation_id);
        }
    }

    /// Sends a note to the staff feed only.
    pub fn publish_note(&self, conversation_id: &str, note: Note) {
        let _ = self.staff.send(StaffSignal::Note {
            conversation_id: conversation_id.into(),
            note,
        });
    }

    /// Starts a bot turn. Take it before reading who owns the conversation,
    /// so a takeover committed after that read is sure to silence it.
    pub fn bot_turn(&self, conversation_id: &str) -> BotTurn {
        let mut turns = self.bot_turns.lock().expect("hub lock is never poisoned");
        turns.retain(|_, sender| sender.receiver_count() > 0);
        let sender = turns
            .entry(conversation_id.to_owned())
            .or_insert_with(|| watch::channel(0).0);
        let changes = sender.subscribe();
        let epoch = *changes.borrow();
        BotTurn { epoch, changes }
    }

    /// Ends every bot turn in flight in this conversation. Call it after the
    /// ownership change is committed and before its frames are published.
    pub fn silence_bot(&self, conversation_id: &str) {
        let _channels = self.channels.lock().expect("hub lock is never poisoned");
        let turns = self.bot_turns.lock().expect("hub lock is never poisoned");
        if let Some(sender) = turns.get(conversation_id) {
            sender.send_modify(|epoch| *epoch += 1);
        }
    }

    /// Number of buyer sockets attached to a conversation.
    pub fn listeners(&self, conversation_id: &str) -> usize {
        let channels = self.channels.lock().expect("hub lock is never poisoned");
        channels
            .get(conversation_id)
            .map_or(0, |s| s.receiver_count())
    }

    /// The lock that serializes the bot's answers in one conversation.
    pub fn answer_lock(&self, conversation_id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self
            .answer_locks
            .lock()
            .expect("hub lock is never poisoned");
        locks.retain(|_, lock| Arc::strong_count(lock) > 1);
        locks.entry(conversation_id.to_owned()).or_default().clone()
    }
}
