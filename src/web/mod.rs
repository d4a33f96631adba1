//! HTML pages: handlers translate HTTP to `auth` use-cases and back. No SQL, no crypto details.

mod csrf;
mod error;
mod form;
mod headers;
mod i18n;
mod pages;
mod qr;
mod session;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::StatusCode;
use axum::middleware;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::auth::AuthService;
use crate::crypto::ServerKey;

pub use error::WebError;
pub use i18n::Lang;

/// No form of ours comes near this; anything larger is refused unread.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

#[derive(Clone)]
pub struct WebState(Arc<Inner>);

struct Inner {
    auth: AuthService,
    csrf_key: [u8; 32],
    secure_cookies: bool,
}

impl WebState {
    pub fn new(auth: AuthService, key: &ServerKey, secure_cookies: bool) -> Self {
        Self(Arc::new(Inner {
            auth,
            csrf_key: key.derive("csrf"),
            secure_cookies,
        }))
    }

    fn auth(&self) -> &AuthService {
        &self.0.auth
    }
}

pub fn router(state: WebState, request_timeout: Duration) -> Router {
    let pages = Router::new()
        .merge(pages::router())
        .fallback(|| async { WebError::NotFound })
        .layer(middleware::from_fn_with_state(state.clone(), csrf::guard))
        .layer(middleware::from_fn(i18n::negotiate));
    headers::with_security_headers(pages)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            request_timeout,
        ))
        // The span names the route pattern, never the raw path: setup links carry tokens.
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let route = req
                .extensions()
                .get::<MatchedPath>()
                .map_or("-", MatchedPath::as_str);
            tracing::info_span!("request", method = %req.method(), route)
        }))
        .with_state(state)
}
