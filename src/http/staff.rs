//! Staff sign-in, the glossary API and the staff WebSocket upgrade.
//!
//! A console session is a random token in the `crossdesk_staff` cookie
//! (`HttpOnly`, `SameSite=Strict`); [`StaffSession`] resolves it to an
//! account on every request. Buyer tokens are never looked up here, so they
//! cannot act as staff. Requests that change something must be JSON, and
//! the WebSocket upgrade checks that `Origin` matches `Host`, so another
//! site cannot act with an agent's cookie.

use std::net::SocketAddr;

use axum::extract::rejection::JsonRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use tracing::{info, warn};

use super::AppState;
use super::error::ApiError;
use crate::staff::accounts::{self, SignIn, token_hash};
use crate::staff::session;
use crate::storage::{StaffAccount, StaffRole};

const COOKIE_NAME: &str = "crossdesk_staff";
/// Session cookies looked up per request, at most.
const MAX_SESSION_COOKIES: usize = 4;
pub const MAX_TERM_CHARS: usize = 80;
pub const MAX_NOTE_CHARS: usize = 200;
pub const MAX_TERMS: usize = 2_000;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/staff/sign-in", post(sign_in))
        .route("/api/staff/sign-out", post(sign_out))
        .route("/api/staff/me", get(me))
        .route("/api/glossary", get(glossary).post(add_term))
        .route("/api/glossary/{term}", delete(delete_term))
        .route("/ws/staff", get(staff_socket))
}

/// The signed-in account behind a request's session cookie.
pub struct StaffSession {
    pub account: StaffAccount,
    pub token_hash: String,
}

impl FromRequestParts<AppState> for StaffSession {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        // Every cookie of the name is tried, so a stray one set by another
        // page cannot hide a valid session.
        for token in session_cookies(&parts.headers)
            .into_iter()
            .take(MAX_SESSION_COOKIES)
        {
            let hash = token_hash(&token);
            if let Some(account) = state.chat.store.staff_for_session(&hash).await? {
                return Ok(StaffSession {
                    account,
                    token_hash: hash,
                });
            }
        }
        Err(ApiError::Unauthorized(
            "sign in at /console first".to_owned(),
        ))
    }
}

fn session_cookies(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(name, value)| *name == COOKIE_NAME && !value.is_empty())
        .map(|(_, value)| value.to_owned())
        .collect()
}

fn check_rate(state: &AppState, peer: SocketAddr) -> Result<(), ApiError> {
    if state.api_rate.try_take(peer.ip()) {
        Ok(())
    } else {
        Err(ApiError::RateLimited {
            message: format!("too many requests from {}; wait and retry", peer.ip()),
            retry_after_seconds: 1,
        })
    }
}

fn json_body<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    body.map(|Json(value)| value).map_err(|rejection| {
        ApiError::BadRequest(format!(
            "{}; send a JSON body with Content-Type: application/json",
            rejection.body_text()
        ))
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignInRequest {
    name: String,
    password: String,
}

async fn sign_in(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Result<Json<SignInRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    check_rate(&state, peer)?;
    let request = json_body(body)?;
    let staff = &state.staff;
    let outcome = accounts::sign_in(
        &state.chat.store,
        &staff.sign_in,
        request.name.trim(),
        &request.password,
        peer.ip(),
        staff.session_seconds(),
    )
    .await?;
    match outcome {
        SignIn::Accepted(account, token) => {
            info!(staff_id = %account.id, address = %peer.ip(), "staff signed in");
            let cookie = session_set_cookie(&state, &token, staff.session_seconds());
            let mut response = Json(&account).into_response();
            response.headers_mut().insert(header::SET_COOKIE, cookie);
            Ok(response)
        }
        SignIn::Rejected => {
            warn!(address = %peer.ip(), "staff sign-in rejected");
            Err(ApiError::Unauthorized(
                "the name or the password is wrong".to_owned(),
            ))
        }
        SignIn::Limited(wait) => {
            warn!(address = %peer.ip(), "staff sign-in limited after repeated failures");
            let seconds = wait.as_secs().max(1);
            Err(ApiError::RateLimited {
                message: format!(
                    "too many failed sign-ins for this name or address; retry in {seconds} s"
                ),
                retry_after_seconds: seconds,
            })
        }
    }
}

fn session_set_cookie(state: &AppState, token: &str, max_age: i64) -> HeaderValue {
    let secure = if state.chat.config.staff.secure_cookie {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{COOKIE_NAME}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age}{secure}"
    );
    HeaderValue::from_str(&cookie).expect("the cookie is URL-safe base64 and ASCII")
}

async fn sign_out(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    session: StaffSession,
) -> Result<Response, ApiError> {
    check_rate(&state, peer)?;
    state
        .chat
        .store
        .delete_staff_session(&session.token_hash)
        .await?;
    info!(staff_id = %session.account.id, "staff signed out");
    let mut response = StatusCode::NO_CONTENT.into_response();
    let expired = session_set_cookie(&state, "", 0);
    response.headers_mut().insert(header::SET_COOKIE, expired);
    Ok(response)
}

async fn me(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    session: StaffSession,
) -> Result<Json<StaffAccount>, ApiError> {
    check_rate(&state, peer)?;
    Ok(Json(session.account))
}

async fn glossary(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    _session: StaffSession,
) -> Result<Response, ApiError> {
    check_rate(&state, peer)?;
    let terms = state.chat.store.glossary().await?;
    Ok(Json(json!({ "terms": terms })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TermRequest {
    term: String,
    #[serde(default)]
    note: String,
}

fn require_admin(session: &StaffSession) -> Result<(), ApiError> {
    if session.account.role == StaffRole::Admin {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "only admins can change the glossary; ask an admin".to_owned(),
        ))
    }
}

async fn add_term(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    session: StaffSession,
    body: Result<Json<TermRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    check_rate(&state, peer)?;
    require_admin(&session)?;
    let request = json_body(body)?;
    let term = request.term.trim();
    let chars = term.chars().count();
    if chars == 0 || chars > MAX_TERM_CHARS || term.chars().any(char::is_control) {
        return Err(ApiError::BadRequest(format!(
            "term {term:?} is invalid; use 1 to {MAX_TERM_CHARS} characters without control \
             characters"
        )));
    }
    let note = request.note.trim();
    if note.chars().count() > MAX_NOTE_CHARS {
        return Err(ApiError::BadRequest(format!(
            "the note has {} characters; use at most {MAX_NOTE_CHARS}",
            note.chars().count()
        )));
    }
    let store = &state.chat.store;
    if store.glossary().await?.len() >= MAX_TERMS {
        return Err(ApiError::Conflict(format!(
            "the glossary has {MAX_TERMS} terms, the maximum; delete some first"
        )));
    }
    let Some(added) = store
        .add_glossary_term(term, note, &session.account.name)
        .await?
    else {
        return Err(ApiError::Conflict(format!(
            "the glossary already has {term:?}"
        )));
    };
    reload_glossary(&state).await?;
    info!(staff_id = %session.account.id, term, "glossary term added");
    Ok((StatusCode::CREATED, Json(added)).into_response())
}

async fn delete_term(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    session: StaffSession,
    Path(term): Path<String>,
) -> Result<Response, ApiError> {
    check_rate(&state, peer)?;
    require_admin(&session)?;
    let term = term.trim();
    if !state.chat.store.delete_glossary_term(term).await? {
        return Err(ApiError::NotFound(format!(
            "the glossary has no term {term:?}"
        )));
    }
    reload_glossary(&state).await?;
    info!(staff_id = %session.account.id, term, "glossary term deleted");
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn reload_glossary(state: &AppState) -> Result<(), ApiError> {
    let terms = state.chat.store.glossary().await?;
    state.chat.glossary.set(terms.into_iter().map(|t| t.term));
    Ok(())
}

async fn staff_socket(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    session: StaffSession,
    upgrade: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    check_same_origin(&headers)?;
    let address = peer.ip();
    let (upgrade, guard) = super::limited_upgrade(&state, address, upgrade)?;
    let staff = state.staff.clone();
    Ok(upgrade.on_upgrade(move |socket| async move {
        let _slot = guard;
        session::serve(staff, socket, session.account, session.token_hash, address).await;
    }))
}

/// Rejects a browser request from another site: its `Origin` host must be
/// the `Host` it was sent to. Clients that send no `Origin` are not browsers
/// acting for a page, and pass.
fn check_same_origin(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let origin = origin.to_str().unwrap_or_default();
    let origin_host = origin.split_once("://").map(|(_, host)| host);
    let host = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok());
    if origin_host.is_some() && origin_host == host {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!(
            "origin {origin:?} may not open the staff socket; open the console from this server"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(name.clone(), HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    #[test]
    fn cookie_is_found_among_others() {
        let found = session_cookies(&headers(&[(
            header::COOKIE,
            "a=1; crossdesk_staff=bogus; crossdesk_staff=tok",
        )]));
        assert_eq!(found, ["bogus", "tok"]);
        let other = session_cookies(&headers(&[(header::COOKIE, "crossdesk_staffx=1")]));
        assert!(other.is_empty());
    }

    #[test]
    fn same_origin_passes_and_other_site_fails() {
        let same = headers(&[
            (header::ORIGIN, "http://127.0.0.1:8080"),
            (header::HOST, "127.0.0.1:8080"),
        ]);
        assert!(check_same_origin(&same).is_ok());
        let other = headers(&[
            (header::ORIGIN, "https://evil.example"),
            (header::HOST, "127.0.0.1:8080"),
        ]);
        assert!(check_same_origin(&other).is_err());
        assert!(check_same_origin(&headers(&[(header::HOST, "127.0.0.1:8080")])).is_ok());
    }
}
