//! For programs rather than people: forward-auth for reverse proxies and the JSON API.
//! No form tokens and no language here: forward-auth changes nothing, and the API's writes
//! need a header that no cross-site form can send.

mod account;
mod forward_auth;
mod problem;
pub mod v1;

use crate::web::routes::Routes;

/// The JSON API.
pub fn router() -> Routes {
    v1::router()
}

/// `/auth/verify`, served apart from the pages' layers.
pub fn forward_auth_router() -> Routes {
    forward_auth::router()
}
