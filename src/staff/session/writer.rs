//! The writing half of a console connection: the welcome, transcript pages,
//! replays from the store, and the staff feed filtered to what the console
//! follows.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use axum::extract::ws::{Message, WebSocket};
use futures_util::SinkExt;
use futures_util::stream::SplitSink;
use tokio::sync::{Semaphore, broadcast, mpsc};
use tracing::{debug, info};

use super::{Command, MAX_QUEUE_ITEMS, REPLAY_PAGE, SESSION_CHECK, SESSION_ENDED};
use crate::chat::hub::StaffSignal;
use crate::chat::protocol::{ErrorCode, ServerFrame};
use crate::staff::StaffService;
use crate::staff::protocol::{Cursor, RefusedCode, StaffServerFrame};
use crate::staff::translate::spawn_translation;
use crate::storage::{Author, EventKind, StaffAccount, StoreError, StoredEvent};

/// The newest event and note a console has of a conversation it follows.
#[derive(Debug, Clone, Copy, Default)]
struct Position {
    seq: i64,
    note: i64,
}

pub(super) struct Writer {
    service: Arc<StaffService>,
    staff: StaffAccount,
    token_hash: String,
    sink: SplitSink<WebSocket, Message>,
    frames: mpsc::Sender<StaffServerFrame>,
    translations: Arc<Semaphore>,
    welcomed: bool,
    followed: HashMap<String, Position>,
    queued: HashSet<String>,
    owned: HashSet<String>,
}

#[derive(Debug, thiserror::Error)]
enum WriteError {
    #[error("socket closed: {0}")]
    Socket(#[from] axum::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Writer {
    pub(super) fn new(
        service: Arc<StaffService>,
        staff: StaffAccount,
        token_hash: String,
        sink: SplitSink<WebSocket, Message>,
        frames: mpsc::Sender<StaffServerFrame>,
    ) -> Self {
        Self {
            service,
            staff,
            token_hash,
            sink,
            frames,
            translations: Arc::new(Semaphore::new(1)),
            welcomed: false,
            followed: HashMap::new(),
            queued: HashSet::new(),
            owned: HashSet::new(),
        }
    }

    pub(super) async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        mut frames: mpsc::Receiver<StaffServerFrame>,
        mut feed: broadcast::Receiver<StaffSignal>,
    ) {
        let mut session_check = tokio::time::interval(SESSION_CHECK);
        session_check.tick().await;
        loop {
            let result = tokio::select! {
                biased;
                command = commands.recv() => match command {
                    None => {
                        let _ = self.sink.send(Message::Close(None)).await;
                        break;
                    }
                    Some(command) => self.on_command(command).await,
                },
                _ = session_check.tick() => match self.session_ended().await {
                    Ok(false) => Ok(()),
                    Ok(true) => {
                        info!(staff_id = %self.staff.id, "staff session ended, closing the console");
                        let _ = self.sink.send(Message::Close(None)).await;
                        break;
                    }
                    Err(error) => Err(error),
                },
                frame = frames.recv() => match frame {
                    None => break,
                    Some(frame) => self.send(&frame).await,
                },
                signal = feed.recv() => match signal {
                    Ok(signal) => self.on_signal(signal).await,
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        debug!(missed, "staff console lagged behind the feed, resyncing");
                        self.resync().await
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                },
            };
            if let Err(error) = result {
                debug!(%error, "staff socket write failed");
                break;
            }
        }
    }

    /// Checks the session; when it ended, sends the reason and returns `true`.
    async fn session_ended(&mut self) -> Result<bool, WriteError> {
        let store = self.service.chat.store.clone();
        if store.staff_for_session(&self.token_hash).await?.is_some() {
            return Ok(false);
        }
        let frame = StaffServerFrame::Error {
            code: ErrorCode::Unauthorized,
            message: SESSION_ENDED.to_owned(),
        };
        self.send(&frame).await?;
        Ok(true)
    }

    async fn on_command(&mut self, command: Command) -> Result<(), WriteError> {
        match command {
            Command::Frame(frame) => self.send(&frame).await,
            Command::Hello(cursors) => self.welcome(cursors).await,
            Command::Open {
                conversation_id,
                before_seq,
                limit,
            } => self.open(conversation_id, before_seq, limit).await,
            Command::Close(conversation_id) => {
                self.followed.remove(&conversation_id);
                Ok(())
            }
            Command::OwnNote {
                conversation_id,
                note,
            } => {
                if self.followed.contains_key(&conversation_id) {
                    // The staff feed delivers it, in order with other notes.
                    return Ok(());
                }
                self.send(&StaffServerFrame::Note {
                    conversation_id,
                    note,
                })
                .await
            }
        }
    }

    async fn welcome(&mut self, cursors: Vec<Cursor>) -> Result<(), WriteError> {
        let store = self.service.chat.store.clone();
        let queue = store.queue(MAX_QUEUE_ITEMS).await?;
        let owned = store.owned_by(&self.staff.id).await?;
        self.queued = queue.iter().map(|i| i.conversation_id.clone()).collect();
        self.owned = owned.iter().map(|i| i.conversation_id.clone()).collect();
        let welcome = StaffServerFrame::Welcome {
            staff: self.staff.clone(),
            queue,
            owned,
        };
        self.send(&welcome).await?;
        self.welcomed = true;
        for cursor in cursors {
            if self.followed.contains_key(&cursor.conversation_id) {
                continue;
            }
            let Some(conversation) = store.conversation(&cursor.conversation_id).await? else {
                continue;
            };
            // A cursor past the newest event or note (a stale or corrupted
            // console) would hide everything after it, so it is capped.
            let last_note = store.last_note_id(&cursor.conversation_id).await?;
            let position = Position {
                seq: cursor.after_seq.clamp(0, conversation.last_seq),
                note: cursor.after_note.clamp(0, last_note),
            };
            self.followed
                .insert(cursor.conversation_id.clone(), position);
            self.replay(&cursor.conversation_id).await?;
        }
        Ok(())
    }

    /// Sends a transcript page; the newest page also starts following.
    async fn open(
        &mut self,
        conversation_id: String,
        before_seq: Option<i64>,
        limit: i64,
    ) -> Result<(), WriteError> {
        let store = self.service.chat.store.clone();
        let Some(item) = store.queue_item(&conversation_id).await? else {
            let frame = StaffServerFrame::Refused {
                message: format!("no conversation has the id {conversation_id:?}"),
                conversation_id,
                code: RefusedCode::NotFound,
                owner: None,
            };
            return self.send(&frame).await;
        };
        let mut events = store
            .events_before(&conversation_id, before_seq, limit + 1)
            .await?;
        let has_more = events.len() as i64 > limit;
        if has_more {
            events.remove(0);
        }
        let from_seq = if has_more { events[0].seq } else { 0 };
        let to_seq = match before_seq {
            Some(before) => before - 1,
            None => i64::MAX,
        };
        let notes = store
            .notes_between(&conversation_id, from_seq, to_seq)
            .await?;
        if before_seq.is_none() {
            let position = Position {
                seq: events.last().map_or(0, |e| e.seq),
                note: notes.iter().map(|n| n.id).max().unwrap_or(0),
            };
            self.followed.insert(conversation_id.clone(), position);
        }
        for event in events.iter().rev() {
            self.translate(&conversation_id, event);
        }
        let frame = StaffServerFrame::Transcript {
            conversation_id,
            item,
            events,
            notes,
            has_more,
        };
        self.send(&frame).await
    }

    async fn on_signal(&mut self, signal: StaffSignal) -> Result<(), WriteError> {
        if !self.welcomed {
            return Ok(());
        }
        match signal {
            StaffSignal::Frame {
                conversation_id,
                frame,
            } => self.on_frame(&conversation_id, frame).await,
            StaffSignal::Note {
                conversation_id,
                note,
            } => {
                let Some(position) = self.followed.get_mut(&*conversation_id) else {
                    return Ok(());
                };
                if note.id <= position.note {
                    return Ok(());
                }
                if note.id > position.note + 1 {
                    return self.replay(&conversation_id).await;
                }
                position.note = note.id;
                let frame = StaffServerFrame::Note {
                    conversation_id: conversation_id.to_string(),
                    note,
                };
                self.send(&frame).await
            }
        }
    }

    async fn on_frame(
        &mut self,
        conversation_id: &str,
        frame: ServerFrame,
    ) -> Result<(), WriteError> {
        match frame {
            ServerFrame::Event(event) => {
                let buyer_message =
                    event.kind == EventKind::Message && event.author == Author::Buyer;
                if event.kind == EventKind::State {
                    self.refresh(conversation_id, true).await?;
                } else if buyer_message && self.queued.contains(conversation_id) {
                    self.refresh(conversation_id, false).await?;
                }
                self.deliver(conversation_id, *event).await
            }
            ServerFrame::Typing {
                author: "staff", ..
            } => Ok(()),
            live @ (ServerFrame::ReplyStart { .. }
            | ServerFrame::Delta { .. }
            | ServerFrame::ReplyDropped { .. }
            | ServerFrame::Typing { .. }) => {
                let shown = self.followed.contains_key(conversation_id)
                    || self.owned.contains(conversation_id);
                if !shown {
                    return Ok(());
                }
                let frame = StaffServerFrame::Live {
                    conversation_id: conversation_id.to_owned(),
                    frame: live,
                };
                self.send(&frame).await
            }
            _ => Ok(()),
        }
    }

    /// Sends a stored event of a followed conversation exactly once, filling
    /// a gap from the store first.
    async fn deliver(
        &mut self,
        conversation_id: &str,
        event: StoredEvent,
    ) -> Result<(), WriteError> {
        let Some(position) = self.followed.get_mut(conversation_id) else {
            return Ok(());
        };
        if event.seq <= position.seq {
            return Ok(());
        }
        if event.seq > position.seq + 1 {
            return self.replay(conversation_id).await;
        }
        position.seq = event.seq;
        self.translate(conversation_id, &event);
        let frame = StaffServerFrame::Event {
            conversation_id: conversation_id.to_owned(),
            event: Box::new(event),
        };
        self.send(&frame).await
    }

    /// Sends every stored event and note after the console's position.
    async fn replay(&mut self, conversation_id: &str) -> Result<(), WriteError> {
        let Some(mut position) = self.followed.get(conversation_id).copied() else {
            return Ok(());
        };
        let store = self.service.chat.store.clone();
        loop {
            let page = store
                .events_after(conversation_id, position.seq, REPLAY_PAGE)
                .await?;
            let Some(last) = page.last() else {
                break;
            };
            position.seq = last.seq;
            for event in page {
                self.translate(conversation_id, &event);
                let frame = StaffServerFrame::Event {
                    conversation_id: conversation_id.to_owned(),
                    event: Box::new(event),
                };
                self.send(&frame).await?;
            }
        }
        for note in store.notes_after(conversation_id, position.note).await? {
            position.note = note.id;
            let frame = StaffServerFrame::Note {
                conversation_id: conversation_id.to_owned(),
                note,
            };
            self.send(&frame).await?;
        }
        self.followed.insert(conversation_id.to_owned(), position);
        Ok(())
    }

    /// Updates the queue and the owned list after a conversation changed.
    /// `state_changed` is set for ownership changes, which may notify.
    async fn refresh(
        &mut self,
        conversation_id: &str,
        state_changed: bool,
    ) -> Result<(), WriteError> {
        let store = self.service.chat.store.clone();
        let Some(item) = store.queue_item(conversation_id).await? else {
            return Ok(());
        };
        let queued_now = item.state == crate::storage::ConversationState::Queued;
        if queued_now {
            let newly = self.queued.insert(conversation_id.to_owned());
            if newly && state_changed {
                let frame = StaffServerFrame::Notify {
                    conversation_id: conversation_id.to_owned(),
                    item: item.clone(),
                };
                self.send(&frame).await?;
            }
            self.send(&StaffServerFrame::QueueItem { item: item.clone() })
                .await?;
        } else if self.queued.remove(conversation_id) {
            let frame = StaffServerFrame::QueueRemove {
                conversation_id: conversation_id.to_owned(),
            };
            self.send(&frame).await?;
        }
        let mine = item.owner.as_deref() == Some(self.staff.id.as_str());
        let changed = if mine {
            self.owned.insert(conversation_id.to_owned())
        } else {
            self.owned.remove(conversation_id)
        };
        if changed {
            let items = store.owned_by(&self.staff.id).await?;
            self.send(&StaffServerFrame::Owned { items }).await?;
        }
        Ok(())
    }

    /// Rebuilds the console's view after the feed dropped signals.
    async fn resync(&mut self) -> Result<(), WriteError> {
        if !self.welcomed {
            return Ok(());
        }
        let store = self.service.chat.store.clone();
        let queue = store.queue(MAX_QUEUE_ITEMS).await?;
        let now: HashSet<String> = queue.iter().map(|i| i.conversation_id.clone()).collect();
        let gone: Vec<String> = self.queued.difference(&now).cloned().collect();
        for conversation_id in gone {
            self.send(&StaffServerFrame::QueueRemove { conversation_id })
                .await?;
        }
        for item in queue {
            self.send(&StaffServerFrame::QueueItem { item }).await?;
        }
        self.queued = now;
        let owned = store.owned_by(&self.staff.id).await?;
        self.owned = owned.iter().map(|i| i.conversation_id.clone()).collect();
        self.send(&StaffServerFrame::Owned { items: owned }).await?;
        let followed: Vec<String> = self.followed.keys().cloned().collect();
        for conversation_id in followed {
            self.replay(&conversation_id).await?;
        }
        Ok(())
    }

    fn translate(&self, conversation_id: &str, event: &StoredEvent) {
        spawn_translation(
            self.service.chat.clone(),
            self.translations.clone(),
            self.frames.clone(),
            conversation_id.to_owned(),
            event,
            self.staff.language,
        );
    }

    async fn send(&mut self, frame: &StaffServerFrame) -> Result<(), WriteError> {
        self.sink
            .send(Message::Text(frame.to_json().into()))
            .await?;
        Ok(())
    }
}
