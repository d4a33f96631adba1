//! HTML pages: handlers translate HTTP to `auth` use-cases and back. No SQL, no crypto details.

pub mod client;
mod csrf;
mod error;
mod form;
pub mod headers;
mod i18n;
mod metrics;
mod pages;
pub mod paths;
pub mod qr;
mod request_id;
pub mod routes;
mod same_origin;
pub mod session;

/// Whether cookies carry the Secure attribute (the public URL is https).
pub fn secure_cookies(state: &WebState) -> bool {
    state.0.secure_cookies
}

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::StatusCode;
use axum::middleware;
use axum::response::IntoResponse;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::auth::access::AccessRules;
use crate::auth::{AuthService, redirect};
use crate::crypto::ServerKey;
use routes::Routes;

pub use error::WebError;
pub use i18n::Lang;

/// No form of ours comes near this; anything larger is refused unread.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// How the pages and forward-auth behave, from the configuration.
pub struct WebSettings {
    /// Without a trailing slash, e.g. `https://login.example.home`.
    pub public_url: String,
    pub cookie_domain: Option<String>,
    pub allowed_redirect_domains: Vec<String>,
    pub access: AccessRules,
    /// Whether one app of the built-in proxy takes every path that is not nidan's.
    pub app_at_root: bool,
    /// Reverse proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Whether `/metrics` is served here (no `--metrics-listen`).
    pub metrics_on_main_listener: bool,
    /// "" or e.g. `/.nidan`: where all of nidan's own paths live.
    pub pages_prefix: Arc<str>,
}

#[derive(Clone)]
pub struct WebState(Arc<Inner>);

struct Inner {
    auth: AuthService,
    csrf_key: [u8; 32],
    secure_cookies: bool,
    settings: WebSettings,
    request_ids: request_id::RequestIds,
}

impl WebState {
    pub fn new(auth: AuthService, key: &ServerKey, settings: WebSettings) -> Self {
        Self(Arc::new(Inner {
            auth,
            csrf_key: key.derive("csrf"),
            secure_cookies: settings.public_url.starts_with("https://"),
            settings,
            request_ids: request_id::RequestIds::new(),
        }))
    }

    pub fn auth(&self) -> &AuthService {
        &self.0.auth
    }

    pub fn settings(&self) -> &WebSettings {
        &self.0.settings
    }

    pub fn request_ids(&self) -> &request_id::RequestIds {
        &self.0.request_ids
    }

    /// Where to go after sign-in: an allowed `rd`, else a local `next`, else the front of
    /// the site ([`Self::home`]).
    pub fn destination(&self, next: &str, rd: &str) -> String {
        let to = redirect::destination(next, rd, &self.0.settings.allowed_redirect_domains);
        if to == "/" { self.home() } else { to }
    }

    /// The front of the site: the app when one upstream takes every path, else nidan's home.
    pub fn home(&self) -> String {
        if self.0.settings.app_at_root {
            "/".to_owned()
        } else {
            paths::to("/")
        }
    }
}

/// What the main router answers with metrics on it: what a catch-all upstream cannot have.
pub fn own_paths() -> routes::OwnPaths {
    let mut own = pages::router().into_parts().1;
    own.extend(crate::api::router().into_parts().1);
    own.extend(crate::api::forward_auth_router().into_parts().1);
    own.extend(metrics::route().into_parts().1);
    own
}

/// `/metrics` alone, for its own listener.
pub fn metrics_router(auth: AuthService) -> Router {
    metrics::router(auth)
}

/// The pages (behind CSRF protection and language negotiation), `extra` routes that take
/// neither (the JSON API), and `forward_auth`, which skips everything only pages need.
pub fn router(
    state: WebState,
    extra: Routes,
    forward_auth: Routes,
    request_timeout: Duration,
    // What goes in front of nidan's routes, told which paths they answer: the built-in
    // proxy, or nothing.
    in_front: impl FnOnce(Router<WebState>, &WebState, routes::OwnPaths) -> Router<WebState>,
) -> Router {
    let (pages, mut own_paths) = pages::router().into_parts();
    let (extra, extra_paths) = extra.into_parts();
    let (forward_auth, forward_auth_paths) = forward_auth.into_parts();
    own_paths.extend(extra_paths);
    own_paths.extend(forward_auth_paths);
    let pages = pages
        .fallback(|| async { WebError::NotFound })
        .layer(middleware::from_fn_with_state(state.clone(), csrf::guard))
        .layer(middleware::from_fn(i18n::negotiate))
        .merge(extra);
    let pages = pages.layer(middleware::from_fn(same_origin::refuse_scripts));
    let pages = if state.settings().metrics_on_main_listener {
        let (metrics, metrics_paths) = metrics::route().into_parts();
        own_paths.extend(metrics_paths);
        pages.merge(metrics)
    } else {
        pages
    };
    let redirect_domains = state.settings().allowed_redirect_domains.clone();
    // Outside the limits, so that their own answers (413, 408) carry the headers too.
    let pages = pages
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            request_timeout,
        ));
    let pages = headers::with_security_headers(pages, &redirect_domains);
    // Forward-auth answers the proxy once for every request to the guarded app, with an
    // empty body and a body it never reads: no page headers, limits, timeout or log span
    // around it (its one log line names the request id itself).
    let app = pages
        // The span names the route pattern, never the raw path: setup links carry tokens.
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let route = req
                .extensions()
                .get::<MatchedPath>()
                .map_or("-", MatchedPath::as_str);
            let request_id = req
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-");
            tracing::info_span!("request", method = %req.method(), route, request_id)
        }))
        .merge(forward_auth);
    let prefix = state.settings().pages_prefix.clone();
    let app = if prefix.is_empty() {
        app
    } else {
        // Every other path is the app's (or, without one, nobody's).
        Router::new().nest(&prefix, app).fallback(|| async {
            let mut response = StatusCode::NOT_FOUND.into_response();
            headers::secure(&mut response);
            response
        })
    };
    // Outermost: the guarded app's requests and responses pass untouched by nidan's
    // headers, body limit and timeout (live streams never end).
    let app = in_front(app, &state, own_paths);
    // Outside the built-in proxy too.
    app.layer(middleware::from_fn_with_state(state.clone(), edge))
        .with_state(state)
}

/// Around every request, the guarded app's included, as one middleware (each one more costs
/// every forward-auth answer some allocations): the pages prefix known to `paths::to`, the
/// request id and metrics, and nidan's cookies once or not at all for every reader of them.
async fn edge(
    axum::extract::State(state): axum::extract::State<WebState>,
    mut req: Request,
    next: middleware::Next,
) -> axum::response::Response {
    session::drop_repeated_cookies(&mut req);
    paths::scope(&state, metrics::observe(&state, req, next)).await
}
