//! For load balancers and orchestrators: `/healthz` (the process answers) and `/readyz`
//! (the database answers and its schema is current).

use crate::web::routes::Routes;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;

use crate::web::WebState;

pub fn router() -> Routes {
    Routes::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
}

/// A load balancer probes with a short timeout: the answer comes within this, whatever
/// the database does.
const READY_DEADLINE: Duration = Duration::from_millis(800);

async fn ready(State(state): State<WebState>) -> (StatusCode, &'static str) {
    match tokio::time::timeout(READY_DEADLINE, state.auth().ready()).await {
        Ok(true) => (StatusCode::OK, "ready"),
        Ok(false) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "database unavailable, full, or schema not current",
        ),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the database did not answer within 0.8 s",
        ),
    }
}
