//! `GET /health`: what is loaded and whether the store answers.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::AppState;

pub async fn health(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let chat = &state.chat;
    let store_ok = chat.store.ping().await.is_ok();
    let counts = chat.store.knowledge_counts().await.unwrap_or_default();
    let (faq_ids, passages) = chat.index.snapshot().sizes();
    let model = match &chat.generator {
        Some(generator) => json!({ "loaded": true, "info": generator.info() }),
        None => json!({ "loaded": false, "reason": chat.generation_off_reason() }),
    };
    let status = if store_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if store_ok { "ok" } else { "degraded" },
        "generation": if chat.generator.is_some() { "on" } else { "off" },
        "store": { "ok": store_ok, "faq_entries": counts.faq_entries,
                   "passages": counts.passages, "orders": counts.orders },
        "index": { "faq_ids": faq_ids, "passages": passages },
        "model": model,
        "connections": state.connections.open_connections(),
        "uptime_seconds": state.started.elapsed().as_secs(),
    });
    (status, Json(body))
}
