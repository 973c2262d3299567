//! Delivery checks for one buyer connection, from the frames it receives.
//!
//! The buyer protocol promises that every acknowledged message gets exactly
//! one bot reply event whose `reply_to` is the message's `seq`, that each
//! stored event reaches the client once, and that events arrive in `seq`
//! order. [`Connection`] counts every breach of those promises and the
//! latency of each answered question.
//!
//! The `seq` of a question comes from its `ack` or from the buyer event that
//! carries its `client_id`, whichever arrives first: the server sends the two
//! on different paths, and under load an event can overtake its `ack`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

/// The question a session is waiting on.
#[derive(Debug)]
pub struct Pending {
    pub client_id: String,
    pub sent: Instant,
    /// The `seq` from the `ack`, once it arrived.
    pub seq: Option<i64>,
    /// The `reply_id` from `reply_start`, once it arrived.
    pub reply_id: Option<String>,
    /// Time from sending to the first streamed `delta`.
    pub first_delta: Option<Duration>,
}

impl Pending {
    /// Starts the clock for a question sent now with `client_id`.
    pub fn new(client_id: String) -> Self {
        Self {
            client_id,
            sent: Instant::now(),
            seq: None,
            reply_id: None,
            first_delta: None,
        }
    }
}

/// One answered question.
#[derive(Debug, Clone, Serialize)]
pub struct Reply {
    pub question: &'static str,
    /// `answer_source` of the bot event, such as `faq` or `generated`.
    pub source: String,
    /// From sending the message to receiving the final bot event.
    pub latency: Duration,
    pub first_delta: Option<Duration>,
}

/// Everything one connection saw.
#[derive(Debug, Default)]
pub struct Connection {
    pub connect_failed: bool,
    /// The connection closed, or a reply timed out, before the session ended.
    pub disconnected: bool,
    pub sent: usize,
    pub acked: HashSet<i64>,
    /// `ack` frames for a `seq` that was already acknowledged.
    pub duplicate_acks: usize,
    /// `ack` frames that arrived after the event of the same `seq`.
    pub acks_after_event: usize,
    pub replies_per_seq: HashMap<i64, usize>,
    pub seen: HashSet<i64>,
    pub last_seq: i64,
    pub duplicate_events: usize,
    pub order_violations: usize,
    /// `error` frames by code.
    pub errors: BTreeMap<String, usize>,
    pub replies: Vec<Reply>,
}

impl Connection {
    /// Applies one server frame; returns the finished reply when the frame
    /// is the bot's answer to the pending question.
    pub fn on_frame(&mut self, frame: &Value, pending: &mut Option<Pending>) -> Option<Reply> {
        match frame["type"].as_str().unwrap_or_default() {
            "ack" => {
                let seq = frame["seq"].as_i64()?;
                if !self.acked.insert(seq) {
                    self.duplicate_acks += 1;
                }
                if self.seen.contains(&seq) {
                    self.acks_after_event += 1;
                }
                if let Some(p) = pending.as_mut()
                    && frame["client_id"] == p.client_id.as_str()
                {
                    p.seq.get_or_insert(seq);
                }
                None
            }
            "reply_start" => {
                let p = pending.as_mut()?;
                if frame["reply_to"].as_i64() == p.seq {
                    p.reply_id = frame["reply_id"].as_str().map(str::to_owned);
                }
                None
            }
            "delta" => {
                let p = pending.as_mut()?;
                if p.reply_id.is_some() && frame["reply_id"].as_str() == p.reply_id.as_deref() {
                    let elapsed = p.sent.elapsed();
                    p.first_delta.get_or_insert(elapsed);
                }
                None
            }
            "event" => self.on_event(frame, pending),
            "error" => {
                let code = frame["code"].as_str().unwrap_or("unknown").to_owned();
                *self.errors.entry(code).or_default() += 1;
                None
            }
            _ => None,
        }
    }

    fn on_event(&mut self, frame: &Value, pending: &mut Option<Pending>) -> Option<Reply> {
        let seq = frame["seq"].as_i64()?;
        if !self.seen.insert(seq) {
            self.duplicate_events += 1;
            return None;
        }
        if seq <= self.last_seq {
            self.order_violations += 1;
        }
        self.last_seq = self.last_seq.max(seq);

        if frame["author"] == "buyer"
            && let Some(p) = pending.as_mut()
            && frame["client_id"] == p.client_id.as_str()
        {
            p.seq.get_or_insert(seq);
        }
        if frame["author"] != "bot" || frame["kind"] != "message" {
            return None;
        }

        let reply_to = frame["reply_to"].as_i64()?;
        if !self.seen.contains(&reply_to) {
            // A reply arrived before the message it replies to.
            self.order_violations += 1;
        }
        *self.replies_per_seq.entry(reply_to).or_default() += 1;

        if pending.as_ref()?.seq != Some(reply_to) {
            return None;
        }
        let p = pending.take()?;
        Some(Reply {
            question: "",
            source: frame["answer_source"].as_str().unwrap_or("none").to_owned(),
            latency: p.sent.elapsed(),
            first_delta: p.first_delta,
        })
    }

    /// Messages sent but never acknowledged.
    pub fn unacked(&self) -> usize {
        self.sent.saturating_sub(self.acked.len())
    }

    /// Acknowledged messages without a bot reply.
    pub fn lost(&self) -> usize {
        self.acked
            .iter()
            .filter(|seq| !self.replies_per_seq.contains_key(seq))
            .count()
    }

    /// Bot replies beyond the first per message, plus events and acks seen
    /// twice.
    pub fn duplicated(&self) -> usize {
        let extra: usize = self.replies_per_seq.values().map(|n| n - 1).sum();
        extra + self.duplicate_events + self.duplicate_acks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(text: &str) -> Value {
        serde_json::from_str(text).expect("test frame is JSON")
    }

    #[test]
    fn reply_is_matched_and_duplicates_counted() {
        let mut connection = Connection::default();
        let mut pending = Some(Pending::new("m1".to_owned()));
        let ack = frame(r#"{"type":"ack","client_id":"m1","seq":1}"#);
        connection.on_frame(&ack, &mut pending);
        let buyer = frame(r#"{"type":"event","seq":1,"kind":"message","author":"buyer"}"#);
        assert!(connection.on_frame(&buyer, &mut pending).is_none());
        let bot = frame(
            r#"{"type":"event","seq":2,"kind":"message","author":"bot","reply_to":1,
                "answer_source":"faq"}"#,
        );
        let reply = connection
            .on_frame(&bot, &mut pending)
            .expect("reply to seq 1");
        assert_eq!(reply.source, "faq");
        assert_eq!(connection.lost(), 0);
        connection.on_frame(&bot, &mut None);
        assert_eq!(connection.duplicated(), 1);
    }

    #[test]
    fn second_reply_to_one_message_is_a_duplicate() {
        let mut connection = Connection::default();
        for text in [
            r#"{"type":"event","seq":1,"kind":"message","author":"buyer"}"#,
            r#"{"type":"event","seq":2,"kind":"message","author":"bot","reply_to":1}"#,
            r#"{"type":"event","seq":3,"kind":"message","author":"bot","reply_to":1}"#,
        ] {
            connection.on_frame(&frame(text), &mut None);
        }
        assert_eq!(connection.duplicated(), 1);
        assert_eq!(connection.order_violations, 0);
    }

    #[test]
    fn reply_before_ack_still_matches() {
        let mut connection = Connection::default();
        let mut pending = Some(Pending::new("m1".to_owned()));
        connection.sent = 1;
        let buyer = r#"{"type":"event","seq":1,"kind":"message","author":"buyer",
                        "client_id":"m1"}"#;
        let bot = r#"{"type":"event","seq":2,"kind":"message","author":"bot","reply_to":1}"#;
        let ack = r#"{"type":"ack","client_id":"m1","seq":1}"#;
        connection.on_frame(&frame(buyer), &mut pending);
        let reply = connection.on_frame(&frame(bot), &mut pending);
        connection.on_frame(&frame(ack), &mut pending);
        assert!(reply.is_some());
        assert_eq!(connection.acks_after_event, 1);
        assert_eq!(connection.lost(), 0);
        assert_eq!(connection.unacked(), 0);
    }

    #[test]
    fn unanswered_ack_is_lost() {
        let mut connection = Connection::default();
        connection.acked.insert(5);
        assert_eq!(connection.lost(), 1);
    }

    #[test]
    fn falling_seq_is_out_of_order() {
        let mut connection = Connection::default();
        for seq in [7, 6] {
            let text =
                format!(r#"{{"type":"event","seq":{seq},"kind":"state","author":"system"}}"#);
            connection.on_frame(&frame(&text), &mut None);
        }
        assert_eq!(connection.order_violations, 1);
    }

    #[test]
    fn reply_before_its_message_is_out_of_order() {
        let mut connection = Connection::default();
        let bot = r#"{"type":"event","seq":2,"kind":"message","author":"bot","reply_to":1}"#;
        connection.on_frame(&frame(bot), &mut None);
        assert_eq!(connection.order_violations, 1);
    }
}
