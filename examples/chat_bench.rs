//! Measures a running crossdesk server over its buyer WebSocket.
//!
//! * Extractive round trip: the time from sending a question that the
//!   knowledge base answers as written to receiving the final bot event,
//!   over `--questions` questions spread across `--sessions` sequential
//!   conversations (p50, p90, p99).
//! * Generated replies: for `--generated` questions that need the model, the
//!   time to the first streamed delta and the streaming rate in deltas per
//!   second (one delta per decoded token, except where a token ends inside a
//!   multi-byte character).
//!
//! It talks only to loopback addresses and stops after the given counts.
//! Usage: `cargo run --release --example chat_bench -- ws://127.0.0.1:8080/ws/chat`

#![allow(clippy::print_stdout)]

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::Message;

const EXTRACTIVE: &[&str] = &[
    "What is your minimum order quantity?",
    "¿Cuál es el pedido mínimo?",
    "Can I pay with PayPal?",
    "How much does a sample cost?",
    "What payment terms do you accept?",
    "Wie lange ist die Garantie?",
    "支払い条件を教えてください。",
    "Do you accept factory audits?",
];

/// Pause before each question, which keeps a session under the server's
/// frame rate limit; it is not part of the measured round trip.
const PACING: Duration = Duration::from_millis(250);

const GENERATED: &[&str] = &[
    "What is the beam angle and the IP rating of the KB-FL100 flood light?",
    "What input voltage does the KB-SL60 street light accept?",
    "Which dimming options does the KB-PL6060 panel support?",
];

struct Options {
    url: String,
    questions: usize,
    sessions: usize,
    generated: usize,
}

fn parse_options() -> Options {
    let mut args = std::env::args().skip(1);
    let mut options = Options {
        url: String::new(),
        questions: 200,
        sessions: 10,
        generated: 3,
    };
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{name} needs a number"))
        };
        match arg.as_str() {
            "--questions" => options.questions = value("--questions"),
            "--sessions" => options.sessions = value("--sessions").max(1),
            "--generated" => options.generated = value("--generated"),
            url => options.url = url.to_owned(),
        }
    }
    let host = options
        .url
        .split("://")
        .nth(1)
        .unwrap_or("")
        .split('/')
        .next()
        .unwrap_or("");
    let loopback =
        host.starts_with("127.") || host.starts_with("localhost") || host.starts_with("[::1]");
    assert!(
        loopback,
        "only loopback servers may be measured, got {:?}",
        options.url
    );
    options
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn open(url: &str) -> Socket {
    let (mut socket, _) = connect_async(url)
        .await
        .expect("server accepts the connection");
    let hello = json!({"type": "hello", "token": null, "locale": "en", "resume_from": 0});
    socket
        .send(Message::Text(hello.to_string().into()))
        .await
        .expect("hello sent");
    loop {
        if next_json(&mut socket).await["type"] == "welcome" {
            return socket;
        }
    }
}

async fn next_json(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(600), socket.next())
            .await
            .expect("server answers within 10 minutes")
            .expect("socket open")
            .expect("frame readable");
        if let Message::Text(text) = message {
            return serde_json::from_str(text.as_str()).expect("server sends JSON");
        }
    }
}

/// Sends one question and returns (round trip, first delta, deltas, answer source).
async fn ask(
    socket: &mut Socket,
    id: &str,
    text: &str,
) -> (Duration, Option<Duration>, usize, String) {
    let started = Instant::now();
    let frame = json!({"type": "message", "client_id": id, "text": text});
    socket
        .send(Message::Text(frame.to_string().into()))
        .await
        .expect("message sent");
    let mut first_delta = None;
    let mut deltas = 0;
    loop {
        let frame = next_json(socket).await;
        assert_ne!(
            frame["type"], "error",
            "server rejected the question: {frame}"
        );
        if frame["type"] == "delta" {
            first_delta.get_or_insert_with(|| started.elapsed());
            deltas += 1;
        }
        if frame["type"] == "event" && frame["author"] == "bot" && frame["kind"] == "message" {
            let source = frame["answer_source"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            return (started.elapsed(), first_delta, deltas, source);
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let options = parse_options();
    let mut round_trips = Vec::with_capacity(options.questions);
    let mut not_extractive = 0;
    let per_session = options.questions.div_ceil(options.sessions);
    for session in 0..options.sessions {
        let mut socket = open(&options.url).await;
        for i in 0..per_session.min(options.questions - round_trips.len()) {
            let question = EXTRACTIVE[(session + i) % EXTRACTIVE.len()];
            // Stay under the server's 5 frames per second per connection.
            tokio::time::sleep(PACING).await;
            let id = format!("b{session}-{i}");
            let (elapsed, _, _, source) = ask(&mut socket, &id, question).await;
            if matches!(source.as_str(), "faq" | "translated_faq") {
                round_trips.push(elapsed);
            } else {
                not_extractive += 1;
                println!("{question:?} was answered from {source}; left out of the round trips");
            }
        }
    }
    assert!(
        !round_trips.is_empty(),
        "no question was answered extractively"
    );
    println!("questions answered otherwise: {not_extractive}");
    round_trips.sort();
    println!(
        "extractive round trip over {} questions: p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        round_trips.len(),
        percentile(&round_trips, 0.5),
        percentile(&round_trips, 0.9),
        percentile(&round_trips, 0.99),
        percentile(&round_trips, 1.0),
    );

    let mut socket = open(&options.url).await;
    for (i, question) in GENERATED.iter().cycle().take(options.generated).enumerate() {
        let (total, first, deltas, source) = ask(&mut socket, &format!("g{i}"), question).await;
        let first = first.unwrap_or(total);
        let streaming = (total - first).as_secs_f64();
        let rate = if streaming > 0.0 {
            deltas as f64 / streaming
        } else {
            0.0
        };
        println!(
            "generated reply {i}: source {source}, first delta {:.0} ms, {deltas} deltas in {:.1} s ({rate:.1} deltas/s)",
            first.as_secs_f64() * 1000.0,
            total.as_secs_f64(),
        );
    }
}
