//! For programs rather than people: forward-auth for reverse proxies and the JSON API.
//! No form tokens and no language here: forward-auth changes nothing, and the API's writes
//! need a header that no cross-site form can send.

mod forward_auth;
mod problem;
pub mod v1;

use axum::Router;

use crate::web::WebState;

pub fn router() -> Router<WebState> {
    Router::new()
        .merge(forward_auth::router())
        .merge(v1::router())
}
