//! The answer pipeline as a buyer sees it.

use serde_json::Value;

use crate::fixture::{ServerOptions, TestServer};

fn text(event: &Value) -> &str {
    event["text"].as_str().unwrap_or_default()
}

fn source_ids(event: &Value) -> Vec<String> {
    event["sources"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|s| s["id"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn spanish_moq_gets_reviewed_answer() {
    let server = TestServer::start().await;
    let (mut buyer, _) = server.connect(None, "es-ES", 0).await;

    let seq = buyer.ask("c1", "¿Cuál es el pedido mínimo?").await;
    let (reply, streamed) = buyer.reply_to(seq).await;

    let snapshot = server.chat.index.snapshot();
    let reviewed = snapshot
        .faq_entry("moq-standard", "es".parse().unwrap())
        .expect("es row");
    assert_eq!(reply["language"], "es");
    assert_eq!(reply["answer_source"], "faq");
    assert_eq!(reply["machine_translated"], false);
    assert_eq!(text(&reply), reviewed.answer);
    assert_eq!(streamed, reviewed.answer, "deltas add up to the final text");
    assert_eq!(source_ids(&reply), ["moq-standard"]);
}

#[tokio::test]
async fn japanese_question_uses_machine_translation() {
    let server = TestServer::start().await;
    let (mut buyer, _) = server.connect(None, "ja-JP", 0).await;

    let reply = buyer
        .ask_and_wait("c1", "屋外用ライトのIP等級は何ですか？")
        .await;

    let snapshot = server.chat.index.snapshot();
    assert!(
        snapshot
            .faq_entry("ip-rating-outdoor", "ja".parse().unwrap())
            .is_none()
    );
    assert_eq!(source_ids(&reply), ["ip-rating-outdoor"], "{reply}");
    assert_eq!(reply["answer_source"], "translated_faq", "{reply}");
    assert_eq!(reply["machine_translated"], true);
    assert_eq!(reply["language"], "ja");
    let japanese = text(&reply)
        .chars()
        .any(|c| ('\u{3040}'..='\u{30ff}').contains(&c));
    assert!(japanese, "reply is in Japanese: {reply}");
}

#[tokio::test]
async fn ok_keeps_spanish() {
    let server = TestServer::start_with(ServerOptions {
        model: false,
        ..Default::default()
    })
    .await;
    let (mut buyer, _) = server.connect(None, "en-US", 0).await;

    let first = buyer
        .ask_and_wait("c1", "¿Cuánto cuesta una muestra?")
        .await;
    assert_eq!(first["language"], "es");
    for (id, message) in [("c2", "ok"), ("c3", "👍"), ("c4", "#A1024")] {
        let reply = buyer.ask_and_wait(id, message).await;
        assert_eq!(reply["language"], "es", "after {message:?}: {reply}");
    }
}

#[tokio::test]
async fn order_status_requires_email() {
    let server = TestServer::start_with(ServerOptions {
        model: false,
        ..Default::default()
    })
    .await;
    let order = server
        .chat
        .store
        .order("A1024")
        .await
        .unwrap()
        .expect("sample order A1024");
    let (mut buyer, _) = server.connect(None, "en", 0).await;

    let asked = buyer.ask_and_wait("c1", "Where is my order A1024?").await;
    assert_eq!(asked["answer_source"], "order");
    assert!(text(&asked).contains("A1024"));
    assert!(
        !text(&asked).contains(&order.status),
        "status revealed early: {asked}"
    );
    assert!(
        !text(&asked).contains(&order.items),
        "items revealed early: {asked}"
    );

    let wrong = buyer
        .ask_and_wait("c2", "my e-mail is someone.else@example.net")
        .await;
    assert!(
        !text(&wrong).contains(&order.items),
        "wrong e-mail revealed the order: {wrong}"
    );
    assert!(source_ids(&wrong).is_empty());

    let right = buyer
        .ask_and_wait("c3", &format!("It is {}", order.email))
        .await;
    assert_eq!(source_ids(&right), ["A1024"], "{right}");
    assert!(text(&right).contains(&order.items), "{right}");
}

#[tokio::test]
async fn order_attempts_are_limited() {
    let server = TestServer::start_with(ServerOptions {
        model: false,
        ..Default::default()
    })
    .await;
    let order = server
        .chat
        .store
        .order("A1024")
        .await
        .unwrap()
        .expect("sample order A1024");
    let (mut buyer, welcome) = server.connect(None, "en", 0).await;
    let token = welcome["token"].as_str().unwrap().to_owned();

    for attempt in 0..5 {
        let guess = format!("Order A1024, e-mail guess{attempt}@example.org");
        let reply = buyer.ask_and_wait(&format!("g{attempt}"), &guess).await;
        assert!(source_ids(&reply).is_empty(), "{reply}");
    }
    let right = buyer
        .ask_and_wait("last", &format!("Order A1024, e-mail {}", order.email))
        .await;
    assert!(
        source_ids(&right).is_empty(),
        "the limit must hold even for the right e-mail"
    );
    let id = server.chat.signer.verify(&token).unwrap();
    let conversation = server.chat.store.conversation(&id).await.unwrap().unwrap();
    assert_eq!(conversation.state.as_str(), "queued", "a person takes over");
    assert!(!text(&right).contains(&order.items));
}

#[tokio::test]
async fn unanswerable_question_gets_honest_reply() {
    let server = TestServer::start().await;
    let (mut buyer, _) = server.connect(None, "en", 0).await;

    let reply = buyer
        .ask_and_wait("c1", "Do you accept Bitcoin or Dogecoin as payment?")
        .await;

    let dont_know = server.chat.texts.phrase("en".parse().unwrap(), "dont_know");
    assert_eq!(reply["answer_source"], "fallback", "{reply}");
    assert_eq!(text(&reply), dont_know);
    assert!(source_ids(&reply).is_empty());
}

#[tokio::test]
async fn default_model_writes_grounded_reply() {
    let server = TestServer::start().await;
    let (mut buyer, welcome) = server.connect(None, "en", 0).await;
    let id = welcome["conversation_id"].as_str().unwrap().to_owned();

    let seq = buyer
        .ask(
            "c1",
            "What is the beam angle and the IP rating of the KB-FL100 flood light?",
        )
        .await;
    let (reply, streamed) = buyer.reply_to(seq).await;

    assert_eq!(reply["answer_source"], "generated", "{reply}");
    assert_eq!(
        streamed.trim(),
        text(&reply),
        "the final text is the streamed text"
    );
    let ids = source_ids(&reply);
    assert!(
        ids.iter().any(|id| id.starts_with("kb-fl100")),
        "cites the product: {ids:?}"
    );
    let passages: String = server
        .chat
        .store
        .passages()
        .await
        .unwrap()
        .into_iter()
        .filter(|p| ids.contains(&p.id))
        .map(|p| p.body)
        .collect();
    let question = "What is the beam angle and the IP rating of the KB-FL100 flood light?";
    let unsupported =
        crossdesk::chat::answer::unsupported_fact(text(&reply), &[&passages, question]);
    assert_eq!(
        unsupported, None,
        "every number is in the cited passages: {reply}"
    );
    let tokens = server
        .query_i64(
            "SELECT COALESCE(MAX(generated_tokens), 0) FROM turns WHERE conversation_id = ?",
            &id,
        )
        .await;
    assert!(tokens > 0, "the turn log records generated tokens");
}

#[tokio::test]
async fn person_request_queues_in_any_language() {
    let server = TestServer::start_with(ServerOptions {
        model: false,
        ..Default::default()
    })
    .await;
    for (locale, message) in [
        ("es", "Quiero hablar con una persona, por favor"),
        ("zh", "转人工"),
        ("ar", "أريد التحدث مع موظف"),
    ] {
        let (mut buyer, welcome) = server.connect(None, locale, 0).await;
        let id = welcome["conversation_id"].as_str().unwrap().to_owned();
        buyer.ask("c1", message).await;
        let state = buyer.next_of_type("event").await;
        let state = if state["kind"] == "state" {
            state
        } else {
            buyer.next_of_type("event").await
        };
        assert_eq!(state["state"], "queued", "{message}: {state}");
        assert_eq!(state["reason"], "buyer_request");
        let conversation = server.chat.store.conversation(&id).await.unwrap().unwrap();
        assert_eq!(conversation.state.as_str(), "queued");
    }
}

#[tokio::test]
async fn angry_message_queues() {
    let server = TestServer::start_with(ServerOptions {
        model: false,
        ..Default::default()
    })
    .await;
    let (mut buyer, _) = server.connect(None, "en", 0).await;
    let reply = buyer
        .ask_and_wait("c1", "This is a scam, your lamps are useless!")
        .await;
    assert_eq!(reply["answer_source"], "escalation");
    let reason: String = sqlx::query_scalar("SELECT reason FROM state_changes ORDER BY id DESC")
        .fetch_one(server.chat.store.pool())
        .await
        .unwrap();
    assert_eq!(reason, "anger");
}

#[tokio::test]
async fn turns_are_logged_with_hits() {
    let server = TestServer::start_with(ServerOptions {
        model: false,
        ..Default::default()
    })
    .await;
    let (mut buyer, welcome) = server.connect(None, "en", 0).await;
    let id = welcome["conversation_id"].as_str().unwrap().to_owned();
    buyer
        .ask_and_wait("c1", "What is your minimum order quantity?")
        .await;

    let row: (String, f64, String, String, i64) = sqlx::query_as(
        "SELECT detected_language, language_confidence, answer_source, hits, latency_ms \
         FROM turns WHERE conversation_id = ?",
    )
    .bind(&id)
    .fetch_one(server.chat.store.pool())
    .await
    .unwrap();
    assert_eq!(row.0, "en");
    assert!(row.1 > 0.5, "confidence {}", row.1);
    assert_eq!(row.2, "faq");
    assert!(row.3.contains("moq-standard"), "hits {}", row.3);
    assert!(row.4 >= 0);
}

#[tokio::test]
async fn disconnect_cancels_generation() {
    let server = TestServer::start().await;
    let (mut buyer, welcome) = server.connect(None, "en", 0).await;
    let id = welcome["conversation_id"].as_str().unwrap().to_owned();

    buyer
        .ask(
            "c1",
            "Which dimming options does the KB-PL6060 panel support?",
        )
        .await;
    let delta = buyer.next_of_type("delta").await;
    assert_eq!(delta["reply_id"], "r-1", "generation started");
    buyer.close().await;

    // A second buyer is served while the first reply would still be running.
    let (mut other, _) = server.connect(None, "en", 0).await;
    let reply = other
        .ask_and_wait(
            "c1",
            "What is the beam angle and the IP rating of the KB-FL100 flood light?",
        )
        .await;
    assert_eq!(reply["answer_source"], "generated", "{reply}");

    let bot_messages = server
        .query_i64(
            "SELECT COUNT(*) FROM events WHERE conversation_id = ? AND author = 'bot'",
            &id,
        )
        .await;
    assert_eq!(bot_messages, 0, "the abandoned reply was never stored");
    let turns = server
        .query_i64("SELECT COUNT(*) FROM turns WHERE conversation_id = ?", &id)
        .await;
    assert_eq!(turns, 0, "the abandoned turn was not logged as answered");
}
