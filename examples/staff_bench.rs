//! Measures the time from a staff reply to the buyer's socket on a running
//! crossdesk server.
//!
//! * Same language: an English agent replies to an English buyer `--replies`
//!   times. Each reply is timed from sending the `reply` frame on the staff
//!   socket to receiving the stored event on the buyer socket.
//! * Translated: a Chinese agent replies to a Spanish buyer with
//!   `--translated` distinct sentences (distinct, so none is served from the
//!   translation cache), timed the same way; replies whose translation fails
//!   its check come back as `review` and are counted, not timed.
//!
//! The accounts `bench.en` (English) and `bench.zh` (Chinese) must exist
//! with the password given by `--password`; `scripts/bench-staff` creates
//! them. Talks only to the loopback address it is given.
//! Usage: `cargo run --release --example staff_bench -- http://127.0.0.1:8080 --password P`

#![allow(clippy::print_stdout)]

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Pause between replies, under the staff socket's frame rate limit.
const PACING: Duration = Duration::from_millis(150);
const WAIT: Duration = Duration::from_secs(300);

const CHINESE_REPLIES: &[&str] = &[
    "您好，样品会在3天内发货。",
    "这款灯的保修期是5年。",
    "最小起订量是200个。",
    "我们接受PayPal和银行转账。",
    "订单A1024已经发货了。",
    "如果产品损坏，我们会免费更换。",
    "KB-FL100的防护等级是IP66。",
    "我们的工厂可以接受第三方验厂。",
    "运费取决于目的地和重量。",
    "样品费可以在大货订单中抵扣。",
    "交货期一般是15到20天。",
    "我们不提供货到付款。",
];

struct Options {
    base: String,
    password: String,
    replies: usize,
    translated: usize,
}

fn parse_options() -> Options {
    let mut args = std::env::args().skip(1);
    let mut options = Options {
        base: String::new(),
        password: String::new(),
        replies: 50,
        translated: 8,
    };
    while let Some(arg) = args.next() {
        let mut value = || args.next().expect("option needs a value");
        match arg.as_str() {
            "--password" => options.password = value(),
            "--replies" => options.replies = value().parse().expect("--replies is a count"),
            "--translated" => {
                options.translated = value().parse().expect("--translated is a count")
            }
            other => options.base = other.trim_end_matches('/').to_owned(),
        }
    }
    assert!(
        options.base.starts_with("http://127.0.0.1")
            || options.base.starts_with("http://localhost"),
        "give the server's loopback base URL, such as http://127.0.0.1:8080"
    );
    options.translated = options.translated.min(CHINESE_REPLIES.len());
    options
}

#[tokio::main]
async fn main() {
    let options = parse_options();
    let host = options.base.trim_start_matches("http://").to_owned();

    let english = sign_in(&host, "bench.en", &options.password).await;
    let (mut buyer, id) = queued_buyer(&host, "en").await;
    let mut agent = staff_socket(&host, &english).await;
    send(&mut agent, json!({"type": "take", "conversation_id": id})).await;
    next_matching(&mut buyer, |f| {
        f["type"] == "event" && f["state"] == "staff"
    })
    .await;
    let mut same = Vec::new();
    for index in 0..options.replies {
        let text = format!("Reply number {index} from the bench.");
        let started = Instant::now();
        let reply = json!({"type": "reply", "conversation_id": id, "client_id": format!("s{index}"), "text": text});
        send(&mut agent, reply).await;
        next_matching(&mut buyer, |f| {
            f["type"] == "event" && f["text"] == text.as_str()
        })
        .await;
        same.push(started.elapsed());
        tokio::time::sleep(PACING).await;
    }
    report("same language (en to en)", &mut same);

    let chinese = sign_in(&host, "bench.zh", &options.password).await;
    let (mut buyer, id) = queued_buyer(&host, "es").await;
    let mut agent = staff_socket(&host, &chinese).await;
    send(&mut agent, json!({"type": "take", "conversation_id": id})).await;
    next_matching(&mut buyer, |f| {
        f["type"] == "event" && f["state"] == "staff"
    })
    .await;
    let mut translated = Vec::new();
    let mut reviews = Vec::new();
    for (index, text) in CHINESE_REPLIES.iter().take(options.translated).enumerate() {
        let client_id = format!("t{index}");
        let started = Instant::now();
        let reply =
            json!({"type": "reply", "conversation_id": id, "client_id": client_id, "text": text});
        send(&mut agent, reply).await;
        let outcome = next_matching(&mut agent, |f| {
            (f["type"] == "reply_ack" || f["type"] == "review")
                && f["client_id"] == client_id.as_str()
        })
        .await;
        if outcome["type"] == "review" {
            reviews.push(format!(
                "{text} -> {} ({})",
                outcome["translation"], outcome["failure"]
            ));
            continue;
        }
        let seq = outcome["seq"].clone();
        next_matching(&mut buyer, |f| f["type"] == "event" && f["seq"] == seq).await;
        translated.push(started.elapsed());
        println!("  {text} -> {}", outcome["text"]);
    }
    report("translated (zh to es)", &mut translated);
    println!("translations held for review: {}", reviews.len());
    for review in reviews {
        println!("  {review}");
    }
}

fn report(label: &str, samples: &mut [Duration]) {
    if samples.is_empty() {
        println!("{label}: no samples");
        return;
    }
    samples.sort();
    let pick = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    println!(
        "{label}: n={} p50={:.1} ms p90={:.1} ms max={:.1} ms",
        samples.len(),
        ms(pick(0.5)),
        ms(pick(0.9)),
        ms(samples[samples.len() - 1])
    );
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

async fn sign_in(host: &str, name: &str, password: &str) -> String {
    let body = json!({"name": name, "password": password}).to_string();
    let request = format!(
        "POST /api/staff/sign-in HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut stream = TcpStream::connect(host).await.expect("server reachable");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("request sent");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .await
        .expect("response read");
    assert!(
        response.starts_with("HTTP/1.1 200"),
        "sign-in of {name} failed: {response}"
    );
    response
        .lines()
        .find_map(|line| line.strip_prefix("set-cookie: "))
        .and_then(|cookie| cookie.split(';').next())
        .expect("sign-in sets a cookie")
        .to_owned()
}

async fn staff_socket(host: &str, cookie: &str) -> Socket {
    let mut request = format!("ws://{host}/ws/staff")
        .into_client_request()
        .expect("valid URL");
    request
        .headers_mut()
        .insert("cookie", cookie.parse().expect("valid cookie"));
    let (mut socket, _) = connect_async(request).await.expect("staff socket opens");
    send(&mut socket, json!({"type": "hello", "cursors": []})).await;
    next_matching(&mut socket, |f| f["type"] == "welcome").await;
    socket
}

async fn queued_buyer(host: &str, locale: &str) -> (Socket, String) {
    let (mut socket, _) = connect_async(format!("ws://{host}/ws/chat"))
        .await
        .expect("buyer socket opens");
    let hello = json!({"type": "hello", "token": null, "locale": locale, "resume_from": 0});
    send(&mut socket, hello).await;
    let welcome = next_matching(&mut socket, |f| f["type"] == "welcome").await;
    send(&mut socket, json!({"type": "request_person"})).await;
    next_matching(&mut socket, |f| {
        f["type"] == "event" && f["state"] == "queued"
    })
    .await;
    let id = welcome["conversation_id"].as_str().expect("id").to_owned();
    (socket, id)
}

async fn send(socket: &mut Socket, frame: Value) {
    socket
        .send(Message::Text(frame.to_string().into()))
        .await
        .expect("frame sent");
}

async fn next_matching(socket: &mut Socket, predicate: impl Fn(&Value) -> bool) -> Value {
    loop {
        let message = tokio::time::timeout(WAIT, socket.next())
            .await
            .expect("a frame arrives in time")
            .expect("socket open")
            .expect("frame readable");
        if let Message::Text(text) = message {
            let frame: Value = serde_json::from_str(&text).expect("frames are JSON");
            if predicate(&frame) {
                return frame;
            }
        }
    }
}
