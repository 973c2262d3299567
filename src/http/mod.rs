//! The HTTP surface: routes, limits, health, the buyer WebSocket upgrade,
//! and the staff console, sign-in and glossary.
//!
//! [`router`] builds the whole application from an [`AppState`], so tests can
//! serve it on port 0 or drive it in-process.

mod console;
pub mod error;
mod health;
pub mod staff;
pub mod widget;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, State};
use axum::response::Response;
use axum::routing::get;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::trace::TraceLayer;

use crate::chat::{ChatService, session};
use crate::limits::{AddressRateLimiter, ConnectionGuard, ConnectionLimiter};
use crate::staff::StaffService;
use error::ApiError;

/// Largest WebSocket message the socket layer accepts at all, as a multiple
/// of the protocol's frame limit: frames between the two get an `error` frame
/// and the connection stays open; larger ones close the connection.
const SOCKET_LIMIT_FACTOR: usize = 16;
/// Sustained HTTP API requests per second per client address, and the burst.
const API_REQUESTS_PER_SECOND: f64 = 10.0;
const API_REQUEST_BURST: f64 = 30.0;

/// State shared by all handlers.
#[derive(Clone)]
pub struct AppState {
    pub chat: Arc<ChatService>,
    pub staff: Arc<StaffService>,
    pub connections: ConnectionLimiter,
    pub api_rate: AddressRateLimiter,
    pub started: Instant,
}

impl AppState {
    pub fn new(chat: Arc<ChatService>) -> Self {
        let connections = ConnectionLimiter::new(chat.config.limits.connections_per_ip);
        let staff = Arc::new(StaffService::new(chat.clone()));
        staff.spawn_sweeper();
        Self {
            staff,
            chat,
            connections,
            api_rate: AddressRateLimiter::new(API_REQUESTS_PER_SECOND, API_REQUEST_BURST),
            started: Instant::now(),
        }
    }
}

/// Builds the application router.
pub fn router(state: AppState) -> Router {
    let body_limit = state.chat.config.limits.max_body_bytes;
    Router::new()
        .route("/health", get(health::health))
        .route("/ws/chat", get(chat_socket))
        .merge(staff::router())
        .with_state(state)
        .merge(widget::router())
        .merge(console::router())
        .layer(RequestBodyLimitLayer::new(body_limit))
        .layer(TraceLayer::new_for_http())
}

/// Takes a connection slot for `address` and applies the socket's size
/// limits; the slot is released when the returned guard drops.
fn limited_upgrade(
    state: &AppState,
    address: IpAddr,
    upgrade: WebSocketUpgrade,
) -> Result<(WebSocketUpgrade, ConnectionGuard), ApiError> {
    let guard =
        state
            .connections
            .try_acquire(address)
            .ok_or_else(|| ApiError::TooManyConnections {
                address: address.to_string(),
                limit: state.chat.config.limits.connections_per_ip,
            })?;
    let socket_limit = state.chat.config.limits.max_frame_bytes * SOCKET_LIMIT_FACTOR;
    let upgrade = upgrade
        .max_message_size(socket_limit)
        .max_frame_size(socket_limit);
    Ok((upgrade, guard))
}

async fn chat_socket(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    upgrade: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let address = peer.ip();
    let (upgrade, guard) = limited_upgrade(&state, address, upgrade)?;
    let chat = state.chat.clone();
    Ok(upgrade.on_upgrade(move |socket| async move {
        let _slot = guard;
        session::serve(chat, socket, address).await;
    }))
}
