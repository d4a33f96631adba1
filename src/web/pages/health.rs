//! For load balancers and orchestrators: `/healthz` (the process answers) and `/readyz`
//! (the database answers and its schema is current).

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;

use crate::web::WebState;

pub fn router() -> Router<WebState> {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
}

async fn ready(State(state): State<WebState>) -> (StatusCode, &'static str) {
    if state.auth().ready().await {
        (StatusCode::OK, "ready")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "database unavailable or schema not current",
        )
    }
}
