//! The staff console's files: page, script, stylesheet and string tables.
//!
//! The files are compiled into the binary. They are always revalidated (the
//! console changes with the server), framed by no other site, and served
//! with a Content-Security-Policy that allows only this server's own script,
//! styles and WebSocket, so even a rendering mistake cannot run injected code.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::error::ApiError;

const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; \
    base-uri 'none'; form-action 'self'";

const STRING_TABLES: [(&str, &str); 2] = [
    ("en", include_str!("../../console/i18n/en.json")),
    ("zh", include_str!("../../console/i18n/zh.json")),
];

pub fn router() -> Router {
    Router::new()
        .route("/console", get(page))
        .route("/console/", get(page))
        .route("/console/console.js", get(script))
        .route("/console/console.css", get(stylesheet))
        .route("/console/i18n/{file}", get(string_table))
}

async fn page() -> Response {
    respond(
        include_str!("../../console/index.html"),
        "text/html; charset=utf-8",
    )
}

async fn script() -> Response {
    respond(
        include_str!("../../console/console.js"),
        "text/javascript; charset=utf-8",
    )
}

async fn stylesheet() -> Response {
    respond(
        include_str!("../../console/console.css"),
        "text/css; charset=utf-8",
    )
}

async fn string_table(Path(file): Path<String>) -> Response {
    let found = file
        .strip_suffix(".json")
        .and_then(|language| STRING_TABLES.iter().find(|(code, _)| *code == language));
    match found {
        Some((_, body)) => respond(body, "application/json"),
        None => ApiError::NotFound(format!(
            "no console strings for `{file}`; request en.json or zh.json"
        ))
        .into_response(),
    }
}

fn respond(body: &'static str, content_type: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}
