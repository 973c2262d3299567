//! JSON frames of the buyer WebSocket, as documented in `docs/protocol.md`.

use serde::{Deserialize, Serialize};

use crate::language::Language;
use crate::storage::{ConversationState, StoredEvent};

/// A frame from the client.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientFrame {
    Hello {
        #[serde(default)]
        token: Option<String>,
        #[serde(default)]
        locale: Option<String>,
        #[serde(default)]
        resume_from: i64,
    },
    Message {
        client_id: String,
        text: String,
    },
    RequestPerson {
        #[serde(default)]
        client_id: Option<String>,
    },
    Rating {
        seq: i64,
        value: RatingValue,
    },
    Typing {
        active: bool,
    },
    Resume {
        after_seq: i64,
    },
    Ping,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RatingValue {
    Up,
    Down,
}

impl RatingValue {
    pub fn as_str(self) -> &'static str {
        match self {
            RatingValue::Up => "up",
            RatingValue::Down => "down",
        }
    }
}

/// A frame to the client.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    Welcome {
        token: String,
        conversation_id: String,
        resumed: bool,
        state: ConversationState,
        language: Option<Language>,
        last_seq: i64,
    },
    Ack {
        client_id: String,
        seq: i64,
        duplicate: bool,
    },
    Event(Box<StoredEvent>),
    ReplyStart {
        reply_id: String,
        reply_to: i64,
        language: Language,
    },
    Delta {
        reply_id: String,
        text: String,
    },
    /// The reply streaming under `reply_id` was cancelled because a person
    /// took the conversation over; clients remove what they showed of it.
    ReplyDropped {
        reply_id: String,
    },
    Typing {
        author: &'static str,
        active: bool,
    },
    Pong,
    Error {
        code: ErrorCode,
        message: String,
    },
}

/// Machine-readable reason of an `error` frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    InvalidJson,
    BinaryNotSupported,
    FrameTooLarge,
    MessageTooLong,
    EmptyMessage,
    InvalidClientId,
    RateLimited,
    HelloRequired,
    UnknownSeq,
    /// The staff session ended; sign in again.
    Unauthorized,
    Internal,
}

impl ServerFrame {
    pub fn error(code: ErrorCode, message: impl Into<String>) -> Self {
        ServerFrame::Error {
            code,
            message: message.into(),
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("server frames serialize to JSON")
    }
}
