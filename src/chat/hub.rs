//! Live fan-out of a conversation's frames to every socket attached to it.
//!
//! Publishing never blocks: each conversation has a bounded broadcast
//! channel, and a receiver that falls behind is told it lagged and reloads
//! the missed events from the store. Per-conversation answer locks make the
//! bot handle one buyer message of a conversation at a time, in order.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;

use super::protocol::ServerFrame;

/// Frames buffered per conversation for slow receivers.
const CHANNEL_CAPACITY: usize = 256;

#[derive(Default)]
pub struct Hub {
    channels: Mutex<HashMap<String, broadcast::Sender<ServerFrame>>>,
    answer_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Hub {
    pub fn subscribe(&self, conversation_id: &str) -> broadcast::Receiver<ServerFrame> {
        let mut channels = self.channels.lock().expect("hub lock is never poisoned");
        channels
            .entry(conversation_id.to_owned())
            .or_insert_with(|| broadcast::channel(CHANNEL_CAPACITY).0)
            .subscribe()
    }

    /// Sends a frame to every attached socket; drops the channel when none
    /// is attached.
    pub fn publish(&self, conversation_id: &str, frame: ServerFrame) {
        let mut channels = self.channels.lock().expect("hub lock is never poisoned");
        if let Some(sender) = channels.get(conversation_id)
            && sender.send(frame).is_err()
        {
            channels.remove(conversation_id);
        }
    }

    /// Number of sockets attached to a conversation.
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
