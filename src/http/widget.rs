//! The buyer chat widget's files: script, stylesheet, string tables and the demo shop page.
//!
//! Every file is compiled into the binary with `include_str!`, so a deployment needs no
//! files at run time. Each response carries an `ETag` (the first 16 hex digits of the
//! content's SHA-256) and a request whose `If-None-Match` names it gets 304.
//!
//! Paths under `/widget/v1/` are cached for a day and may be served stale for a week while
//! they revalidate. `v1` names the protocol version, not the content, so a longer
//! lifetime would keep an upgraded server's fixes from buyers for that long. The demo page
//! at `/` is always revalidated. The widget runs on sellers' sites, so its files are sent
//! with `Access-Control-Allow-Origin: *` (it fetches its string tables cross-origin) and
//! `Cross-Origin-Resource-Policy: cross-origin`.

use std::sync::LazyLock;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};

use super::error::ApiError;

const VERSIONED_CACHE_CONTROL: &str = "public, max-age=86400, stale-while-revalidate=604800";
const PAGE_CACHE_CONTROL: &str = "no-cache";
const JAVASCRIPT: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const JSON: &str = "application/json";
const HTML: &str = "text/html; charset=utf-8";

/// The widget's string tables by language code, as listed in the widget script.
const STRING_TABLES: [(&str, &str); 20] = [
    ("ar", include_str!("../../widget/i18n/ar.json")),
    ("de", include_str!("../../widget/i18n/de.json")),
    ("en", include_str!("../../widget/i18n/en.json")),
    ("es", include_str!("../../widget/i18n/es.json")),
    ("fa", include_str!("../../widget/i18n/fa.json")),
    ("fr", include_str!("../../widget/i18n/fr.json")),
    ("he", include_str!("../../widget/i18n/he.json")),
    ("hi", include_str!("../../widget/i18n/hi.json")),
    ("id", include_str!("../../widget/i18n/id.json")),
    ("it", include_str!("../../widget/i18n/it.json")),
    ("ja", include_str!("../../widget/i18n/ja.json")),
    ("ko", include_str!("../../widget/i18n/ko.json")),
    ("nl", include_str!("../../widget/i18n/nl.json")),
    ("pl", include_str!("../../widget/i18n/pl.json")),
    ("pt", include_str!("../../widget/i18n/pt.json")),
    ("ru", include_str!("../../widget/i18n/ru.json")),
    ("th", include_str!("../../widget/i18n/th.json")),
    ("tr", include_str!("../../widget/i18n/tr.json")),
    ("vi", include_str!("../../widget/i18n/vi.json")),
    ("zh", include_str!("../../widget/i18n/zh.json")),
];

static SCRIPT: LazyLock<Asset> =
    LazyLock::new(|| Asset::versioned(include_str!("../../widget/widget.js"), JAVASCRIPT));
static STYLESHEET: LazyLock<Asset> =
    LazyLock::new(|| Asset::versioned(include_str!("../../widget/widget.css"), CSS));
static DEMO_PAGE: LazyLock<Asset> = LazyLock::new(|| {
    Asset::new(
        include_str!("../../widget/demo.html"),
        HTML,
        PAGE_CACHE_CONTROL,
    )
});
static TRANSLATIONS: LazyLock<Vec<(&'static str, Asset)>> = LazyLock::new(|| {
    STRING_TABLES
        .iter()
        .map(|&(language, body)| (language, Asset::versioned(body, JSON)))
        .collect()
});

/// Builds the router for `/`, `/widget/v1/widget.js`, `/widget/v1/widget.css` and
/// `/widget/v1/i18n/{lang}.json`.
pub fn router() -> Router {
    Router::new()
        .route("/", get(demo_page))
        .route("/widget/v1/widget.js", get(script))
        .route("/widget/v1/widget.css", get(stylesheet))
        .route("/widget/v1/i18n/{file}", get(string_table))
}

async fn demo_page(request: HeaderMap) -> Response {
    DEMO_PAGE.respond(&request)
}

async fn script(request: HeaderMap) -> Response {
    SCRIPT.respond(&request)
}

async fn stylesheet(request: HeaderMap) -> Response {
    STYLESHEET.respond(&request)
}

async fn string_table(Path(file): Path<String>, request: HeaderMap) -> Response {
    let found = file.strip_suffix(".json").and_then(|language| {
        TRANSLATIONS
            .iter()
            .find(|(code, _)| *code == language)
            .map(|(_, asset)| asset)
    });
    match found {
        Some(asset) => asset.respond(&request),
        None => ApiError::NotFound(format!(
            "no widget strings for `{file}`; request one of {} as {{lang}}.json",
            language_list()
        ))
        .into_response(),
    }
}

fn language_list() -> String {
    let codes: Vec<&str> = STRING_TABLES.iter().map(|(code, _)| *code).collect();
    codes.join(", ")
}

/// One embedded file with the headers it is served with.
struct Asset {
    body: &'static str,
    content_type: &'static str,
    cache_control: &'static str,
    /// Sent on `/widget/v1/` paths only: CORS and cross-origin embedding headers.
    cross_origin: bool,
    etag: HeaderValue,
}

impl Asset {
    fn new(body: &'static str, content_type: &'static str, cache_control: &'static str) -> Self {
        Self {
            body,
            content_type,
            cache_control,
            cross_origin: false,
            etag: entity_tag(body),
        }
    }

    fn versioned(body: &'static str, content_type: &'static str) -> Self {
        Self {
            cross_origin: true,
            ..Self::new(body, content_type, VERSIONED_CACHE_CONTROL)
        }
    }

    /// Returns the file, or 304 without a body when `If-None-Match` names its ETag.
    fn respond(&self, request: &HeaderMap) -> Response {
        let mut response = if etag_matches(request, &self.etag) {
            StatusCode::NOT_MODIFIED.into_response()
        } else {
            let mut full = self.body.into_response();
            let content_type = HeaderValue::from_static(self.content_type);
            full.headers_mut()
                .insert(header::CONTENT_TYPE, content_type);
            full
        };

        let headers = response.headers_mut();
        headers.insert(header::ETAG, self.etag.clone());
        let cache_control = HeaderValue::from_static(self.cache_control);
        headers.insert(header::CACHE_CONTROL, cache_control);
        let nosniff = HeaderValue::from_static("nosniff");
        headers.insert(header::X_CONTENT_TYPE_OPTIONS, nosniff);
        if self.cross_origin {
            let any_origin = HeaderValue::from_static("*");
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, any_origin);
            let embeddable = HeaderValue::from_static("cross-origin");
            headers.insert("cross-origin-resource-policy", embeddable);
        }
        response
    }
}

/// Returns a strong entity tag: the first 16 hex digits of the body's SHA-256, quoted.
fn entity_tag(body: &str) -> HeaderValue {
    let digest = Sha256::digest(body.as_bytes());
    let hex: String = digest[..8]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    HeaderValue::from_str(&format!("\"{hex}\""))
        .expect("a quoted hex string is a valid header value")
}

/// Applies RFC 9110's weak comparison: `*` or any listed tag equal to `etag`, ignoring `W/`.
fn etag_matches(request: &HeaderMap, etag: &HeaderValue) -> bool {
    let Ok(etag) = etag.to_str() else {
        return false;
    };
    request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .any(|candidate| candidate == "*" || candidate.trim_start_matches("W/") == etag)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::to_bytes;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    const BODY_LIMIT_BYTES: usize = 1 << 20;

    fn request_with(name: header::HeaderName, value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(name, HeaderValue::from_str(value).unwrap());
        headers
    }

    async fn body_text(response: Response) -> String {
        let bytes = to_bytes(response.into_body(), BODY_LIMIT_BYTES)
            .await
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    /// Serves the router on port 0 and returns the raw HTTP/1.1 response to one GET.
    async fn raw_get(path: &str, extra_header: &str) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router()).await });

        let mut stream = TcpStream::connect(address).await.unwrap();
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: test\r\n{extra_header}Connection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        response
    }

    fn status_line(response: &str) -> &str {
        response.lines().next().unwrap_or_default()
    }

    #[tokio::test]
    async fn script_has_type_cache_and_etag() {
        let response = SCRIPT.respond(&HeaderMap::new());
        assert_eq!(response.status(), StatusCode::OK);
        let headers = response.headers();
        assert_eq!(headers[header::CONTENT_TYPE], JAVASCRIPT);
        assert_eq!(headers[header::CACHE_CONTROL], VERSIONED_CACHE_CONTROL);
        assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        assert_eq!(
            headers[header::ETAG],
            entity_tag(include_str!("../../widget/widget.js"))
        );
        assert!(body_text(response).await.contains("crossdesk"));
    }

    #[tokio::test]
    async fn matching_etag_gets_304_without_body() {
        let etag = STYLESHEET.etag.to_str().unwrap().to_owned();
        let response = STYLESHEET.respond(&request_with(header::IF_NONE_MATCH, &etag));
        assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(response.headers()[header::ETAG], etag.as_str());
        assert_eq!(
            response.headers()[header::CACHE_CONTROL],
            VERSIONED_CACHE_CONTROL
        );
        assert_eq!(body_text(response).await, "");
    }

    #[test]
    fn etag_comparison_follows_rfc_9110() {
        let etag = HeaderValue::from_static("\"0123456789abcdef\"");
        let cases = [
            ("\"0123456789abcdef\"", true),
            ("W/\"0123456789abcdef\"", true),
            ("\"other\", \"0123456789abcdef\"", true),
            ("*", true),
            ("\"other\"", false),
            ("0123456789abcdef", false),
        ];
        for (value, expected) in cases {
            let request = request_with(header::IF_NONE_MATCH, value);
            assert_eq!(
                etag_matches(&request, &etag),
                expected,
                "If-None-Match: {value}"
            );
        }
        assert!(!etag_matches(&HeaderMap::new(), &etag));
    }

    #[test]
    fn stale_etag_gets_full_file() {
        let response = SCRIPT.respond(&request_with(header::IF_NONE_MATCH, "\"stale\""));
        assert_eq!(response.status(), StatusCode::OK);
    }

    #[test]
    fn demo_page_is_always_revalidated() {
        let response = DEMO_PAGE.respond(&HeaderMap::new());
        assert_eq!(response.headers()[header::CONTENT_TYPE], HTML);
        assert_eq!(
            response.headers()[header::CACHE_CONTROL],
            PAGE_CACHE_CONTROL
        );
        assert!(
            !response
                .headers()
                .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN)
        );
    }

    #[test]
    fn every_string_table_is_a_json_object() {
        for (language, body) in STRING_TABLES {
            let table: serde_json::Value = serde_json::from_str(body).unwrap();
            assert!(table.is_object(), "{language}.json is not an object");
            assert!(table["send"].is_string(), "{language}.json lacks `send`");
        }
    }

    #[tokio::test]
    async fn router_serves_string_table() {
        let response = raw_get("/widget/v1/i18n/ar.json", "").await;
        assert_eq!(status_line(&response), "HTTP/1.1 200 OK");
        assert!(response.contains("content-type: application/json"));
        assert!(response.contains("فتح المحادثة"));
    }

    #[tokio::test]
    async fn router_rejects_unknown_language() {
        for path in [
            "/widget/v1/i18n/xx.json",
            "/widget/v1/i18n/en",
            "/widget/v1/i18n/..%2Fwidget.js",
        ] {
            let response = raw_get(path, "").await;
            assert_eq!(status_line(&response), "HTTP/1.1 404 Not Found", "{path}");
        }
    }

    #[tokio::test]
    async fn router_answers_if_none_match_with_304() {
        let etag = DEMO_PAGE.etag.to_str().unwrap();
        let response = raw_get("/", &format!("If-None-Match: {etag}\r\n")).await;
        assert_eq!(status_line(&response), "HTTP/1.1 304 Not Modified");
    }
}
