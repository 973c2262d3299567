//! JSON frames of the staff WebSocket, as documented in `docs/staff.md`.

use serde::{Deserialize, Serialize};

use crate::chat::protocol::ServerFrame;
use crate::language::Language;
use crate::storage::{Note, QueueItem, StaffAccount, StoredEvent};

/// A conversation the console already shows, and what it has of it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cursor {
    pub conversation_id: String,
    #[serde(default)]
    pub after_seq: i64,
    #[serde(default)]
    pub after_note: i64,
}

/// A frame from the console.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum StaffClientFrame {
    Hello {
        #[serde(default)]
        cursors: Vec<Cursor>,
    },
    Open {
        conversation_id: String,
        #[serde(default)]
        before_seq: Option<i64>,
        #[serde(default)]
        limit: Option<i64>,
    },
    Close {
        conversation_id: String,
    },
    Take {
        conversation_id: String,
    },
    Reply {
        conversation_id: String,
        client_id: String,
        text: String,
        #[serde(default)]
        translation: Option<String>,
    },
    Note {
        conversation_id: String,
        client_id: String,
        text: String,
    },
    HandBack {
        conversation_id: String,
    },
    Resolve {
        conversation_id: String,
    },
    Typing {
        conversation_id: String,
        active: bool,
    },
    Ping,
}

impl StaffClientFrame {
    /// Returns the conversation the frame is about, if any.
    pub fn conversation_id(&self) -> Option<&str> {
        match self {
            StaffClientFrame::Hello { .. } | StaffClientFrame::Ping => None,
            StaffClientFrame::Open {
                conversation_id, ..
            }
            | StaffClientFrame::Close { conversation_id }
            | StaffClientFrame::Take { conversation_id }
            | StaffClientFrame::Reply {
                conversation_id, ..
            }
            | StaffClientFrame::Note {
                conversation_id, ..
            }
            | StaffClientFrame::HandBack { conversation_id }
            | StaffClientFrame::Resolve { conversation_id }
            | StaffClientFrame::Typing {
                conversation_id, ..
            } => Some(conversation_id),
        }
    }
}

/// Reason a console request was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RefusedCode {
    /// Another agent owns the conversation.
    Owned,
    /// The agent owns as many chats as they may.
    LimitReached,
    /// The request does not apply in the conversation's state.
    NotAllowed,
    /// No conversation has this id.
    NotFound,
}

/// A frame to the console.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StaffServerFrame {
    Welcome {
        staff: StaffAccount,
        queue: Vec<QueueItem>,
        owned: Vec<QueueItem>,
    },
    QueueItem {
        item: QueueItem,
    },
    QueueRemove {
        conversation_id: String,
    },
    Notify {
        conversation_id: String,
        item: QueueItem,
    },
    Owned {
        items: Vec<QueueItem>,
    },
    Transcript {
        conversation_id: String,
        item: QueueItem,
        events: Vec<StoredEvent>,
        notes: Vec<Note>,
        has_more: bool,
    },
    Event {
        conversation_id: String,
        event: Box<StoredEvent>,
    },
    /// A buyer-socket frame (`reply_start`, `delta`, `reply_dropped`,
    /// `typing`) with the conversation it belongs to; written by
    /// [`StaffServerFrame::to_json`] as the buyer frame plus `conversation_id`.
    #[serde(skip)]
    Live {
        conversation_id: String,
        frame: ServerFrame,
    },
    Translation {
        conversation_id: String,
        seq: i64,
        language: Language,
        text: Option<String>,
        error: Option<String>,
        check_failure: Option<String>,
    },
    Note {
        conversation_id: String,
        note: Note,
    },
    ReplyAck {
        conversation_id: String,
        client_id: String,
        /// A reply with this client id was stored before; `seq` and `text`
        /// are that reply's.
        duplicate: bool,
        seq: i64,
        text: String,
        language: Language,
        original: String,
        /// The buyer received a translation of `original`.
        translated: bool,
        /// The translation is the model's, unchanged by the agent.
        machine_translated: bool,
        check_failure: Option<String>,
    },
    Review {
        conversation_id: String,
        client_id: String,
        original: String,
        translation: Option<String>,
        language: Language,
        failure: String,
    },
    Refused {
        conversation_id: String,
        code: RefusedCode,
        message: String,
        owner: Option<String>,
    },
    Error {
        code: crate::chat::protocol::ErrorCode,
        message: String,
    },
    Pong,
}

impl StaffServerFrame {
    pub fn to_json(&self) -> String {
        if let StaffServerFrame::Live {
            conversation_id,
            frame,
        } = self
        {
            let mut value = serde_json::to_value(frame).expect("server frames serialize to JSON");
            value["conversation_id"] = conversation_id.as_str().into();
            return value.to_string();
        }
        serde_json::to_string(self).expect("staff frames serialize to JSON")
    }
}
