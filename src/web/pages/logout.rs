use crate::auth::Client;
use crate::web::routes::Routes;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use axum_extra::extract::cookie::CookieJar;

use crate::web::paths;
use crate::web::session::{session_removal, session_token};
use crate::web::{WebError, WebState};

pub fn router() -> Routes {
    Routes::new().route("/logout", post(sign_out))
}

async fn sign_out(
    State(state): State<WebState>,
    client: Client,
    jar: CookieJar,
) -> Result<Response, WebError> {
    if let Some(token) = session_token(&jar) {
        state.auth().sign_out(&token, &client).await?;
    }
    let jar = jar.remove(session_removal(&state));
    Ok((jar, Redirect::to(&paths::to("/login?signed_out=1"))).into_response())
}
