//! One buyer WebSocket connection.
//!
//! The connection is split into a reader, which validates and handles client
//! frames, and a writer, which alone writes to the socket. The writer sends
//! the `welcome`, then replays stored events after the client's resume point,
//! then forwards live frames from the hub, sending each stored event exactly
//! once and in sequence order (a gap is filled from the store first). When
//! the reader stops, the writer stops; answers still running for this
//! connection are aborted if no other socket follows the conversation, which
//! cancels their generation. A conversation whose last buyer message was
//! never answered is answered when a client attaches again.

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::ws::{Message, WebSocket};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::{broadcast, mpsc};
use tokio::task::AbortHandle;
use tracing::{debug, info, warn};

use super::ChatService;
use super::protocol::{ClientFrame, ErrorCode, RatingValue, ServerFrame};
use crate::language::Language;
use crate::language::detector::{Detection, Prior};
use crate::limits::TokenBucket;
use crate::storage::{AppendOutcome, Author, EventKind, NewEvent, StoreError, StoredEvent};

/// Frames queued for the writer; beyond this, error frames are dropped.
const WRITER_QUEUE: usize = 64;
/// Events loaded per page when replaying.
const REPLAY_PAGE: i64 = 500;
/// Longest client message id, in characters.
pub const MAX_CLIENT_ID_CHARS: usize = 64;
/// Prefix of the client ids of staff replies, which share the buyer's
/// per-conversation id space; buyers may not use it.
pub const STAFF_CLIENT_ID_PREFIX: &str = "staff:";

enum Outbound {
    Frame(ServerFrame),
    Attach {
        conversation_id: String,
        resume_from: i64,
        welcome: ServerFrame,
    },
    Resume {
        after_seq: i64,
    },
}

/// Serves one connection until it closes.
pub async fn serve(service: Arc<ChatService>, socket: WebSocket, address: IpAddr) {
    let (sink, stream) = socket.split();
    let (outbound, outbound_rx) = mpsc::channel(WRITER_QUEUE);
    let mut writer = tokio::spawn(write_loop(service.clone(), sink, outbound_rx));
    let mut reader = Reader {
        service: service.clone(),
        outbound,
        address,
        bucket: TokenBucket::new(
            service.config.limits.frames_per_second,
            service.config.limits.frame_burst,
        ),
        conversation_id: None,
        answers: Vec::new(),
    };
    tokio::select! {
        _ = reader.read_loop(stream) => {}
        _ = &mut writer => {}
    }
    writer.abort();
    if let Some(id) = &reader.conversation_id {
        tokio::task::yield_now().await;
        if service.hub.listeners(id) == 0 {
            for answer in &reader.answers {
                answer.abort();
            }
        }
        debug!(conversation_id = %id, "buyer socket closed");
    }
}

struct Reader {
    service: Arc<ChatService>,
    outbound: mpsc::Sender<Outbound>,
    address: IpAddr,
    bucket: TokenBucket,
    conversation_id: Option<String>,
    answers: Vec<AbortHandle>,
}

impl Reader {
    async fn read_loop(&mut self, mut stream: SplitStream<WebSocket>) {
        while let Some(message) = stream.next().await {
            let message = match message {
                Ok(message) => message,
                Err(error) => {
                    debug!(%error, "buyer socket read failed");
                    break;
                }
            };
            let is_data = matches!(message, Message::Text(_) | Message::Binary(_));
            if is_data && !self.bucket.try_take() {
                let limits = &self.service.config.limits;
                self.error(
                    ErrorCode::RateLimited,
                    format!(
                        "more than {} frames per second (bursts of {}); slow down and resend",
                        limits.frames_per_second, limits.frame_burst
                    ),
                );
                continue;
            }
            match message {
                Message::Text(text) => self.on_text(text.as_str()).await,
                Message::Binary(_) => self.error(
                    ErrorCode::BinaryNotSupported,
                    "binary frames are not supported; send JSON in a text frame",
                ),
                Message::Close(_) => break,
                Message::Ping(_) | Message::Pong(_) => {}
            }
            self.answers.retain(|handle| !handle.is_finished());
        }
    }

    async fn on_text(&mut self, text: &str) {
        let max = self.service.config.limits.max_frame_bytes;
        if text.len() > max {
            let message = format!("frame is {} bytes, over the {max}-byte limit", text.len());
            return self.error(ErrorCode::FrameTooLarge, message);
        }
        let frame: ClientFrame = match serde_json::from_str(text) {
            Ok(frame) => frame,
            Err(error) => {
                let message = format!(
                    "frame is not a valid protocol frame: {error}; send one JSON object with a \
                     known \"type\" per text frame"
                );
                return self.error(ErrorCode::InvalidJson, message);
            }
        };
        let result = match (frame, self.conversation_id.clone()) {
            (
                ClientFrame::Hello {
                    token,
                    locale,
                    resume_from,
                },
                _,
            ) => self.hello(token, locale, resume_from).await,
            (ClientFrame::Ping, _) => {
                self.send(ServerFrame::Pong);
                Ok(())
            }
            (_, None) => {
                self.error(ErrorCode::HelloRequired, "send a hello frame first");
                Ok(())
            }
            (ClientFrame::Message { client_id, text }, Some(id)) => {
                self.message(&id, client_id, text).await
            }
            (ClientFrame::RequestPerson { .. }, Some(id)) => self.request_person(&id).await,
            (ClientFrame::Rating { seq, value }, Some(id)) => self.rating(&id, seq, value).await,
            (ClientFrame::Typing { active }, Some(id)) => {
                self.service.hub.publish(
                    &id,
                    ServerFrame::Typing {
                        author: "buyer",
                        active,
                    },
                );
                Ok(())
            }
            (ClientFrame::Resume { after_seq }, Some(_)) => {
                let _ = self.outbound.send(Outbound::Resume { after_seq }).await;
                Ok(())
            }
        };
        if let Err(error) = result {
            warn!(%error, "buyer frame failed");
            self.error(
                ErrorCode::Internal,
                "the server failed to handle this frame; try again",
            );
        }
    }

    async fn hello(
        &mut self,
        token: Option<String>,
        locale: Option<String>,
        resume_from: i64,
    ) -> Result<(), StoreError> {
        if self.conversation_id.is_some() {
            self.error(
                ErrorCode::InvalidJson,
                "hello was already sent on this connection",
            );
            return Ok(());
        }
        let store = &self.service.store;
        let locale = locale.as_deref().and_then(Language::from_locale);
        let claimed = token.as_deref().and_then(|t| self.service.signer.verify(t));
        let existing = match claimed {
            Some(id) => store.conversation(&id).await?,
            None => None,
        };
        let resumed = existing.is_some();
        let conversation = match existing {
            Some(conversation) => {
                if let Some(locale) = locale.filter(|l| conversation.locale != Some(*l)) {
                    store
                        .set_conversation_locale(&conversation.id, locale)
                        .await?;
                }
                conversation
            }
            None => store.create_conversation(locale).await?,
        };
        info!(conversation_id = %conversation.id, resumed, resume_from, "buyer attached");

        let welcome = ServerFrame::Welcome {
            token: self.service.signer.issue(&conversation.id),
            conversation_id: conversation.id.clone(),
            resumed,
            state: conversation.state,
            language: conversation.language.or(conversation.locale),
            last_seq: conversation.last_seq,
        };
        let resume_from = if resumed { resume_from.max(0) } else { 0 };
        let attach = Outbound::Attach {
            conversation_id: conversation.id.clone(),
            resume_from,
            welcome,
        };
        let _ = self.outbound.send(attach).await;
        self.conversation_id = Some(conversation.id.clone());
        if resumed {
            self.answer_pending(&conversation.id).await?;
        }
        Ok(())
    }

    async fn message(
        &mut self,
        conversation_id: &str,
        client_id: String,
        text: String,
    ) -> Result<(), StoreError> {
        let limits = &self.service.config.limits;
        let invalid = client_id.trim().is_empty()
            || client_id.chars().count() > MAX_CLIENT_ID_CHARS
            || client_id.starts_with(STAFF_CLIENT_ID_PREFIX);
        if invalid {
            let message = format!(
                "client_id must be 1 to {MAX_CLIENT_ID_CHARS} characters and not start with \
                 {STAFF_CLIENT_ID_PREFIX:?}, got {client_id:?}"
            );
            self.error(ErrorCode::InvalidClientId, message);
            return Ok(());
        }
        let text = text.trim().to_owned();
        if text.is_empty() {
            self.error(
                ErrorCode::EmptyMessage,
                "message text is empty; type a question",
            );
            return Ok(());
        }
        let chars = text.chars().count();
        if chars > limits.max_message_chars {
            let message = format!(
                "message has {chars} characters, over the {} limit; split it",
                limits.max_message_chars
            );
            self.error(ErrorCode::MessageTooLong, message);
            return Ok(());
        }

        let detection = self.detect(conversation_id, &text).await?;
        let event = NewEvent {
            kind: EventKind::Message,
            author: Author::Buyer,
            client_id: Some(client_id.clone()),
            text: Some(text),
            language: detection.language,
            ..NewEvent::default()
        };
        match self
            .service
            .store
            .append_buyer_message(conversation_id, &event)
            .await?
        {
            AppendOutcome::Duplicate(seq) => {
                self.send(ServerFrame::Ack {
                    client_id,
                    seq,
                    duplicate: true,
                });
            }
            AppendOutcome::Stored(stored) => {
                let stored = *stored;
                self.send(ServerFrame::Ack {
                    client_id,
                    seq: stored.seq,
                    duplicate: false,
                });
                let frame = ServerFrame::Event(Box::new(stored.clone()));
                self.service.hub.publish(conversation_id, frame);
                self.spawn_answer(conversation_id, stored, detection);
            }
        }
        Ok(())
    }

    async fn detect(&self, conversation_id: &str, text: &str) -> Result<Detection, StoreError> {
        let conversation = self.service.store.conversation(conversation_id).await?;
        let prior = Prior {
            conversation: conversation.as_ref().and_then(|c| c.language),
            locale: conversation.as_ref().and_then(|c| c.locale),
        };
        let detector = self.service.detector.clone();
        let text = text.to_owned();
        let detection = tokio::task::spawn_blocking(move || detector.detect(&text, prior))
            .await
            .expect("language detection does not panic");
        Ok(detection)
    }

    fn spawn_answer(&mut self, conversation_id: &str, buyer: StoredEvent, detection: Detection) {
        let task = self.service.clone().answer_buyer_message(
            conversation_id.to_owned(),
            buyer,
            detection,
            self.address.to_string(),
        );
        self.answers.push(tokio::spawn(task).abort_handle());
    }

    /// Answers the last buyer message if the bot never replied to it (the
    /// buyer left, or the server restarted, while it was being answered).
    async fn answer_pending(&mut self, conversation_id: &str) -> Result<(), StoreError> {
        let store = &self.service.store;
        let Some(conversation) = store.conversation(conversation_id).await? else {
            return Ok(());
        };
        let first = (conversation.last_seq - 20).max(0);
        let recent = store.events_after(conversation_id, first, 20).await?;
        let Some(last) = recent.last() else {
            return Ok(());
        };
        let waiting = last.author == Author::Buyer && last.kind == EventKind::Message;
        if waiting && conversation.state == crate::storage::ConversationState::Bot {
            let detection = self
                .detect(conversation_id, last.text.as_deref().unwrap_or(""))
                .await?;
            info!(conversation_id = %conversation_id, seq = last.seq, "answering pending message");
            self.spawn_answer(conversation_id, last.clone(), detection);
        }
        Ok(())
    }

    async fn request_person(&self, conversation_id: &str) -> Result<(), StoreError> {
        let service = &self.service;
        let conversation = service.store.conversation(conversation_id).await?;
        let language = conversation
            .and_then(|c| c.language.or(c.locale))
            .unwrap_or(service.config.knowledge_language);
        let lock = service.hub.answer_lock(conversation_id);
        let _turn = lock.lock().await;
        service
            .escalate(conversation_id, language, "buyer_request", None)
            .await
    }

    async fn rating(
        &self,
        conversation_id: &str,
        seq: i64,
        value: RatingValue,
    ) -> Result<(), StoreError> {
        match self
            .service
            .store
            .rate(conversation_id, seq, value.as_str())
            .await?
        {
            Some(event) => {
                self.service
                    .hub
                    .publish(conversation_id, ServerFrame::Event(Box::new(event)));
            }
            None => self.error(
                ErrorCode::UnknownSeq,
                format!("seq {seq} is not a bot message of this conversation; rate a bot reply"),
            ),
        }
        Ok(())
    }

    fn send(&self, frame: ServerFrame) {
        if self.outbound.try_send(Outbound::Frame(frame)).is_err() {
            debug!("writer queue full, frame dropped");
        }
    }

    fn error(&self, code: ErrorCode, message: impl Into<String>) {
        let message = message.into();
        debug!(?code, %message, "buyer frame rejected");
        self.send(ServerFrame::error(code, message));
    }
}

/// The only task that writes to the socket.
struct Writer {
    service: Arc<ChatService>,
    sink: SplitSink<WebSocket, Message>,
    conversation_id: Option<String>,
    last_seq: i64,
}

async fn write_loop(
    service: Arc<ChatService>,
    sink: SplitSink<WebSocket, Message>,
    mut outbound: mpsc::Receiver<Outbound>,
) {
    let mut writer = Writer {
        service,
        sink,
        conversation_id: None,
        last_seq: 0,
    };
    let mut live: Option<broadcast::Receiver<ServerFrame>> = None;
    loop {
        let result = tokio::select! {
            // Direct frames first, so an ack precedes the reply it caused
            // whenever both are ready.
            biased;
            command = outbound.recv() => match command {
                None => break,
                Some(command) => writer.on_command(command, &mut live).await,
            },
            frame = recv_live(&mut live) => match frame {
                Ok(frame) => writer.on_live(frame).await,
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    debug!(missed, "socket lagged behind the hub, replaying from the store");
                    writer.replay(writer.last_seq).await
                }
                Err(broadcast::error::RecvError::Closed) => {
                    live = None;
                    Ok(())
                }
            },
        };
        if let Err(error) = result {
            debug!(%error, "buyer socket write failed");
            break;
        }
    }
}

async fn recv_live(
    live: &mut Option<broadcast::Receiver<ServerFrame>>,
) -> Result<ServerFrame, broadcast::error::RecvError> {
    match live {
        Some(receiver) => receiver.recv().await,
        None => std::future::pending().await,
    }
}

#[derive(Debug, thiserror::Error)]
enum WriteError {
    #[error("socket closed: {0}")]
    Socket(#[from] axum::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Writer {
    async fn on_command(
        &mut self,
        command: Outbound,
        live: &mut Option<broadcast::Receiver<ServerFrame>>,
    ) -> Result<(), WriteError> {
        match command {
            Outbound::Frame(frame) => self.send(&frame).await,
            Outbound::Attach {
                conversation_id,
                resume_from,
                welcome,
            } => {
                *live = Some(self.service.hub.subscribe(&conversation_id));
                self.conversation_id = Some(conversation_id);
                // The client has shown everything up to its resume point, so a
                // live event right after it is not a gap to fill from the store.
                self.last_seq = resume_from;
                self.send(&welcome).await?;
                self.replay(resume_from).await
            }
            Outbound::Resume { after_seq } => self.replay(after_seq).await,
        }
    }

    async fn on_live(&mut self, frame: ServerFrame) -> Result<(), WriteError> {
        match frame {
            ServerFrame::Event(event) => {
                if event.seq <= self.last_seq {
                    return Ok(());
                }
                if event.seq > self.last_seq + 1 {
                    return self.replay(self.last_seq).await;
                }
                self.last_seq = event.seq;
                self.send(&ServerFrame::Event(Box::new(event.for_buyer())))
                    .await
            }
            ServerFrame::Typing {
                author: "buyer", ..
            } => Ok(()),
            other => self.send(&other).await,
        }
    }

    /// Sends every stored event after `after_seq`, in order.
    async fn replay(&mut self, after_seq: i64) -> Result<(), WriteError> {
        let Some(id) = self.conversation_id.clone() else {
            return Ok(());
        };
        let mut after = after_seq;
        loop {
            let page = self
                .service
                .store
                .events_after(&id, after, REPLAY_PAGE)
                .await?;
            let Some(last) = page.last() else {
                return Ok(());
            };
            after = last.seq;
            for event in page {
                self.last_seq = self.last_seq.max(event.seq);
                self.send(&ServerFrame::Event(Box::new(event.for_buyer())))
                    .await?;
            }
        }
    }

    async fn send(&mut self, frame: &ServerFrame) -> Result<(), WriteError> {
        self.sink
            .send(Message::Text(frame.to_json().into()))
            .await?;
        Ok(())
    }
}
