//! One staff console connection.
//!
//! A reader validates frames and carries out the agent's actions; a writer,
//! the only task that writes to the socket, sends the welcome, transcript
//! pages and replays, and forwards the staff feed filtered to what this
//! console follows. The writer keeps a cursor (last event `seq`, last note
//! id) per followed conversation: an event after a gap, or a lagging feed,
//! is filled from the store, so the console never misses or repeats one.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::{Semaphore, broadcast, mpsc};
use tracing::{debug, info, warn};

use super::StaffService;
use super::actions::{ActionOutcome, ReplyOutcome};
use super::protocol::{Cursor, RefusedCode, StaffClientFrame, StaffServerFrame};
use super::translate::spawn_translation;
use crate::chat::hub::StaffSignal;
use crate::chat::protocol::{ErrorCode, ServerFrame};
use crate::chat::session::MAX_CLIENT_ID_CHARS;
use crate::limits::TokenBucket;
use crate::storage::{Author, EventKind, Note, StaffAccount, StaffAction, StoreError, StoredEvent};

/// Commands and frames queued for the writer.
const WRITER_QUEUE: usize = 256;
/// Events per transcript page when the console does not say.
const DEFAULT_PAGE: i64 = 50;
const MAX_PAGE: i64 = 200;
/// Queued chats listed in the welcome.
const MAX_QUEUE_ITEMS: i64 = 1000;
/// How often an open console checks that its session still exists, so
/// signing out elsewhere or disabling the account closes it.
const SESSION_CHECK: Duration = Duration::from_secs(15);
/// Time the writer gets to flush its last frames when the reader stops.
const CLOSE_GRACE: Duration = Duration::from_secs(1);
const SESSION_ENDED: &str =
    "your session ended (signed out, expired or account disabled); sign in again";
/// Replies of one console waiting to be sent.
const REPLY_QUEUE: usize = 32;
/// Events loaded per store query when replaying.
const REPLAY_PAGE: i64 = 500;

enum Command {
    Frame(Box<StaffServerFrame>),
    Hello(Vec<Cursor>),
    Open {
        conversation_id: String,
        before_seq: Option<i64>,
        limit: i64,
    },
    Close(String),
    /// A note this console wrote; sent here even when the conversation is
    /// not followed, so the author always sees it stored.
    OwnNote {
        conversation_id: String,
        note: Note,
    },
}

/// Serves one console connection until it closes.
pub async fn serve(
    service: Arc<StaffService>,
    socket: WebSocket,
    staff: StaffAccount,
    token_hash: String,
    address: IpAddr,
) {
    info!(staff_id = %staff.id, %address, "staff console attached");
    let (sink, stream) = socket.split();
    let (commands, commands_rx) = mpsc::channel(WRITER_QUEUE);
    let (frames, frames_rx) = mpsc::channel(WRITER_QUEUE);
    let feed = service.chat.hub.subscribe_staff();
    let writer = Writer {
        service: service.clone(),
        staff: staff.clone(),
        token_hash: token_hash.clone(),
        sink,
        frames: frames.clone(),
        translations: Arc::new(Semaphore::new(1)),
        welcomed: false,
        followed: HashMap::new(),
        queued: HashSet::new(),
        owned: HashSet::new(),
    };
    let mut writer = tokio::spawn(writer.run(commands_rx, frames_rx, feed));
    let (replies, replies_rx) = mpsc::channel(REPLY_QUEUE);
    // Not aborted with the connection: replies the agent already sent are
    // delivered even if the console goes away meanwhile.
    tokio::spawn(send_replies(
        service.clone(),
        staff.clone(),
        replies_rx,
        frames.clone(),
    ));
    let config = &service.chat.config.staff;
    let mut reader = Reader {
        service: service.clone(),
        staff,
        token_hash,
        commands,
        replies,
        bucket: TokenBucket::new(config.frames_per_second, config.frame_burst),
        hello: false,
    };
    let reader_ended = tokio::select! {
        _ = reader.read_loop(stream) => true,
        _ = &mut writer => false,
    };
    let staff_id = reader.staff.id.clone();
    drop(reader);
    if reader_ended {
        // The writer sends what the reader queued last (such as the reason
        // a session ended) and a close frame once the commands run out.
        let _ = tokio::time::timeout(CLOSE_GRACE, &mut writer).await;
    }
    writer.abort();
    debug!(staff_id = %staff_id, "staff console closed");
}

struct Reader {
    service: Arc<StaffService>,
    staff: StaffAccount,
    token_hash: String,
    commands: mpsc::Sender<Command>,
    replies: mpsc::Sender<ReplyJob>,
    bucket: TokenBucket,
    hello: bool,
}

/// A validated reply waiting to be translated and sent.
struct ReplyJob {
    conversation_id: String,
    client_id: String,
    text: String,
    translation: Option<String>,
}

/// Sends one console's replies one at a time, in the order the agent wrote
/// them, so a reply that needs a slow translation is never overtaken.
async fn send_replies(
    service: Arc<StaffService>,
    staff: StaffAccount,
    mut jobs: mpsc::Receiver<ReplyJob>,
    frames: mpsc::Sender<StaffServerFrame>,
) {
    while let Some(job) = jobs.recv().await {
        let outcome = service
            .reply(
                &staff,
                &job.conversation_id,
                &job.client_id,
                &job.text,
                job.translation.as_deref(),
            )
            .await;
        let frame = match outcome {
            Ok(outcome) => reply_frame(outcome, job.conversation_id, job.client_id, job.text),
            Err(error) => {
                warn!(staff_id = %staff.id, conversation_id = %job.conversation_id, %error, "staff reply failed");
                StaffServerFrame::Error {
                    code: ErrorCode::Internal,
                    message: "the server failed to send the reply; send it again".into(),
                }
            }
        };
        let _ = frames.send(frame).await;
    }
}

impl Reader {
    async fn read_loop(&mut self, mut stream: SplitStream<WebSocket>) {
        while let Some(Ok(message)) = stream.next().await {
            let is_data = matches!(message, Message::Text(_) | Message::Binary(_));
            if is_data && !self.bucket.try_take() {
                let config = &self.service.chat.config.staff;
                let message = format!(
                    "more than {} frames per second (bursts of {}); slow down and resend",
                    config.frames_per_second, config.frame_burst
                );
                self.error(ErrorCode::RateLimited, message).await;
                continue;
            }
            let keep_open = match message {
                Message::Text(text) => self.on_text(text.as_str()).await,
                Message::Binary(_) => {
                    let message = "binary frames are not supported; send JSON in a text frame";
                    self.error(ErrorCode::BinaryNotSupported, message).await;
                    true
                }
                Message::Close(_) => false,
                Message::Ping(_) | Message::Pong(_) => true,
            };
            if !keep_open {
                break;
            }
        }
    }

    /// Handles one text frame; `false` closes the connection.
    async fn on_text(&mut self, text: &str) -> bool {
        let max = self.service.chat.config.limits.max_frame_bytes;
        if text.len() > max {
            let message = format!("frame is {} bytes, over the {max}-byte limit", text.len());
            self.error(ErrorCode::FrameTooLarge, message).await;
            return true;
        }
        let frame: StaffClientFrame = match serde_json::from_str(text) {
            Ok(frame) => frame,
            Err(error) => {
                let message = format!(
                    "frame is not a valid staff frame: {error}; send one JSON object with a \
                     known \"type\" per text frame"
                );
                self.error(ErrorCode::InvalidJson, message).await;
                return true;
            }
        };
        if !matches!(
            frame,
            StaffClientFrame::Hello { .. } | StaffClientFrame::Ping
        ) && !self.hello
        {
            self.error(ErrorCode::HelloRequired, "send a hello frame first")
                .await;
            return true;
        }
        if !self.session_valid().await {
            self.error(ErrorCode::Unauthorized, SESSION_ENDED).await;
            return false;
        }
        if let Err(error) = self.handle(frame).await {
            warn!(staff_id = %self.staff.id, %error, "staff frame failed");
            let message = "the server failed to handle this frame; try again";
            self.error(ErrorCode::Internal, message).await;
        }
        true
    }

    async fn session_valid(&self) -> bool {
        let store = &self.service.chat.store;
        matches!(store.staff_for_session(&self.token_hash).await, Ok(Some(_)))
    }

    async fn handle(&mut self, frame: StaffClientFrame) -> Result<(), StoreError> {
        match frame {
            StaffClientFrame::Hello { cursors } => {
                if self.hello {
                    self.error(
                        ErrorCode::InvalidJson,
                        "hello was already sent on this connection",
                    )
                    .await;
                } else {
                    self.hello = true;
                    let _ = self.commands.send(Command::Hello(cursors)).await;
                }
            }
            StaffClientFrame::Ping => self.send(StaffServerFrame::Pong).await,
            StaffClientFrame::Open {
                conversation_id,
                before_seq,
                limit,
            } => {
                let limit = limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
                let command = Command::Open {
                    conversation_id,
                    before_seq,
                    limit,
                };
                let _ = self.commands.send(command).await;
            }
            StaffClientFrame::Close { conversation_id } => {
                let _ = self.commands.send(Command::Close(conversation_id)).await;
            }
            StaffClientFrame::Take { conversation_id } => {
                self.change_owner(conversation_id, StaffAction::Take)
                    .await?
            }
            StaffClientFrame::HandBack { conversation_id } => {
                self.change_owner(conversation_id, StaffAction::HandBack)
                    .await?
            }
            StaffClientFrame::Resolve { conversation_id } => {
                self.change_owner(conversation_id, StaffAction::Resolve)
                    .await?
            }
            StaffClientFrame::Reply {
                conversation_id,
                client_id,
                text,
                translation,
            } => {
                self.reply(conversation_id, client_id, text, translation)
                    .await
            }
            StaffClientFrame::Note {
                conversation_id,
                client_id,
                text,
            } => self.note(conversation_id, client_id, text).await?,
            StaffClientFrame::Typing {
                conversation_id,
                active,
            } => self.typing(&conversation_id, active).await?,
        }
        Ok(())
    }

    async fn change_owner(
        &self,
        conversation_id: String,
        action: StaffAction,
    ) -> Result<(), StoreError> {
        let outcome = self
            .service
            .change_owner(&self.staff, &conversation_id, action)
            .await?;
        if let ActionOutcome::Refused {
            code,
            message,
            owner,
        } = outcome
        {
            let frame = StaffServerFrame::Refused {
                conversation_id,
                code,
                message,
                owner,
            };
            self.send(frame).await;
        }
        Ok(())
    }

    /// Validates a reply and queues it for sending, because a translation
    /// takes seconds and the console may act meanwhile.
    async fn reply(
        &self,
        conversation_id: String,
        client_id: String,
        text: String,
        translation: Option<String>,
    ) {
        let Some(text) = self.checked_text(&client_id, &text).await else {
            return;
        };
        let translation = match translation {
            Some(translation) => match self.checked_text(&client_id, &translation).await {
                Some(translation) => Some(translation),
                None => return,
            },
            None => None,
        };
        let job = ReplyJob {
            conversation_id,
            client_id,
            text,
            translation,
        };
        if self.replies.try_send(job).is_err() {
            let message = format!(
                "{REPLY_QUEUE} replies are waiting to be sent; wait for their acknowledgements"
            );
            self.error(ErrorCode::RateLimited, message).await;
        }
    }

    async fn note(
        &self,
        conversation_id: String,
        client_id: String,
        text: String,
    ) -> Result<(), StoreError> {
        let Some(text) = self.checked_text(&client_id, &text).await else {
            return Ok(());
        };
        let stored = self
            .service
            .note(&self.staff, &conversation_id, &client_id, &text)
            .await?;
        match stored {
            Some(note) => {
                let command = Command::OwnNote {
                    conversation_id,
                    note,
                };
                let _ = self.commands.send(command).await;
            }
            None => {
                let frame = StaffServerFrame::Refused {
                    message: format!("no conversation has the id {conversation_id:?}"),
                    conversation_id,
                    code: RefusedCode::NotFound,
                    owner: None,
                };
                self.send(frame).await;
            }
        }
        Ok(())
    }

    /// Shows "a person is typing" to the buyer, only from the owner.
    async fn typing(&self, conversation_id: &str, active: bool) -> Result<(), StoreError> {
        let chat = &self.service.chat;
        let Some(conversation) = chat.store.conversation(conversation_id).await? else {
            return Ok(());
        };
        if super::owns(&self.staff, &conversation) {
            let frame = ServerFrame::Typing {
                author: "staff",
                active,
            };
            chat.hub.publish(conversation_id, frame);
        }
        Ok(())
    }

    /// Trims and checks a client id and a text; sends the error and returns
    /// `None` when either is invalid.
    async fn checked_text(&self, client_id: &str, text: &str) -> Option<String> {
        if client_id.trim().is_empty() || client_id.chars().count() > MAX_CLIENT_ID_CHARS {
            let message = format!(
                "client_id must be 1 to {MAX_CLIENT_ID_CHARS} characters, got {client_id:?}"
            );
            self.error(ErrorCode::InvalidClientId, message).await;
            return None;
        }
        let text = text.trim();
        if text.is_empty() {
            self.error(
                ErrorCode::EmptyMessage,
                "the text is empty; write something",
            )
            .await;
            return None;
        }
        let max = self.service.chat.config.limits.max_message_chars;
        let chars = text.chars().count();
        if chars > max {
            let message =
                format!("the text has {chars} characters, over the {max} limit; split it");
            self.error(ErrorCode::MessageTooLong, message).await;
            return None;
        }
        Some(text.to_owned())
    }

    async fn send(&self, frame: StaffServerFrame) {
        let _ = self.commands.send(Command::Frame(Box::new(frame))).await;
    }

    async fn error(&self, code: ErrorCode, message: impl Into<String>) {
        let message = message.into();
        debug!(?code, %message, "staff frame rejected");
        self.send(StaffServerFrame::Error { code, message }).await;
    }
}

fn reply_frame(
    outcome: ReplyOutcome,
    conversation_id: String,
    client_id: String,
    original: String,
) -> StaffServerFrame {
    match outcome {
        ReplyOutcome::Sent { event, duplicate } => StaffServerFrame::ReplyAck {
            conversation_id,
            client_id,
            duplicate,
            seq: event.seq,
            text: event.text.clone().unwrap_or_default(),
            language: event.language.unwrap_or(crate::language::Language::English),
            original: event.original_text.clone().unwrap_or(original),
            translated: event.original_text.is_some(),
            machine_translated: event.machine_translated,
            check_failure: event.check_failure.clone(),
        },
        ReplyOutcome::Review {
            translation,
            language,
            failure,
        } => StaffServerFrame::Review {
            conversation_id,
            client_id,
            original,
            translation,
            language,
            failure,
        },
        ReplyOutcome::Refused {
            code,
            message,
            owner,
        } => StaffServerFrame::Refused {
            conversation_id,
            code,
            message,
            owner,
        },
    }
}

/// What the console has of a conversation it follows.
#[derive(Debug, Clone, Copy, Default)]
struct Position {
    seq: i64,
    note: i64,
}

struct Writer {
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
    async fn run(
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
