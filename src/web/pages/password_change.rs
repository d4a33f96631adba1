//! マイページ →「パスワードの変更」: the current password, the new one twice.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum_extra::extract::cookie::CookieJar;
use secrecy::SecretString;
use serde::Deserialize;

use super::{Chrome, refusal};
use crate::auth::{AuthError, Client};
use crate::web::csrf::CsrfToken;
use crate::web::form::WebForm;
use crate::web::paths;
use crate::web::routes::Routes;
use crate::web::session::{CurrentUser, with_session};
use crate::web::{Lang, WebError, WebState};

pub fn router() -> Routes {
    Routes::new().route("/mypage/password", get(show).post(submit))
}

/// Which field a refusal is about, for `aria-invalid` and the focus.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Field {
    None,
    Current,
    New,
}

#[derive(Template, WebTemplate)]
#[template(path = "password_change.html")]
struct PasswordChangePage {
    chrome: Chrome,
    /// For password managers: which account the new password belongs to.
    email: String,
    /// The shortest password accepted, for the hint and the fields' `minlength`.
    min_password: usize,
    error: Option<String>,
    field: Field,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct PasswordChangeForm {
    current_password: String,
    new_password: String,
    new_password_confirm: String,
}

fn page(
    state: &WebState,
    lang: Lang,
    csrf: CsrfToken,
    email: String,
    error: Option<(String, Field)>,
) -> PasswordChangePage {
    let (error, field) = error.map_or((None, Field::None), |(m, f)| (Some(m), f));
    PasswordChangePage {
        chrome: Chrome::new(lang, csrf, true),
        email,
        min_password: state.auth().policy().min_password_chars,
        error,
        field,
    }
}

async fn show(
    State(state): State<WebState>,
    lang: Lang,
    csrf: CsrfToken,
    CurrentUser(user): CurrentUser,
) -> PasswordChangePage {
    page(&state, lang, csrf, user.email, None)
}

async fn submit(
    State(state): State<WebState>,
    lang: Lang,
    csrf: CsrfToken,
    client: Client,
    CurrentUser(user): CurrentUser,
    jar: CookieJar,
    WebForm(form): WebForm<PasswordChangeForm>,
) -> Result<Response, WebError> {
    if form.new_password != form.new_password_confirm {
        let message = lang.texts().err_passwords_differ.to_owned();
        let page = page(&state, lang, csrf, user.email, Some((message, Field::New)));
        return Ok((StatusCode::BAD_REQUEST, page).into_response());
    }
    let current = SecretString::from(form.current_password);
    let new = SecretString::from(form.new_password);
    match state
        .auth()
        .change_password(&user, &current, &new, &client)
        .await
    {
        Ok(session) => {
            let jar = with_session(&state, jar, session);
            let to = paths::to("/mypage?notice=password_changed");
            Ok((jar, Redirect::to(&to)).into_response())
        }
        Err(err) => {
            let field = match err {
                AuthError::WrongPassword | AuthError::Throttled { .. } => Field::Current,
                _ => Field::New,
            };
            let (status, message) = refusal(lang, err)?;
            let page = page(&state, lang, csrf, user.email, Some((message, field)));
            Ok((status, page).into_response())
        }
    }
}
