//! A real crossdesk server on port 0 with a temporary data folder, the
//! sample knowledge base, and one model shared by every server of this test
//! binary; plus a WebSocket client speaking the buyer protocol.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crossdesk::app::{self, ModelSource};
use crossdesk::chat::ChatService;
use crossdesk::config::Config;
use crossdesk::http::{self, AppState};
use crossdesk::inference::{Generator, InferenceConfig, LocalModel};
use crossdesk::language::Language;
use crossdesk::staff::StaffService;
use crossdesk::staff::accounts::{NewAccount, add_account};
use crossdesk::storage::{StaffAccount, StaffRole};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

/// How long a test waits for one frame; generous because replies from the
/// default model on a 2-core machine take tens of seconds under load.
pub const FRAME_TIMEOUT: Duration = Duration::from_secs(300);

pub const DEFAULT_MODEL: &str = "models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf";

/// The default model, loaded once per test binary.
pub fn shared_model() -> Arc<dyn Generator> {
    static MODEL: OnceLock<Arc<LocalModel>> = OnceLock::new();
    MODEL
        .get_or_init(|| {
            let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(DEFAULT_MODEL);
            assert!(
                path.exists(),
                "{} is missing; run `python3 models/fetch.py` first",
                path.display()
            );
            let config = InferenceConfig {
                queue_capacity: 32,
                ..InferenceConfig::default()
            };
            Arc::new(LocalModel::load(&path, &config).expect("default model loads"))
        })
        .clone()
}

/// A running server; stops when dropped.
pub struct TestServer {
    pub address: SocketAddr,
    pub chat: Arc<ChatService>,
    pub staff: Arc<StaffService>,
    /// Kept so the folder lives as long as the server.
    _data_dir: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub struct ServerOptions {
    pub model: bool,
    pub configure: fn(&mut Config),
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            model: true,
            configure: |_| {},
        }
    }
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(ServerOptions::default()).await
    }

    /// Starts a server without the model, for tests that need no generation.
    pub async fn without_model() -> Self {
        Self::start_with(ServerOptions {
            model: false,
            ..ServerOptions::default()
        })
        .await
    }

    pub async fn start_with(options: ServerOptions) -> Self {
        let data_dir = tempfile::tempdir().expect("temporary folder");
        let mut config = Config {
            data_dir: data_dir.path().to_owned(),
            knowledge_base: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("knowledge-base"),
            ..Config::default()
        };
        (options.configure)(&mut config);
        let model = if options.model {
            let generator = tokio::task::spawn_blocking(shared_model)
                .await
                .expect("model loads");
            ModelSource::Shared(generator)
        } else {
            ModelSource::Off
        };
        let chat = app::build(config, model).await.expect("server builds");
        let state = AppState::new(chat.clone());
        let staff = state.staff.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind port 0");
        let address = listener.local_addr().expect("bound address");
        let service = http::router(state).into_make_service_with_connect_info::<SocketAddr>();
        let task = tokio::spawn(async move {
            axum::serve(listener, service).await.expect("server runs");
        });
        Self {
            address,
            chat,
            staff,
            _data_dir: data_dir,
            task,
        }
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws/chat", self.address)
    }

    /// Connects and says hello; returns the client and the welcome frame.
    pub async fn connect(
        &self,
        token: Option<&str>,
        locale: &str,
        resume_from: i64,
    ) -> (Client, Value) {
        let (socket, _) = connect_async(self.ws_url())
            .await
            .expect("websocket connects");
        let mut client = Client::from_socket(socket);
        client
            .send_json(json!({"type": "hello", "token": token, "locale": locale, "resume_from": resume_from}))
            .await;
        let welcome = client.next_of_type("welcome").await;
        (client, welcome)
    }

    /// A scalar from the store's database, for checking the log.
    pub async fn query_i64(&self, sql: &'static str, conversation_id: &str) -> i64 {
        sqlx::query_scalar(sql)
            .bind(conversation_id)
            .fetch_one(self.chat.store.pool())
            .await
            .expect("query runs")
    }
}

pub struct Client {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Frames read while looking for another one, returned first.
    pending: std::collections::VecDeque<Value>,
}

impl Client {
    pub fn from_socket(socket: WebSocketStream<MaybeTlsStream<TcpStream>>) -> Self {
        Self {
            socket,
            pending: Default::default(),
        }
    }

    pub async fn send_json(&mut self, value: Value) {
        self.send_text(value.to_string()).await;
    }

    pub async fn send_text(&mut self, text: String) {
        self.socket
            .send(Message::Text(text.into()))
            .await
            .expect("frame sent");
    }

    pub async fn send_binary(&mut self, bytes: Vec<u8>) {
        self.socket
            .send(Message::Binary(bytes.into()))
            .await
            .expect("frame sent");
    }

    /// The next JSON frame from the server.
    pub async fn next_frame(&mut self) -> Value {
        self.try_next_frame(FRAME_TIMEOUT)
            .await
            .expect("a frame arrives in time")
    }

    /// The next JSON frame, or `None` if none arrives within `wait`.
    pub async fn try_next_frame(&mut self, wait: Duration) -> Option<Value> {
        if let Some(frame) = self.pending.pop_front() {
            return Some(frame);
        }
        loop {
            let message = tokio::time::timeout(wait, self.socket.next()).await.ok()?;
            match message {
                Some(Ok(Message::Text(text))) => {
                    return Some(serde_json::from_str(text.as_str()).expect("server sends JSON"));
                }
                Some(Ok(Message::Close(_))) | None => panic!("server closed the socket"),
                Some(Ok(_)) => continue,
                Some(Err(error)) => panic!("socket failed: {error}"),
            }
        }
    }

    /// Skips frames until one of `kind` arrives.
    pub async fn next_of_type(&mut self, kind: &str) -> Value {
        loop {
            let frame = self.next_frame().await;
            if frame["type"] == kind {
                return frame;
            }
        }
    }

    /// Sends a buyer message and returns its acknowledged sequence number.
    pub async fn ask(&mut self, client_id: &str, text: &str) -> i64 {
        self.send_json(json!({"type": "message", "client_id": client_id, "text": text}))
            .await;
        let mut skipped = Vec::new();
        loop {
            let frame = self.next_frame().await;
            if frame["type"] == "ack" && frame["client_id"] == client_id {
                // The reply may overtake the ack; keep it for `reply_to`.
                for frame in skipped.into_iter().rev() {
                    self.pending.push_front(frame);
                }
                return frame["seq"].as_i64().expect("ack has a seq");
            }
            skipped.push(frame);
        }
    }

    /// Waits for the stored bot message answering `buyer_seq`, collecting
    /// the streamed deltas on the way. Returns (final event, streamed text).
    pub async fn reply_to(&mut self, buyer_seq: i64) -> (Value, String) {
        let mut streamed = String::new();
        loop {
            let frame = self.next_frame().await;
            if frame["type"] == "delta" && frame["reply_id"] == format!("r-{buyer_seq}") {
                streamed.push_str(frame["text"].as_str().unwrap_or_default());
            }
            let is_reply = frame["type"] == "event"
                && frame["author"] == "bot"
                && frame["kind"] == "message"
                && frame["reply_to"] == buyer_seq;
            if is_reply {
                return (frame, streamed);
            }
        }
    }

    /// Asks and waits for the reply.
    pub async fn ask_and_wait(&mut self, client_id: &str, text: &str) -> Value {
        let seq = self.ask(client_id, text).await;
        self.reply_to(seq).await.0
    }

    pub async fn close(mut self) {
        let _ = self.socket.close(None).await;
    }
}

/// A password every test account uses.
pub const STAFF_PASSWORD: &str = "correct horse battery";

impl TestServer {
    /// Creates a staff account directly in the store.
    pub async fn add_staff(
        &self,
        name: &str,
        display_name: &str,
        role: StaffRole,
        language: Language,
        max_chats: i64,
    ) -> StaffAccount {
        let account = NewAccount {
            name,
            display_name,
            role,
            language,
            password: STAFF_PASSWORD,
            max_chats,
        };
        add_account(&self.chat.store, account)
            .await
            .expect("account is created")
    }

    /// Sends one HTTP/1.1 request; returns the status, the headers
    /// (lower-case names) and the body.
    pub async fn http(
        &self,
        method: &str,
        path: &str,
        cookie: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Vec<(String, String)>, String) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = TcpStream::connect(self.address).await.expect("connects");
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\
             Content-Length: {}\r\n",
            self.address,
            body.len()
        );
        if !body.is_empty() {
            request.push_str("Content-Type: application/json\r\n");
        }
        if let Some(cookie) = cookie {
            request.push_str(&format!("Cookie: {cookie}\r\n"));
        }
        request.push_str("\r\n");
        request.push_str(&body);
        stream.write_all(request.as_bytes()).await.expect("sent");
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.expect("read");
        let response = String::from_utf8_lossy(&response).into_owned();
        let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|line| line.split_whitespace().nth(1))
            .and_then(|code| code.parse().ok())
            .expect("status line");
        let headers = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(name, value)| (name.trim().to_lowercase(), value.trim().to_owned()))
            .collect();
        (status, headers, body.to_owned())
    }

    /// Signs in and returns the cookie pair (`crossdesk_staff=…`).
    pub async fn sign_in(&self, name: &str) -> String {
        let body = json!({"name": name, "password": STAFF_PASSWORD});
        let (status, headers, text) = self
            .http("POST", "/api/staff/sign-in", None, Some(body))
            .await;
        assert_eq!(status, 200, "sign-in failed: {text}");
        let cookie = headers
            .iter()
            .find(|(name, _)| name == "set-cookie")
            .map(|(_, value)| value.clone())
            .expect("sign-in sets a cookie");
        cookie.split(';').next().unwrap().to_owned()
    }

    /// Opens the staff socket with a cookie and sends `hello`; returns the
    /// client and the welcome.
    pub async fn staff_connect(&self, cookie: &str, cursors: Value) -> (Client, Value) {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut request = format!("ws://{}/ws/staff", self.address)
            .into_client_request()
            .expect("valid request");
        request
            .headers_mut()
            .insert("cookie", cookie.parse().expect("cookie header"));
        let (socket, _) = connect_async(request).await.expect("staff socket connects");
        let mut client = Client::from_socket(socket);
        client
            .send_json(json!({"type": "hello", "cursors": cursors}))
            .await;
        let welcome = client.next_of_type("welcome").await;
        (client, welcome)
    }

    /// Creates an account, signs it in and connects its console.
    pub async fn agent(
        &self,
        name: &str,
        display_name: &str,
        language: Language,
        max_chats: i64,
    ) -> (Client, String) {
        self.add_staff(name, display_name, StaffRole::Staff, language, max_chats)
            .await;
        let cookie = self.sign_in(name).await;
        let (client, _) = self.staff_connect(&cookie, json!([])).await;
        (client, cookie)
    }
}

impl Client {
    /// Waits for the server to close the socket; fails on any other frame.
    pub async fn expect_close(&mut self, wait: Duration) {
        assert!(self.pending.is_empty(), "unread frames: {:?}", self.pending);
        let message = tokio::time::timeout(wait, self.socket.next())
            .await
            .expect("the server closes the socket in time");
        match message {
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {}
            Some(Ok(other)) => panic!("expected the socket to close, got {other:?}"),
        }
    }

    /// Skips frames until one matches `predicate`.
    pub async fn next_matching(&mut self, predicate: impl Fn(&Value) -> bool) -> Value {
        loop {
            let frame = self.next_frame().await;
            if predicate(&frame) {
                return frame;
            }
        }
    }
}
