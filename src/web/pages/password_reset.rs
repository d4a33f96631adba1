//! 「パスワードをお忘れの方」: `/login/forgot` asks for the email address and answers the
//! same either way; the emailed link opens `/login/reset`, which moves its token into a
//! cookie for that page alone and asks for the new password (and a code when two-step
//! verification is on).

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{RawQuery, State};
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
use crate::web::session::RESET_LINK;
use crate::web::{Lang, WebError, WebState, paths, secure_cookies};

pub fn router() -> Routes {
    Routes::new()
        .route("/login/forgot", get(show_forgot).post(submit_forgot))
        .route(RESET_LINK.path, get(show_reset).post(submit_reset))
}

#[derive(Template, WebTemplate)]
#[template(path = "forgot.html")]
struct ForgotPage {
    chrome: Chrome,
    /// Email can be sent: the form is shown.
    possible: bool,
    sent: bool,
    email: String,
    error: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "reset.html")]
struct ResetPage {
    chrome: Chrome,
    /// The link works: the form is shown.
    valid: bool,
    /// Two-step verification is on: the form asks for a code too.
    two_step: bool,
    min_password: usize,
    error: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ForgotForm {
    email: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ResetForm {
    new_password: String,
    new_password_confirm: String,
    code: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Query {
    sent: String,
    token: String,
}

fn query(raw: Option<String>) -> Query {
    serde_urlencoded::from_str(raw.as_deref().unwrap_or("")).unwrap_or_default()
}

fn forgot_page(state: &WebState, lang: Lang, csrf: CsrfToken, sent: bool) -> ForgotPage {
    ForgotPage {
        chrome: Chrome::new(lang, csrf, false),
        possible: state.auth().links_by_email(),
        sent,
        email: String::new(),
        error: None,
    }
}

async fn show_forgot(
    State(state): State<WebState>,
    lang: Lang,
    csrf: CsrfToken,
    RawQuery(raw): RawQuery,
) -> ForgotPage {
    forgot_page(&state, lang, csrf, !query(raw).sent.is_empty())
}

async fn submit_forgot(
    State(state): State<WebState>,
    lang: Lang,
    csrf: CsrfToken,
    client: Client,
    WebForm(form): WebForm<ForgotForm>,
) -> Result<Response, WebError> {
    match state
        .auth()
        .request_password_reset(&form.email, &client)
        .await
    {
        // The same redirect whether or not the address has an account.
        Ok(()) => Ok(Redirect::to(&paths::to("/login/forgot?sent=1")).into_response()),
        Err(err) => {
            let (status, message) = refusal(lang, err)?;
            let page = ForgotPage {
                email: form.email.chars().take(254).collect(),
                error: Some(message),
                ..forgot_page(&state, lang, csrf, false)
            };
            Ok((status, page).into_response())
        }
    }
}

fn reset_page(
    state: &WebState,
    lang: Lang,
    csrf: CsrfToken,
    two_step: Option<bool>,
    error: Option<String>,
) -> Response {
    let status = link_status(two_step.is_some());
    let page = ResetPage {
        chrome: Chrome::new(lang, csrf, false),
        valid: two_step.is_some(),
        two_step: two_step.unwrap_or(false),
        min_password: state.auth().policy().min_password_chars,
        error,
    };
    (status, page).into_response()
}

async fn show_reset(
    State(state): State<WebState>,
    lang: Lang,
    csrf: CsrfToken,
    jar: CookieJar,
    RawQuery(raw): RawQuery,
) -> Result<Response, WebError> {
    let q = query(raw);
    if !q.token.is_empty() {
        return Ok(RESET_LINK.keep_token(jar, q.token, secure_cookies(&state)));
    }
    let view = match RESET_LINK.token(&jar) {
        Some(token) => state.auth().password_reset_view(&token).await?,
        None => None,
    };
    Ok(reset_page(
        &state,
        lang,
        csrf,
        view.map(|v| v.two_step),
        None,
    ))
}

async fn submit_reset(
    State(state): State<WebState>,
    lang: Lang,
    csrf: CsrfToken,
    client: Client,
    jar: CookieJar,
    WebForm(form): WebForm<ResetForm>,
) -> Result<Response, WebError> {
    let Some(token) = RESET_LINK.token(&jar) else {
        return Ok(reset_page(&state, lang, csrf, None, None));
    };
    let auth = state.auth();
    let two_step = auth.password_reset_view(&token).await?.map(|v| v.two_step);
    if two_step.is_some() && form.new_password != form.new_password_confirm {
        let message = lang.texts().err_passwords_differ.to_owned();
        let page = reset_page(&state, lang, csrf, two_step, Some(message));
        return Ok((StatusCode::BAD_REQUEST, page).into_response());
    }
    let new = SecretString::from(form.new_password);
    match auth.reset_password(&token, &new, &form.code, &client).await {
        Ok(()) => {
            let jar = jar.remove(RESET_LINK.removal());
            Ok((jar, Redirect::to(&paths::to("/login?reset=1"))).into_response())
        }
        Err(AuthError::ResetLinkInvalid) => {
            let jar = jar.remove(RESET_LINK.removal());
            Ok((jar, reset_page(&state, lang, csrf, None, None)).into_response())
        }
        Err(err) => {
            let (status, message) = refusal(lang, err)?;
            let page = reset_page(&state, lang, csrf, two_step, Some(message));
            Ok((status, page).into_response())
        }
    }
}
