//! For programs rather than people: forward-auth for reverse proxies (the JSON API follows).
//! These routes take no CSRF token and no language: they change nothing and show no page.

mod forward_auth;

use axum::Router;

use crate::web::WebState;

pub fn router() -> Router<WebState> {
    Router::new().merge(forward_auth::router())
}
