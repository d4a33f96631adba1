//! `/metrics` for Prometheus, and the middleware that counts and times every request.

use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::request_id::X_REQUEST_ID;
use super::{WebError, WebState};
use crate::auth::AuthService;

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

async fn exposition(auth: &AuthService) -> Result<Response, WebError> {
    let text = auth.metrics_text().await?;
    Ok(([(CONTENT_TYPE, OPENMETRICS)], text).into_response())
}

/// On the main listener (the default).
pub fn route() -> super::routes::Routes {
    super::routes::Routes::new().route(
        "/metrics",
        get(|State(state): State<WebState>| async move { exposition(state.auth()).await }),
    )
}

/// On a listener of its own (`--metrics-listen`), with nothing else there.
pub fn router(auth: AuthService) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(|State(auth): State<AuthService>| async move { exposition(&auth).await }),
        )
        .with_state(auth)
}

/// Route patterns are few and fixed (the router's): keep one copy of each for the labels.
fn intern(route: &str) -> &'static str {
    static ROUTES: std::sync::RwLock<Vec<&'static str>> = std::sync::RwLock::new(Vec::new());
    let known = ROUTES.read().unwrap_or_else(|e| e.into_inner());
    if let Some(r) = known.iter().find(|r| **r == route) {
        return r;
    }
    drop(known);
    let mut known = ROUTES.write().unwrap_or_else(|e| e.into_inner());
    if let Some(r) = known.iter().find(|r| **r == route) {
        return r;
    }
    let leaked: &'static str = Box::leak(route.to_owned().into_boxed_str());
    known.push(leaked);
    leaked
}

/// Methods outside the standard ones share one label, so a client cannot grow the series.
fn method_name(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::HEAD => "HEAD",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}

/// A caller's request id is taken when it is short printable ASCII (a UUID, a trace id);
/// anything else would make log lines long or odd, and gets a new id instead.
fn fit_for_the_log(id: &axum::http::HeaderValue) -> bool {
    (1..=MAX_REQUEST_ID_BYTES).contains(&id.len()) && id.as_bytes().iter().all(u8::is_ascii_graphic)
}

const MAX_REQUEST_ID_BYTES: usize = 128;

/// Around every request: its id (the caller's own when fit for the log, else a new one) in the request for the
/// log span and the built-in proxy, and in the response; then counted by route pattern
/// (never the raw path), method and status.
pub async fn observe(state: &WebState, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = match req
        .headers()
        .get(&X_REQUEST_ID)
        .filter(|id| fit_for_the_log(id))
    {
        Some(id) => id.clone(),
        None => {
            let id = state.request_ids().next();
            req.headers_mut().insert(X_REQUEST_ID.clone(), id.clone());
            id
        }
    };
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| intern(p.as_str()));
    let method = method_name(req.method());
    let mut response = next.run(req).await;
    state.auth().count_request(
        route,
        method,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
        .headers_mut()
        .entry(X_REQUEST_ID.clone())
        .or_insert(id);
    response
}
