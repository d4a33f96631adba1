//! The second step at sign-in: `/login/2fa` (code from the app) and `/login/backup`.

use crate::auth::Client;
use crate::web::routes::Routes;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;

use super::login::{Restart, restart};
use super::{Chrome, refusal};
use crate::auth::{AuthError, SecondFactor};
use crate::web::csrf::CsrfToken;
use crate::web::form::WebForm;
use crate::web::paths;
use crate::web::session::{pending_removal, pending_token, with_session};
use crate::web::{Lang, WebError, WebState};

pub fn router() -> Routes {
    Routes::new()
        .route("/login/2fa", get(show_code).post(submit_code))
        .route("/login/backup", get(show_backup).post(submit_backup))
}

#[derive(Template, WebTemplate)]
#[template(path = "second_step.html")]
struct SecondStepPage {
    chrome: Chrome,
    backup: bool,
    error: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CodeForm {
    code: String,
}

async fn show_code(
    state: State<WebState>,
    lang: Lang,
    csrf: CsrfToken,
    jar: CookieJar,
) -> Result<Response, WebError> {
    show(state, lang, csrf, jar, SecondFactor::Totp).await
}

async fn show_backup(
    state: State<WebState>,
    lang: Lang,
    csrf: CsrfToken,
    jar: CookieJar,
) -> Result<Response, WebError> {
    show(state, lang, csrf, jar, SecondFactor::BackupCode).await
}

async fn submit_code(
    state: State<WebState>,
    lang: Lang,
    csrf: CsrfToken,
    client: Client,
    jar: CookieJar,
    WebForm(form): WebForm<CodeForm>,
) -> Result<Response, WebError> {
    submit(state, lang, csrf, client, jar, SecondFactor::Totp, form).await
}

async fn submit_backup(
    state: State<WebState>,
    lang: Lang,
    csrf: CsrfToken,
    client: Client,
    jar: CookieJar,
    WebForm(form): WebForm<CodeForm>,
) -> Result<Response, WebError> {
    submit(
        state,
        lang,
        csrf,
        client,
        jar,
        SecondFactor::BackupCode,
        form,
    )
    .await
}

/// Only a live pending sign-in opens these pages.
async fn show(
    State(state): State<WebState>,
    lang: Lang,
    csrf: CsrfToken,
    jar: CookieJar,
    factor: SecondFactor,
) -> Result<Response, WebError> {
    let live = match pending_token(&jar) {
        Some(token) => state.auth().pending_login_valid(&token).await?,
        None => false,
    };
    if !live {
        return Ok((
            jar.remove(pending_removal("/login")),
            restart(Restart::Expired),
        )
            .into_response());
    }
    let page = SecondStepPage {
        chrome: Chrome::new(lang, csrf, false),
        backup: factor == SecondFactor::BackupCode,
        error: None,
    };
    Ok(page.into_response())
}

async fn submit(
    State(state): State<WebState>,
    lang: Lang,
    csrf: CsrfToken,
    client: Client,
    jar: CookieJar,
    factor: SecondFactor,
    form: CodeForm,
) -> Result<Response, WebError> {
    let Some(token) = pending_token(&jar) else {
        return Ok(restart(Restart::Expired).into_response());
    };
    let backup = factor == SecondFactor::BackupCode;
    let err = match state
        .auth()
        .second_step(&token, factor, &form.code, &client)
        .await
    {
        Ok(done) => {
            let jar = with_session(&state, jar.remove(pending_removal("/login")), done.session);
            let to = match done.backup_codes_left {
                Some(_) => paths::to("/mypage?notice=backup_used"),
                // Checked when the pending sign-in was made; checked again all the same.
                None => state.destination(&done.next, &done.next),
            };
            return Ok((jar, Redirect::to(&to)).into_response());
        }
        Err(err) => err,
    };
    let (status, message) = match err {
        AuthError::PendingExpired => {
            return Ok((
                jar.remove(pending_removal("/login")),
                restart(Restart::Expired),
            )
                .into_response());
        }
        AuthError::TooManyWrongCodes => {
            let to = restart(Restart::TooManyCodes);
            return Ok((jar.remove(pending_removal("/login")), to).into_response());
        }
        AuthError::WrongCode { .. } if backup => (
            StatusCode::UNAUTHORIZED,
            lang.texts().err_wrong_backup.to_owned(),
        ),
        other => refusal(lang, other)?,
    };
    let page = SecondStepPage {
        chrome: Chrome::new(lang, csrf, false),
        backup,
        error: Some(message),
    };
    Ok((status, page).into_response())
}
