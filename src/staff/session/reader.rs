//! The reading half of a console connection: frame validation, the
//! session check, and the agent's actions.

use std::sync::Arc;

use axum::extract::ws::{Message, WebSocket};
use futures_util::StreamExt;
use futures_util::stream::SplitStream;
use tokio::sync::mpsc;
use tracing::{debug, warn};

use super::{Command, DEFAULT_PAGE, MAX_PAGE, REPLY_QUEUE, SESSION_ENDED};
use crate::chat::protocol::{ErrorCode, ServerFrame};
use crate::chat::session::MAX_CLIENT_ID_CHARS;
use crate::limits::TokenBucket;
use crate::staff::StaffService;
use crate::staff::actions::{ActionOutcome, Refusal, ReplyOutcome};
use crate::staff::protocol::{RefusedCode, StaffClientFrame, StaffServerFrame};
use crate::storage::{StaffAccount, StaffAction, StoreError};

pub(super) struct Reader {
    service: Arc<StaffService>,
    staff: StaffAccount,
    token_hash: String,
    commands: mpsc::Sender<Command>,
    replies: mpsc::Sender<ReplyJob>,
    bucket: TokenBucket,
    hello: bool,
}

/// A validated reply waiting to be translated and sent.
pub(super) struct ReplyJob {
    conversation_id: String,
    client_id: String,
    text: String,
    translation: Option<String>,
}

/// Starts the task that sends one console's replies and returns its queue.
/// The task is not aborted with the connection: replies the agent already
/// sent are delivered even if the console goes away meanwhile.
pub(super) fn spawn_reply_sender(
    service: Arc<StaffService>,
    staff: StaffAccount,
    frames: mpsc::Sender<StaffServerFrame>,
) -> mpsc::Sender<ReplyJob> {
    let (replies, jobs) = mpsc::channel(REPLY_QUEUE);
    tokio::spawn(send_replies(service, staff, jobs, frames));
    replies
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
    pub(super) fn new(
        service: Arc<StaffService>,
        staff: StaffAccount,
        token_hash: String,
        commands: mpsc::Sender<Command>,
        replies: mpsc::Sender<ReplyJob>,
    ) -> Self {
        let config = &service.chat.config.staff;
        let bucket = TokenBucket::new(config.frames_per_second, config.frame_burst);
        Self {
            service,
            staff,
            token_hash,
            commands,
            replies,
            bucket,
            hello: false,
        }
    }

    pub(super) async fn read_loop(&mut self, mut stream: SplitStream<WebSocket>) {
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
        if let ActionOutcome::Refused(Refusal {
            code,
            message,
            owner,
        }) = outcome
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
        if crate::staff::owns(&self.staff, &conversation) {
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
        ReplyOutcome::Refused(Refusal {
            code,
            message,
            owner,
        }) => StaffServerFrame::Refused {
            conversation_id,
            code,
            message,
            owner,
        },
    }
}
