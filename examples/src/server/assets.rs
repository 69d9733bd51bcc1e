//! The voice page, embedded in the binary: no build step, no npm.

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// `(name, content type, body)` of every file the page loads.
const FILES: &[(&str, &str, &str)] = &[
    (
        "index.html",
        "text/html; charset=utf-8",
        include_str!("../../web/index.html"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../../web/app.js"),
    ),
    // AudioWorklet modules must be served as JavaScript.
    (
        "capture-worklet.js",
        "text/javascript; charset=utf-8",
        include_str!("../../web/capture-worklet.js"),
    ),
    (
        "playback-worklet.js",
        "text/javascript; charset=utf-8",
        include_str!("../../web/playback-worklet.js"),
    ),
];

/// The page's scripts come only from this server; the socket goes back to it.
const CSP: &str = "default-src 'self'; style-src 'self' 'unsafe-inline'; \
                   connect-src 'self' ws: wss:; media-src 'self' blob: mediastream:";

pub(super) async fn index() -> Response {
    serve("index.html")
}

pub(super) async fn file(Path(name): Path<String>) -> Response {
    serve(&name)
}

fn serve(name: &str) -> Response {
    match FILES.iter().find(|(n, _, _)| *n == name) {
        Some((_, content_type, body)) => (
            [
                (header::CONTENT_TYPE, *content_type),
                (header::CACHE_CONTROL, "no-cache"),
                (header::CONTENT_SECURITY_POLICY, CSP),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            *body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "not found\n").into_response(),
    }
}
