//! The staff side against the real server: sign-in, takeovers racing each
//! other and the bot, replies translated for the buyer, reconnects, and the
//! notice that names the agent who joined.

use std::time::Duration;

use crossdesk::language::Language;
use crossdesk::language::detector::{Detector, Prior};
use crossdesk::storage::StaffRole;
use serde_json::{Value, json};

use crate::fixture::{Client, STAFF_PASSWORD, ServerOptions, TestServer};

/// Opens a buyer conversation, writes `text` and requests a person. Returns
/// the buyer socket and the conversation id once the chat is queued.
async fn queued_buyer(server: &TestServer, locale: &str, text: &str) -> (Client, String) {
    let (mut buyer, welcome) = server.connect(None, locale, 0).await;
    let id = welcome["conversation_id"].as_str().unwrap().to_owned();
    buyer
        .send_json(json!({"type": "message", "client_id": "q1", "text": text}))
        .await;
    buyer.next_matching(|f| f["type"] == "ack").await;
    buyer.send_json(json!({"type": "request_person"})).await;
    buyer
        .next_matching(|f| f["type"] == "event" && f["state"] == "queued")
        .await;
    (buyer, id)
}

fn is_state(frame: &Value, state: &str) -> bool {
    frame["type"] == "event" && frame["kind"] == "state" && frame["state"] == state
}

fn staff_event<'a>(frame: &'a Value, conversation_id: &str) -> Option<&'a Value> {
    (frame["type"] == "event" && frame["conversation_id"] == conversation_id)
        .then(|| &frame["event"])
}

#[tokio::test]
async fn takeover_during_generation_drops_reply() {
    let server = TestServer::start().await;
    let (mut agent, _) = server.agent("li.wei", "Li Wei", Language::English, 5).await;
    let (mut buyer, welcome) = server.connect(None, "en", 0).await;
    let id = welcome["conversation_id"].as_str().unwrap().to_owned();

    let seq = buyer
        .ask(
            "c1",
            "Which dimming options does the KB-PL6060 panel support?",
        )
        .await;
    let delta = buyer.next_of_type("delta").await;
    assert_eq!(delta["reply_id"], format!("r-{seq}"), "generation started");

    agent
        .send_json(json!({"type": "take", "conversation_id": id}))
        .await;
    let mut after_takeover = Vec::new();
    loop {
        let frame = buyer.next_frame().await;
        let dropped = frame["type"] == "reply_dropped";
        after_takeover.push(frame);
        if dropped {
            break;
        }
    }
    let joined = after_takeover
        .iter()
        .position(|f| is_state(f, "staff"))
        .expect("the buyer is told a person joined");
    assert_eq!(
        after_takeover[joined]["text"],
        "Li Wei from our team has joined the conversation."
    );
    let late_deltas = after_takeover[joined..]
        .iter()
        .filter(|f| f["type"] == "delta")
        .count();
    assert_eq!(late_deltas, 0, "no bot text after the takeover");

    // Nothing from the bot arrives later either.
    let later = buyer.try_next_frame(Duration::from_secs(3)).await;
    assert!(later.is_none(), "unexpected frame {later:?}");
    let bot_messages = server
        .query_i64(
            "SELECT COUNT(*) FROM events WHERE conversation_id = ? AND author = 'bot'",
            &id,
        )
        .await;
    assert_eq!(bot_messages, 0);
    let dropped_turns = server
        .query_i64(
            "SELECT COUNT(*) FROM turns WHERE conversation_id = ? AND answer_source = 'dropped'",
            &id,
        )
        .await;
    assert_eq!(dropped_turns, 1, "the dropped reply is logged");
}

#[tokio::test]
async fn simultaneous_takeovers_have_one_owner() {
    let server = TestServer::without_model().await;
    let (mut first, _) = server.agent("ana", "Ana", Language::English, 50).await;
    let (mut second, _) = server.agent("bo", "Bo", Language::English, 50).await;

    for round in 0..10 {
        let (_buyer, id) = queued_buyer(&server, "en", "Hello").await;
        // Both consoles show the chat, as an agent does before taking it.
        for agent in [&mut first, &mut second] {
            agent
                .send_json(json!({"type": "open", "conversation_id": id}))
                .await;
            agent.next_of_type("transcript").await;
        }
        let take = json!({"type": "take", "conversation_id": id});
        tokio::join!(first.send_json(take.clone()), second.send_json(take));

        // Each console receives the winner's state event. The loser also gets
        // `refused`, before or after it.
        let mut refusals = Vec::new();
        let mut owners = Vec::new();
        for agent in [&mut first, &mut second] {
            let mut frames = Vec::new();
            loop {
                let frame = agent.next_frame().await;
                let taken = staff_event(&frame, &id).is_some_and(|e| e["state"] == "staff");
                frames.push(frame);
                if taken {
                    break;
                }
            }
            while let Some(frame) = agent.try_next_frame(Duration::from_millis(300)).await {
                frames.push(frame);
            }
            for frame in frames {
                if frame["type"] == "refused" && frame["conversation_id"] == id {
                    refusals.push(frame);
                } else if let Some(event) = staff_event(&frame, &id)
                    && event["state"] == "staff"
                {
                    owners.push(event["author_name"].clone());
                }
            }
        }
        assert_eq!(
            refusals.len(),
            1,
            "round {round}: exactly one take is refused"
        );
        assert_eq!(refusals[0]["code"], "owned");
        assert_eq!(
            owners[0], owners[1],
            "round {round}: both see the same owner"
        );
        assert_eq!(
            refusals[0]["owner"], owners[0],
            "the loser is told who has it"
        );
        let staff_changes = server
            .query_i64(
                "SELECT COUNT(*) FROM state_changes WHERE conversation_id = ? AND to_state = 'staff'",
                &id,
            )
            .await;
        assert_eq!(staff_changes, 1, "round {round}: one ownership change");
    }
}

#[tokio::test]
async fn chinese_reply_reaches_spanish_buyer() {
    let server = TestServer::start().await;
    server
        .add_staff("ana", "Ana", StaffRole::Admin, Language::English, 5)
        .await;
    let admin = server.sign_in("ana").await;
    let term = json!({"term": "Kestrel Bay", "note": "brand"});
    let (status, _, body) = server
        .http("POST", "/api/glossary", Some(&admin), Some(term))
        .await;
    assert_eq!(status, 201, "{body}");

    let (mut buyer, id) = queued_buyer(
        &server,
        "es",
        "Hola, quiero hablar con una persona sobre muestras.",
    )
    .await;
    let (mut agent, _) = server.agent("li.wei", "李伟", Language::Chinese, 5).await;
    agent
        .send_json(json!({"type": "open", "conversation_id": id}))
        .await;
    agent.next_of_type("transcript").await;
    let original = "您好！Kestrel Bay 的样品会在3天内发货。";
    agent
        .send_json(json!({
            "type": "reply", "conversation_id": id, "client_id": "s1", "text": original,
        }))
        .await;
    let result = agent
        .next_matching(|f| f["type"] == "reply_ack" || f["type"] == "review")
        .await;
    assert_eq!(
        result["type"], "reply_ack",
        "translation passed its check: {result}"
    );
    assert_eq!(result["original"], original);

    let reply = buyer
        .next_matching(|f| f["type"] == "event" && f["author"] == "staff")
        .await;
    let text = reply["text"].as_str().unwrap();
    assert!(text.contains("Kestrel Bay"), "glossary term kept: {text}");
    assert!(text.contains('3'), "number kept: {text}");
    assert_eq!(reply["language"], "es");
    assert_eq!(reply["machine_translated"], true);
    assert_eq!(reply["author_name"], "李伟");
    assert!(
        reply.get("original_text").is_none(),
        "the agent's text stays internal"
    );
    let detector = Detector::new();
    let detected = detector.detect(text, Prior::default()).language;
    assert_eq!(
        detected,
        Some(Language::Spanish),
        "the buyer reads Spanish: {text}"
    );

    // The agent gets what the buyer read, translated back into Chinese.
    let back = agent
        .next_matching(|f| f["type"] == "translation" && f["seq"] == reply["seq"])
        .await;
    assert_eq!(back["language"], "zh", "{back}");
    assert!(
        back["text"].as_str().is_some_and(|t| !t.is_empty()),
        "{back}"
    );
}

#[tokio::test]
async fn reconnect_receives_colleague_reply() {
    let server = TestServer::without_model().await;
    let (_buyer, id) = queued_buyer(&server, "en", "I need help with a quote").await;
    let (mut owner, _) = server.agent("bo", "Bo", Language::English, 5).await;
    let (mut watcher, watcher_cookie) = server.agent("ana", "Ana", Language::English, 5).await;

    watcher
        .send_json(json!({"type": "open", "conversation_id": id}))
        .await;
    let transcript = watcher.next_of_type("transcript").await;
    let mut last_seq = transcript["events"].as_array().unwrap().last().unwrap()["seq"]
        .as_i64()
        .unwrap();

    owner
        .send_json(json!({"type": "reply", "conversation_id": id, "client_id": "a", "text": "First answer"}))
        .await;
    owner.next_of_type("reply_ack").await;
    let first = watcher
        .next_matching(|f| staff_event(f, &id).is_some_and(|e| e["text"] == "First answer"))
        .await;
    // The takeover's state event came between the transcript and this reply.
    last_seq = last_seq.max(first["event"]["seq"].as_i64().unwrap());
    watcher.close().await;

    owner
        .send_json(json!({"type": "reply", "conversation_id": id, "client_id": "b", "text": "Second answer"}))
        .await;
    let ack = owner.next_of_type("reply_ack").await;
    owner
        .send_json(json!({"type": "note", "conversation_id": id, "client_id": "n1", "text": "Quote sent by mail"}))
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let cursors = json!([{"conversation_id": id, "after_seq": last_seq, "after_note": 0}]);
    let (mut watcher, _) = server.staff_connect(&watcher_cookie, cursors).await;
    let mut replayed = Vec::new();
    while let Some(frame) = watcher.try_next_frame(Duration::from_secs(2)).await {
        replayed.push(frame);
    }
    let seconds: Vec<&Value> = replayed
        .iter()
        .filter_map(|f| staff_event(f, &id))
        .filter(|e| e["text"] == "Second answer")
        .collect();
    assert_eq!(
        seconds.len(),
        1,
        "the colleague's reply arrives once: {replayed:?}"
    );
    assert_eq!(seconds[0]["seq"], ack["seq"]);
    let firsts = replayed
        .iter()
        .filter_map(|f| staff_event(f, &id))
        .filter(|e| e["text"] == "First answer")
        .count();
    assert_eq!(firsts, 0, "nothing the console had is resent");
    let notes: Vec<&Value> = replayed.iter().filter(|f| f["type"] == "note").collect();
    assert_eq!(notes.len(), 1, "the note written meanwhile arrives");
    assert_eq!(notes[0]["note"]["text"], "Quote sent by mail");
}

#[tokio::test]
async fn resolved_chat_gets_fresh_bot_turn() {
    let server = TestServer::without_model().await;
    let (mut buyer, id) = queued_buyer(&server, "es", "Quiero hablar con una persona").await;
    let (mut agent, _) = server.agent("ana", "Ana", Language::Spanish, 5).await;
    agent
        .send_json(json!({"type": "take", "conversation_id": id}))
        .await;
    buyer.next_matching(|f| is_state(f, "staff")).await;
    agent
        .send_json(json!({"type": "resolve", "conversation_id": id}))
        .await;
    let resolved = buyer.next_matching(|f| is_state(f, "resolved")).await;
    assert!(
        resolved["text"].as_str().unwrap().contains("resuelta"),
        "{resolved}"
    );

    let reply = buyer.ask_and_wait("q2", "¿Cuál es el pedido mínimo?").await;
    assert_eq!(reply["answer_source"], "faq", "{reply}");
    let queued_again = server
        .query_i64(
            "SELECT COUNT(*) FROM state_changes WHERE conversation_id = ? AND to_state = 'queued'",
            &id,
        )
        .await;
    assert_eq!(queued_again, 1, "the old escalation is not replayed");
    let state: String = sqlx::query_scalar("SELECT state FROM conversations WHERE id = ?")
        .bind(&id)
        .fetch_one(server.chat.store.pool())
        .await
        .unwrap();
    assert_eq!(state, "bot");
}

#[tokio::test]
async fn hundred_takeovers_name_the_agent() {
    let server = TestServer::start_with(ServerOptions {
        model: false,
        configure: |config| config.limits.connections_per_ip = 400,
    })
    .await;
    let locales = [
        "en", "es", "pt", "fr", "de", "it", "nl", "ru", "pl", "tr", "ar", "he", "fa", "hi", "vi",
        "th", "id", "ja", "ko", "zh",
    ];
    let mut buyers = Vec::new();
    for index in 0..100 {
        let locale = locales[index % locales.len()];
        let (mut buyer, welcome) = server.connect(None, locale, 0).await;
        let id = welcome["conversation_id"].as_str().unwrap().to_owned();
        buyer.send_json(json!({"type": "request_person"})).await;
        buyer
            .next_matching(|f| f["type"] == "event" && f["state"] == "queued")
            .await;
        buyers.push((buyer, id, locale));
    }

    let mut agents = Vec::new();
    for index in 0..20 {
        let name = format!("agent{index}");
        let display = format!("María José {index}");
        let (agent, _) = server.agent(&name, &display, Language::English, 5).await;
        agents.push(agent);
    }
    let takes = agents.iter_mut().enumerate().map(|(index, agent)| {
        let ids: Vec<String> = buyers[index * 5..index * 5 + 5]
            .iter()
            .map(|(_, id, _)| id.clone())
            .collect();
        async move {
            for id in ids {
                agent
                    .send_json(json!({"type": "take", "conversation_id": id}))
                    .await;
            }
        }
    });
    futures_util::future::join_all(takes).await;

    for (index, (buyer, id, locale)) in buyers.iter_mut().enumerate() {
        let joined = buyer.next_matching(|f| is_state(f, "staff")).await;
        let text = joined["text"].as_str().expect("the joined notice has text");
        let name = format!("María José {}", index / 5);
        assert!(text.contains(&name), "{locale} {id}: {text}");
        assert!(
            !text.contains('{') && !text.contains('}'),
            "{locale}: {text}"
        );
        assert_eq!(joined["author_name"], name);
    }
    let raw_templates: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE text LIKE '%{%' OR text LIKE '%}%'")
            .fetch_one(server.chat.store.pool())
            .await
            .unwrap();
    let joined_notices: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM events WHERE state = 'staff' AND text LIKE '%María José%'",
    )
    .fetch_one(server.chat.store.pool())
    .await
    .unwrap();
    assert_eq!(joined_notices, 100, "the query sees the stored notices");
    assert_eq!(raw_templates, 0, "no stored message has a raw placeholder");
}

#[tokio::test]
async fn buyer_token_cannot_act_as_staff() {
    let server = TestServer::without_model().await;
    let (_buyer, welcome) = server.connect(None, "en", 0).await;
    let token = welcome["token"].as_str().unwrap();
    let cookie = format!("crossdesk_staff={token}");
    let (status, _, _) = server
        .http("GET", "/api/staff/me", Some(&cookie), None)
        .await;
    assert_eq!(status, 401);
    let (status, _, _) = server.http("GET", "/ws/staff", Some(&cookie), None).await;
    assert_eq!(status, 401, "the staff socket rejects a buyer token");
}

#[tokio::test]
async fn sign_in_failures_are_limited() {
    let server = TestServer::without_model().await;
    server
        .add_staff("ana", "Ana", StaffRole::Staff, Language::English, 5)
        .await;
    let wrong = json!({"name": "ana", "password": "not the password"});
    for _ in 0..5 {
        let (status, _, body) = server
            .http("POST", "/api/staff/sign-in", None, Some(wrong.clone()))
            .await;
        assert_eq!(status, 401, "{body}");
    }
    let right = json!({"name": "ana", "password": STAFF_PASSWORD});
    let (status, headers, _) = server
        .http("POST", "/api/staff/sign-in", None, Some(right))
        .await;
    assert_eq!(
        status, 429,
        "even the right password waits after 5 failures"
    );
    assert!(headers.iter().any(|(name, _)| name == "retry-after"));
}

#[tokio::test]
async fn session_cookie_is_http_only() {
    let server = TestServer::without_model().await;
    server
        .add_staff("ana", "Ana", StaffRole::Staff, Language::English, 5)
        .await;
    let body = json!({"name": "ana", "password": STAFF_PASSWORD});
    let (_, headers, _) = server
        .http("POST", "/api/staff/sign-in", None, Some(body))
        .await;
    let cookie = &headers.iter().find(|(n, _)| n == "set-cookie").unwrap().1;
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");
    let cookie = cookie.split(';').next().unwrap();
    let (status, _, _) = server
        .http("POST", "/api/staff/sign-out", Some(cookie), None)
        .await;
    assert_eq!(status, 204);
    let (status, _, _) = server
        .http("GET", "/api/staff/me", Some(cookie), None)
        .await;
    assert_eq!(status, 401, "the session ended at sign-out");
}

#[tokio::test]
async fn agent_limit_and_foreign_chats_are_refused() {
    let server = TestServer::without_model().await;
    let (_first_buyer, first) = queued_buyer(&server, "en", "help").await;
    let (_second_buyer, second) = queued_buyer(&server, "en", "help").await;
    let (mut ana, _) = server.agent("ana", "Ana", Language::English, 1).await;
    let (mut bo, _) = server.agent("bo", "Bo", Language::English, 5).await;

    ana.send_json(json!({"type": "take", "conversation_id": first}))
        .await;
    let owned = ana.next_of_type("owned").await;
    assert_eq!(owned["items"][0]["conversation_id"], first.as_str());
    ana.send_json(json!({"type": "take", "conversation_id": second}))
        .await;
    let refused = ana.next_of_type("refused").await;
    assert_eq!(refused["code"], "limit_reached", "{refused}");

    bo.send_json(
        json!({"type": "reply", "conversation_id": first, "client_id": "x", "text": "Hi"}),
    )
    .await;
    let refused = bo.next_of_type("refused").await;
    assert_eq!(refused["code"], "owned");
    assert_eq!(refused["owner"], "Ana");
    bo.send_json(json!({"type": "hand_back", "conversation_id": first}))
        .await;
    let refused = bo.next_of_type("refused").await;
    assert_eq!(refused["code"], "owned");
}

#[tokio::test]
async fn notes_never_reach_the_buyer() {
    let server = TestServer::without_model().await;
    let (mut buyer, id) = queued_buyer(&server, "en", "help").await;
    let (mut agent, _) = server.agent("ana", "Ana", Language::English, 5).await;
    agent
        .send_json(
            json!({"type": "note", "conversation_id": id, "client_id": "n1", "text": "VIP buyer"}),
        )
        .await;
    agent
        .send_json(json!({"type": "reply", "conversation_id": id, "client_id": "r1", "text": "Hello, I am Ana"}))
        .await;
    agent.next_of_type("reply_ack").await;

    let mut seen = Vec::new();
    while let Some(frame) = buyer.try_next_frame(Duration::from_secs(2)).await {
        seen.push(frame);
    }
    let text = serde_json::to_string(&seen).unwrap();
    assert!(!text.contains("VIP buyer"), "a note leaked: {text}");
    assert!(text.contains("Hello, I am Ana"));
    let seqs: Vec<i64> = seen
        .iter()
        .filter(|f| f["type"] == "event")
        .map(|f| f["seq"].as_i64().unwrap())
        .collect();
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "the buyer's sequence has no gaps: {seqs:?}"
    );
}

#[tokio::test]
async fn cross_language_reply_without_model_needs_review() {
    let server = TestServer::without_model().await;
    let (mut buyer, id) = queued_buyer(&server, "es", "Necesito ayuda con un pedido").await;
    let (mut agent, _) = server.agent("li", "Li", Language::Chinese, 5).await;
    let reply = json!({"type": "reply", "conversation_id": id, "client_id": "r1", "text": "好的，马上处理"});
    agent.send_json(reply).await;
    let review = agent.next_of_type("review").await;
    assert_eq!(review["language"], "es");
    assert!(
        review["failure"]
            .as_str()
            .unwrap()
            .contains("no translation model")
    );

    let accepted = json!({
        "type": "reply", "conversation_id": id, "client_id": "r1",
        "text": "好的，马上处理", "translation": "De acuerdo, lo gestiono ahora mismo.",
    });
    agent.send_json(accepted).await;
    let ack = agent.next_of_type("reply_ack").await;
    assert_eq!(ack["text"], "De acuerdo, lo gestiono ahora mismo.");
    assert_eq!(ack["translated"], true);
    assert_eq!(
        ack["machine_translated"], false,
        "the agent wrote this text"
    );
    let message = buyer
        .next_matching(|f| f["type"] == "event" && f["author"] == "staff")
        .await;
    assert_eq!(message["text"], "De acuerdo, lo gestiono ahora mismo.");
    assert_eq!(message["machine_translated"], false);

    // Resending the same client id stores nothing new.
    agent
        .send_json(json!({
            "type": "reply", "conversation_id": id, "client_id": "r1",
            "text": "好的，马上处理", "translation": "Otro texto",
        }))
        .await;
    let again = agent.next_of_type("reply_ack").await;
    assert_eq!(again["seq"], ack["seq"]);
}

#[tokio::test]
async fn transcript_pages_back() {
    let server = TestServer::without_model().await;
    let (_buyer, id) = queued_buyer(&server, "en", "help").await;
    let (mut agent, _) = server.agent("ana", "Ana", Language::English, 5).await;
    for index in 0..60 {
        agent
            .send_json(json!({"type": "reply", "conversation_id": id, "client_id": format!("r{index}"), "text": format!("line {index}")}))
            .await;
        agent.next_of_type("reply_ack").await;
        // Stays under the staff socket's frame rate.
        tokio::time::sleep(Duration::from_millis(110)).await;
    }
    agent
        .send_json(json!({"type": "open", "conversation_id": id, "limit": 25}))
        .await;
    let newest = agent.next_of_type("transcript").await;
    let events = newest["events"].as_array().unwrap();
    assert_eq!(events.len(), 25);
    assert_eq!(newest["has_more"], true);
    let first_seq = events[0]["seq"].as_i64().unwrap();
    let last_seq = events[24]["seq"].as_i64().unwrap();
    assert_eq!(last_seq - first_seq, 24, "a page is contiguous");

    agent
        .send_json(
            json!({"type": "open", "conversation_id": id, "limit": 200, "before_seq": first_seq}),
        )
        .await;
    let older = agent.next_of_type("transcript").await;
    let older_events = older["events"].as_array().unwrap();
    assert_eq!(older["has_more"], false);
    assert_eq!(older_events.first().unwrap()["seq"], 1);
    assert_eq!(older_events.last().unwrap()["seq"], first_seq - 1);
}

#[tokio::test]
async fn person_request_while_staffed_is_silent() {
    let server = TestServer::without_model().await;
    let (mut buyer, id) = queued_buyer(&server, "en", "help").await;
    let (mut agent, _) = server.agent("ana", "Ana", Language::English, 5).await;
    agent
        .send_json(json!({"type": "take", "conversation_id": id}))
        .await;
    buyer.next_matching(|f| is_state(f, "staff")).await;

    buyer.send_json(json!({"type": "request_person"})).await;
    buyer
        .send_json(json!({"type": "message", "client_id": "m2", "text": "I want a human now"}))
        .await;
    let mut seen = Vec::new();
    while let Some(frame) = buyer.try_next_frame(Duration::from_secs(2)).await {
        seen.push(frame);
    }
    let from_bot: Vec<&Value> = seen
        .iter()
        .filter(|f| f["type"] == "event" && f["author"] == "bot")
        .collect();
    assert!(
        from_bot.is_empty(),
        "the bot spoke while a person owns the chat: {from_bot:?}"
    );
}

#[tokio::test]
async fn replies_arrive_in_written_order() {
    let server = TestServer::without_model().await;
    let (mut buyer, id) = queued_buyer(&server, "en", "help").await;
    let (mut agent, _) = server.agent("ana", "Ana", Language::English, 5).await;
    for index in 0..15 {
        let text = format!("part {index}");
        let reply = json!({"type": "reply", "conversation_id": id, "client_id": format!("r{index}"), "text": text});
        agent.send_json(reply).await;
    }
    let mut received = Vec::new();
    while received.len() < 15 {
        let frame = buyer
            .next_matching(|f| f["type"] == "event" && f["author"] == "staff")
            .await;
        received.push(frame["text"].as_str().unwrap().to_owned());
    }
    let expected: Vec<String> = (0..15).map(|index| format!("part {index}")).collect();
    assert_eq!(received, expected);
}

#[tokio::test]
async fn ended_session_closes_console() {
    let server = TestServer::without_model().await;
    let (mut signed_out, cookie) = server.agent("ana", "Ana", Language::English, 5).await;
    let (status, _, _) = server
        .http("POST", "/api/staff/sign-out", Some(&cookie), None)
        .await;
    assert_eq!(status, 204);
    signed_out.send_json(json!({"type": "ping"})).await;
    let error = signed_out.next_of_type("error").await;
    assert_eq!(error["code"], "unauthorized");
    signed_out.expect_close(Duration::from_secs(3)).await;

    // A disabled account's idle console is closed by the periodic check.
    let (mut disabled, _) = server.agent("bo", "Bo", Language::English, 5).await;
    assert!(
        server
            .chat
            .store
            .set_staff_disabled("bo", true)
            .await
            .unwrap()
    );
    let error = disabled.next_matching(|f| f["type"] == "error").await;
    assert_eq!(error["code"], "unauthorized");
    disabled.expect_close(Duration::from_secs(3)).await;
}

#[tokio::test]
async fn parallel_sign_ins_are_limited() {
    let server = TestServer::without_model().await;
    server
        .add_staff("ana", "Ana", StaffRole::Staff, Language::English, 5)
        .await;
    let attempts = (0..30).map(|index| {
        let body = json!({"name": "ana", "password": format!("wrong guess {index}")});
        server.http("POST", "/api/staff/sign-in", None, Some(body))
    });
    let statuses: Vec<u16> = futures_util::future::join_all(attempts)
        .await
        .into_iter()
        .map(|(status, _, _)| status)
        .collect();
    let rejected = statuses.iter().filter(|s| **s == 401).count();
    let limited = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(rejected, 5, "only 5 guesses are checked: {statuses:?}");
    assert_eq!(limited, 25, "{statuses:?}");
}

#[tokio::test]
async fn resent_reply_after_resolve_changes_nothing() {
    let server = TestServer::without_model().await;
    let (_buyer, id) = queued_buyer(&server, "en", "help").await;
    let (mut agent, _) = server.agent("ana", "Ana", Language::English, 5).await;
    let reply = json!({"type": "reply", "conversation_id": id, "client_id": "r1", "text": "Done"});
    agent.send_json(reply.clone()).await;
    let first = agent.next_of_type("reply_ack").await;
    assert_eq!(first["duplicate"], false);
    agent
        .send_json(json!({"type": "resolve", "conversation_id": id}))
        .await;
    agent
        .next_matching(|f| f["type"] == "queue_remove" || f["type"] == "owned")
        .await;

    agent.send_json(reply).await;
    let again = agent.next_of_type("reply_ack").await;
    assert_eq!(again["duplicate"], true);
    assert_eq!(again["seq"], first["seq"]);
    let takes = server
        .query_i64(
            "SELECT COUNT(*) FROM state_changes WHERE conversation_id = ? AND to_state = 'staff'",
            &id,
        )
        .await;
    assert_eq!(takes, 1, "the resend did not take the chat again");
}

#[tokio::test]
async fn admin_recovers_chat_of_disabled_agent() {
    let server = TestServer::without_model().await;
    let (_first_buyer, first) = queued_buyer(&server, "en", "help").await;
    let (mut second_buyer, second) = queued_buyer(&server, "en", "help").await;
    let (mut agent, _) = server.agent("cc", "Cc", Language::English, 5).await;
    for id in [&first, &second] {
        agent
            .send_json(json!({"type": "take", "conversation_id": id}))
            .await;
    }
    while server
        .query_i64(
            "SELECT COUNT(*) FROM conversations WHERE state = 'staff' AND owner_staff_id \
             = (SELECT id FROM staff WHERE name = ?)",
            "cc",
        )
        .await
        < 2
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    server
        .add_staff("ana", "Ana", StaffRole::Admin, Language::English, 5)
        .await;
    let cookie = server.sign_in("ana").await;
    let (mut admin, _) = server.staff_connect(&cookie, json!([])).await;
    admin
        .send_json(json!({"type": "resolve", "conversation_id": first}))
        .await;
    while let Some(frame) = admin.try_next_frame(Duration::from_secs(2)).await {
        assert_ne!(frame["type"], "refused", "the admin was refused: {frame}");
    }
    let state: String = sqlx::query_scalar("SELECT state FROM conversations WHERE id = ?")
        .bind(&first)
        .fetch_one(server.chat.store.pool())
        .await
        .unwrap();
    assert_eq!(state, "resolved", "an admin resolves another agent's chat");

    assert!(
        server
            .chat
            .store
            .set_staff_disabled("cc", true)
            .await
            .unwrap()
    );
    // The server's own sweep may have run first; either way the chat moves once.
    let moved = server.staff.requeue_chats_of_disabled().await.unwrap();
    assert!(moved <= 1, "{moved} chats moved");
    let queued = second_buyer
        .next_matching(|f| is_state(f, "queued") && f["reason"] == "agent_disabled")
        .await;
    assert_eq!(queued["kind"], "state", "the buyer is told at once");
    let state: String = sqlx::query_scalar("SELECT state FROM conversations WHERE id = ?")
        .bind(&second)
        .fetch_one(server.chat.store.pool())
        .await
        .unwrap();
    assert_eq!(
        state, "queued",
        "the disabled agent's chat is back in the queue"
    );
}

#[tokio::test]
async fn cursor_past_the_end_still_follows() {
    let server = TestServer::without_model().await;
    let (mut buyer, id) = queued_buyer(&server, "en", "help").await;
    server
        .add_staff("ana", "Ana", StaffRole::Staff, Language::English, 5)
        .await;
    let cookie = server.sign_in("ana").await;
    let cursors = json!([
        {"conversation_id": id, "after_seq": 1_000_000, "after_note": 1_000_000},
        {"conversation_id": id, "after_seq": 1_000_000, "after_note": 1_000_000},
    ]);
    let (mut agent, _) = server.staff_connect(&cookie, cursors).await;
    let seq = buyer.ask("later", "Is anyone there?").await;
    let event = agent
        .next_matching(|f| staff_event(f, &id).is_some_and(|e| e["author"] == "buyer"))
        .await;
    assert_eq!(event["event"]["seq"], seq);
}

#[tokio::test]
async fn glossary_terms_ignore_case_in_any_script() {
    let server = TestServer::without_model().await;
    server
        .add_staff("ana", "Ana", StaffRole::Admin, Language::English, 5)
        .await;
    let cookie = server.sign_in("ana").await;
    let add = |term: &str| json!({"term": term, "note": ""});
    let (status, _, body) = server
        .http("POST", "/api/glossary", Some(&cookie), Some(add("ÉCLAIR")))
        .await;
    assert_eq!(status, 201, "{body}");
    assert!(body.contains("created_at"), "{body}");
    let (status, _, _) = server
        .http("POST", "/api/glossary", Some(&cookie), Some(add("éclair")))
        .await;
    assert_eq!(status, 409);
    let (status, _, _) = server
        .http(
            "DELETE",
            "/api/glossary/%20%C3%A9clair%20",
            Some(&cookie),
            None,
        )
        .await;
    assert_eq!(status, 204);
    assert!(server.chat.glossary.terms().is_empty());
}
