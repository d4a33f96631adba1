//! `/metrics` for Prometheus, and the middleware that counts and times every request.

use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::{WebError, WebState};
use crate::auth::AuthService;

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

async fn exposition(auth: &AuthService) -> Result<Response, WebError> {
    let text = auth.metrics_text().await?;
    Ok(([(CONTENT_TYPE, OPENMETRICS)], text).into_response())
}

/// On the main listener (the default).
pub fn route() -> Router<WebState> {
    Router::new().route(
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

/// Counts each request by route pattern (never the raw path), method and status.
pub async fn count(State(state): State<WebState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = req.method().as_str().to_owned();
    let response = next.run(req).await;
    state.auth().count_request(
        &route,
        &method,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}
