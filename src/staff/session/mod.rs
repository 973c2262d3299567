//! One staff console connection.
//!
//! A reader validates frames and carries out the agent's actions. A writer,
//! the only task that writes to the socket, sends the welcome, transcript
//! pages and replays. It also forwards the staff feed, filtered to what this
//! console follows. The writer keeps a cursor (last event `seq`, last note
//! id) per followed conversation: an event after a gap, or a lagging feed,
//! is filled from the store, so the console never misses or repeats one.

mod reader;
mod writer;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::WebSocket;
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tracing::{debug, info};

use super::StaffService;
use super::protocol::{Cursor, StaffServerFrame};
use crate::storage::{Note, StaffAccount};
use reader::{Reader, spawn_reply_sender};
use writer::Writer;

/// Commands and frames queued for the writer.
const WRITER_QUEUE: usize = 256;
/// Events per transcript page when an `open` frame gives no limit.
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
    /// A note this console wrote. It is sent back even when the conversation
    /// is not followed, as the author's confirmation that it was stored.
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
    let writer = Writer::new(
        service.clone(),
        staff.clone(),
        token_hash.clone(),
        sink,
        frames.clone(),
    );
    let mut writer = tokio::spawn(writer.run(commands_rx, frames_rx, feed));
    let replies = spawn_reply_sender(service.clone(), staff.clone(), frames);
    let mut reader = Reader::new(service, staff.clone(), token_hash, commands, replies);
    let reader_ended = tokio::select! {
        _ = reader.read_loop(stream) => true,
        _ = &mut writer => false,
    };
    drop(reader);
    if reader_ended {
        // The writer sends what the reader queued last (such as the reason
        // a session ended) and a close frame once the commands run out.
        let _ = tokio::time::timeout(CLOSE_GRACE, &mut writer).await;
    }
    writer.abort();
    debug!(staff_id = %staff.id, "staff console closed");
}
