//! One module per path, each with its handlers and `router()`.

mod home;
mod login;
mod logout;
mod mypage;
mod setup;
mod static_files;

use axum::Router;
use axum::http::StatusCode;

use super::csrf::CsrfToken;
use super::i18n::{Lang, Texts, minutes};
use super::{WebError, WebState};
use crate::auth::AuthError;

pub fn router() -> Router<WebState> {
    Router::new()
        .merge(home::router())
        .merge(login::router())
        .merge(logout::router())
        .merge(mypage::router())
        .merge(setup::router())
        .merge(static_files::router())
}

/// What the shared layout needs: the words, the CSRF token, and whether to show the menu.
pub struct Chrome {
    pub t: &'static Texts,
    pub csrf_token: String,
    pub signed_in: bool,
}

impl Chrome {
    pub fn new(lang: Lang, csrf: CsrfToken, signed_in: bool) -> Self {
        Self {
            t: lang.texts(),
            csrf_token: csrf.0,
            signed_in,
        }
    }
}

/// The words and status for a refusal a person can act on; anything else is a server error.
fn refusal(lang: Lang, now: i64, err: AuthError) -> Result<(StatusCode, String), WebError> {
    let t = lang.texts();
    let (status, text) = match err {
        AuthError::MissingCredentials => (StatusCode::BAD_REQUEST, t.err_missing_credentials),
        AuthError::InvalidEmail(_) => (StatusCode::BAD_REQUEST, t.err_invalid_email),
        AuthError::PasswordTooShort => (StatusCode::BAD_REQUEST, t.err_password_short),
        AuthError::PasswordTooLong => (StatusCode::BAD_REQUEST, t.err_password_long),
        AuthError::WrongCredentials => (StatusCode::UNAUTHORIZED, t.err_wrong_credentials),
        AuthError::EmailTaken => (StatusCode::CONFLICT, t.err_email_taken),
        AuthError::SetupLinkInvalid => (StatusCode::NOT_FOUND, t.setup_invalid),
        AuthError::Throttled { until } => {
            let wait = minutes(lang, until - now);
            return Ok((
                StatusCode::TOO_MANY_REQUESTS,
                format!("{} {wait}", t.err_throttled),
            ));
        }
        other => return Err(WebError::Auth(other)),
    };
    Ok((status, text.to_owned()))
}
