//! First start: `/setup/<token>` creates the first administrator.

use crate::auth::Client;
use crate::web::routes::Routes;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum_extra::extract::cookie::CookieJar;
use secrecy::SecretString;
use serde::Deserialize;

use super::{Chrome, refusal};
use crate::web::csrf::CsrfToken;
use crate::web::form::WebForm;
use crate::web::paths;
use crate::web::session::with_session;
use crate::web::{Lang, WebError, WebState};

pub fn router() -> Routes {
    Routes::new().route("/setup/{token}", get(show).post(submit))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SetupForm {
    email: String,
    password: String,
    password_confirm: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "setup.html")]
struct SetupPage {
    chrome: Chrome,
    /// The shortest password accepted, for the hint and the field's `minlength`.
    min_password: usize,
    valid: bool,
    email: String,
    error: Option<String>,
}

async fn show(
    State(state): State<WebState>,
    lang: Lang,
    csrf: CsrfToken,
    Path(token): Path<String>,
) -> Result<Response, WebError> {
    let valid = state.auth().setup_link_valid(&token).await?;
    let page = SetupPage {
        chrome: Chrome::new(lang, csrf, false),
        min_password: state.auth().policy().min_password_chars,
        valid,
        email: String::new(),
        error: None,
    };
    let status = if valid {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    };
    Ok((status, page).into_response())
}

async fn submit(
    State(state): State<WebState>,
    lang: Lang,
    csrf: CsrfToken,
    Path(token): Path<String>,
    client: Client,
    jar: CookieJar,
    WebForm(form): WebForm<SetupForm>,
) -> Result<Response, WebError> {
    let refused = |status: StatusCode, message: String, valid: bool, csrf: CsrfToken| {
        let page = SetupPage {
            chrome: Chrome::new(lang, csrf, false),
            min_password: state.auth().policy().min_password_chars,
            valid,
            email: form.email.chars().take(254).collect(),
            error: Some(message),
        };
        (status, page).into_response()
    };
    if form.password != form.password_confirm {
        let valid = state.auth().setup_link_valid(&token).await?;
        let message = lang.texts().err_passwords_differ.to_owned();
        return Ok(refused(StatusCode::BAD_REQUEST, message, valid, csrf));
    }
    let password = SecretString::from(form.password.clone());
    match state
        .auth()
        .create_first_admin(&token, &form.email, &password, &client)
        .await
    {
        Ok(session) => {
            let jar = with_session(&state, jar, session);
            Ok((jar, Redirect::to(&paths::to("/mypage"))).into_response())
        }
        Err(err) => {
            let (status, message) = refusal(lang, err)?;
            let valid = status != StatusCode::NOT_FOUND;
            Ok(refused(status, message, valid, csrf))
        }
    }
}
