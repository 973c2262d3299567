//! The buyer protocol: sessions, resume, idempotent messages, bad frames,
//! health.

use std::time::Duration;

use serde_json::json;

use crate::fixture::{ServerOptions, TestServer};

fn no_model() -> ServerOptions {
    ServerOptions {
        model: false,
        ..Default::default()
    }
}

#[tokio::test]
async fn resume_replays_exactly_missed_events() {
    let server = TestServer::start_with(no_model()).await;
    let (mut buyer, welcome) = server.connect(None, "en", 0).await;
    let token = welcome["token"].as_str().unwrap().to_owned();
    buyer
        .ask_and_wait("c1", "What is your minimum order quantity?")
        .await;
    let seen = welcome_last_seq(&server, &token).await;
    buyer.close().await;

    // While the buyer is away, a second tab of the same conversation talks.
    let (mut other, _) = server.connect(Some(&token), "en", seen).await;
    other
        .ask_and_wait("c2", "How much does a sample cost?")
        .await;
    other
        .ask_and_wait("c3", "What payment terms do you accept?")
        .await;
    other.close().await;
    let total = welcome_last_seq(&server, &token).await;
    assert!(
        total >= seen + 4,
        "two questions and two answers were stored"
    );

    let (mut back, welcome) = server.connect(Some(&token), "en", seen).await;
    assert_eq!(welcome["resumed"], true);
    assert_eq!(welcome["last_seq"], total);
    let mut replayed = Vec::new();
    while let Some(frame) = back.try_next_frame(Duration::from_millis(800)).await {
        if frame["type"] == "event" {
            replayed.push(frame["seq"].as_i64().unwrap());
        }
    }
    let expected: Vec<i64> = (seen + 1..=total).collect();
    assert_eq!(replayed, expected, "each missed event once, in order");
}

async fn welcome_last_seq(server: &TestServer, token: &str) -> i64 {
    let id = server.chat.signer.verify(token).expect("valid token");
    server
        .chat
        .store
        .conversation(&id)
        .await
        .unwrap()
        .unwrap()
        .last_seq
}

#[tokio::test]
async fn resent_client_id_is_a_no_op() {
    let server = TestServer::start_with(no_model()).await;
    let (mut buyer, _) = server.connect(None, "en", 0).await;
    let seq = buyer.ask("same", "How much does a sample cost?").await;
    buyer.reply_to(seq).await;

    buyer
        .send_json(
            json!({"type": "message", "client_id": "same", "text": "How much does a sample cost?"}),
        )
        .await;
    let ack = buyer.next_of_type("ack").await;
    assert_eq!(ack["seq"], seq);
    assert_eq!(ack["duplicate"], true);
    let extra = buyer.try_next_frame(Duration::from_millis(800)).await;
    assert!(extra.is_none(), "nothing answered twice: {extra:?}");
}

#[tokio::test]
async fn bad_frames_get_errors_and_session_continues() {
    let server = TestServer::start_with(no_model()).await;
    let (mut buyer, welcome) = server.connect(None, "en", 0).await;
    let id = welcome["conversation_id"].as_str().unwrap().to_owned();
    let seq = buyer
        .ask("c1", "What is your minimum order quantity?")
        .await;
    buyer.reply_to(seq).await;

    buyer.send_text("{not json".into()).await;
    assert_eq!(buyer.next_of_type("error").await["code"], "invalid_json");
    buyer
        .send_json(json!({"type": "shout", "text": "hi"}))
        .await;
    assert_eq!(buyer.next_of_type("error").await["code"], "invalid_json");
    buyer.send_binary(vec![0, 159, 146, 150]).await;
    assert_eq!(
        buyer.next_of_type("error").await["code"],
        "binary_not_supported"
    );
    let oversized = json!({"type": "message", "client_id": "big", "text": "a".repeat(20_000)});
    buyer.send_json(oversized).await;
    let error = buyer.next_of_type("error").await;
    assert_eq!(error["code"], "frame_too_large");
    assert!(
        error["message"].as_str().unwrap().contains("16384"),
        "{error}"
    );
    buyer
        .send_json(json!({"type": "message", "client_id": "", "text": "hi"}))
        .await;
    assert_eq!(
        buyer.next_of_type("error").await["code"],
        "invalid_client_id"
    );
    buyer
        .send_json(json!({"type": "message", "client_id": "e", "text": "   "}))
        .await;
    assert_eq!(buyer.next_of_type("error").await["code"], "empty_message");
    buyer
        .send_json(json!({"type": "rating", "seq": 999, "value": "up"}))
        .await;
    assert_eq!(buyer.next_of_type("error").await["code"], "unknown_seq");

    tokio::time::sleep(Duration::from_secs(3)).await;
    let reply = buyer
        .ask_and_wait("c2", "How much does a sample cost?")
        .await;
    assert_eq!(reply["author"], "bot", "the session still works");
    let stored = server
        .query_i64(
            "SELECT COUNT(*) FROM events WHERE conversation_id = ? AND author = 'buyer'",
            &id,
        )
        .await;
    assert_eq!(stored, 2, "bad frames stored nothing and lost nothing");
}

#[tokio::test]
async fn frame_flood_is_rate_limited() {
    let server = TestServer::start_with(no_model()).await;
    let (mut buyer, _) = server.connect(None, "en", 0).await;
    for _ in 0..30 {
        buyer.send_json(json!({"type": "ping"})).await;
    }
    let mut limited = 0;
    let mut pongs = 0;
    while let Some(frame) = buyer.try_next_frame(Duration::from_millis(500)).await {
        match frame["type"].as_str() {
            Some("error") if frame["code"] == "rate_limited" => limited += 1,
            Some("pong") => pongs += 1,
            _ => {}
        }
    }
    assert!(limited > 0, "some frames were limited");
    assert!(pongs >= 8, "the burst was served: {pongs}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    buyer.send_json(json!({"type": "ping"})).await;
    assert_eq!(
        buyer.next_frame().await["type"],
        "pong",
        "the connection survived"
    );
}

#[tokio::test]
async fn frames_before_hello_are_rejected() {
    let server = TestServer::start_with(no_model()).await;
    let (socket, _) = tokio_tungstenite::connect_async(server.ws_url())
        .await
        .unwrap();
    let mut client = crate::fixture::Client::from_socket(socket);
    client
        .send_json(json!({"type": "message", "client_id": "x", "text": "hi"}))
        .await;
    assert_eq!(client.next_of_type("error").await["code"], "hello_required");
}

#[tokio::test]
async fn forged_token_starts_new_conversation() {
    let server = TestServer::start_with(no_model()).await;
    let (_, first) = server.connect(None, "en", 0).await;
    let id = first["conversation_id"].as_str().unwrap();
    let forged = format!("{id}.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    let (_, second) = server.connect(Some(&forged), "en", 0).await;
    assert_eq!(second["resumed"], false);
    assert_ne!(second["conversation_id"], first["conversation_id"]);
}

#[tokio::test]
async fn rating_is_stored() {
    let server = TestServer::start_with(no_model()).await;
    let (mut buyer, welcome) = server.connect(None, "en", 0).await;
    let id = welcome["conversation_id"].as_str().unwrap().to_owned();
    let reply = buyer
        .ask_and_wait("c1", "What is your minimum order quantity?")
        .await;
    buyer
        .send_json(json!({"type": "rating", "seq": reply["seq"], "value": "down"}))
        .await;
    let event = buyer.next_of_type("event").await;
    assert_eq!(event["kind"], "rating");
    let stored = server
        .query_i64(
            "SELECT COUNT(*) FROM ratings WHERE conversation_id = ? AND value = 'down'",
            &id,
        )
        .await;
    assert_eq!(stored, 1);
}

#[tokio::test]
async fn health_reports_generation_off_without_model() {
    let server = TestServer::start_with(no_model()).await;
    let url = format!("http://{}/health", server.address);
    let body = http_get(&url).await;
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["generation"], "off");
    assert_eq!(health["model"]["loaded"], false);
    assert_eq!(health["store"]["ok"], true);
    assert!(health["store"]["faq_entries"].as_i64().unwrap() >= 60);
    assert!(health["index"]["passages"].as_i64().unwrap() >= 10);
}

/// A minimal HTTP/1.1 GET over a raw socket, to avoid an HTTP client crate.
async fn http_get(url: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_once('/').unwrap();
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    let request = format!("GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let (_, body) = response.split_once("\r\n\r\n").unwrap();
    body.to_owned()
}

#[tokio::test]
async fn resume_at_last_seq_sends_only_new_events() {
    let server = TestServer::start_with(no_model()).await;
    let (mut buyer, welcome) = server.connect(None, "en", 0).await;
    let token = welcome["token"].as_str().unwrap().to_owned();
    buyer
        .ask_and_wait("c1", "What is your minimum order quantity?")
        .await;
    buyer.close().await;
    let seen = welcome_last_seq(&server, &token).await;

    let (mut back, _) = server.connect(Some(&token), "en", seen).await;
    let message =
        json!({"type": "message", "client_id": "c2", "text": "How much does a sample cost?"});
    back.send_json(message).await;
    let mut seqs = Vec::new();
    while let Some(frame) = back.try_next_frame(Duration::from_millis(1500)).await {
        if frame["type"] == "event" {
            seqs.push(frame["seq"].as_i64().unwrap());
        }
    }
    let total = welcome_last_seq(&server, &token).await;
    assert!(total > seen, "new events were stored");
    assert_eq!(
        seqs,
        (seen + 1..=total).collect::<Vec<_>>(),
        "each new event once"
    );
    assert!(
        seqs.iter().all(|&seq| seq > seen),
        "no event at or before the resume point was sent again: {seqs:?}"
    );
}
