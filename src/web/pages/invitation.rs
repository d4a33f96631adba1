//! `/invite/<token>`: the invited person chooses their own password, and is signed in (and
//! sent to set up two-step verification when every app requires it).

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum_extra::extract::cookie::CookieJar;
use secrecy::SecretString;
use serde::Deserialize;

use super::{Chrome, link_status, refusal};
use crate::auth::{AuthError, Client};
use crate::web::csrf::CsrfToken;
use crate::web::form::WebForm;
use crate::web::routes::Routes;
use crate::web::session::with_session;
use crate::web::{Lang, WebError, WebState, paths};

pub fn router() -> Routes {
    Routes::new().route("/invite/{token}", get(show).post(submit))
}

#[derive(Template, WebTemplate)]
#[template(path = "invitation.html")]
struct InvitationPage {
    chrome: Chrome,
    /// The invited address; `None` when the link does not work.
    email: Option<String>,
    min_password: usize,
    error: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct InvitationForm {
    password: String,
    password_confirm: String,
}

fn page(
    state: &WebState,
    lang: Lang,
    csrf: CsrfToken,
    email: Option<String>,
    error: Option<String>,
) -> Response {
    let status = link_status(email.is_some());
    let page = InvitationPage {
        chrome: Chrome::new(lang, csrf, false),
        email,
        min_password: state.auth().policy().min_password_chars,
        error,
    };
    (status, page).into_response()
}

async fn show(
    State(state): State<WebState>,
    lang: Lang,
    csrf: CsrfToken,
    Path(token): Path<String>,
) -> Result<Response, WebError> {
    let email = state.auth().invitation_for(&token).await?.map(|i| i.email);
    Ok(page(&state, lang, csrf, email, None))
}

async fn submit(
    State(state): State<WebState>,
    lang: Lang,
    csrf: CsrfToken,
    client: Client,
    jar: CookieJar,
    Path(token): Path<String>,
    WebForm(form): WebForm<InvitationForm>,
) -> Result<Response, WebError> {
    let auth = state.auth();
    let email = auth.invitation_for(&token).await?.map(|i| i.email);
    if email.is_some() && form.password != form.password_confirm {
        let message = lang.texts().err_passwords_differ.to_owned();
        let page = page(&state, lang, csrf, email, Some(message));
        return Ok((StatusCode::BAD_REQUEST, page).into_response());
    }
    let password = SecretString::from(form.password);
    match auth.accept_invitation(&token, &password, &client).await {
        Ok(session) => {
            let jar = with_session(&state, jar, session);
            let to = if state.settings().access.require_two_step {
                "/mypage/2fa/setup"
            } else {
                "/mypage"
            };
            Ok((jar, Redirect::to(&paths::to(to))).into_response())
        }
        Err(AuthError::InvitationInvalid) => Ok(page(&state, lang, csrf, None, None)),
        Err(err) => {
            let (status, message) = refusal(lang, err)?;
            let page = page(&state, lang, csrf, email, Some(message));
            Ok((status, page).into_response())
        }
    }
}
