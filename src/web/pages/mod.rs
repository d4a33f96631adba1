//! One module per path, each with its handlers and `router()`.

mod email_change;
mod health;
mod home;
mod invitation;
mod login;
mod logout;
mod mypage;
mod password_change;
mod password_reset;
mod second_step;
mod setup;
mod static_files;
mod two_step_settings;

use crate::web::routes::Routes;
use axum::http::StatusCode;

use super::WebError;
use super::csrf::CsrfToken;
use super::i18n::{Lang, Texts, attempts_left, minutes};
use crate::auth::AuthError;

pub fn router() -> Routes {
    Routes::new()
        .merge(email_change::router())
        .merge(health::router())
        .merge(home::router())
        .merge(invitation::router())
        .merge(login::router())
        .merge(logout::router())
        .merge(mypage::router())
        .merge(password_reset::router())
        .merge(password_change::router())
        .merge(second_step::router())
        .merge(setup::router())
        .merge(static_files::router())
        .merge(two_step_settings::router())
}

/// What the shared layout needs: the words, the CSRF token, and whether to show the menu.
pub struct Chrome {
    pub t: &'static Texts,
    pub csrf_token: String,
    pub signed_in: bool,
    /// This page in the other language, its query (`rd`, `next`) kept.
    pub other_lang_href: String,
    /// What nidan's own links start with: "" or the pages prefix (`/.nidan`).
    pub base: std::sync::Arc<str>,
}

impl Chrome {
    pub fn new(lang: Lang, csrf: CsrfToken, signed_in: bool) -> Self {
        Self {
            t: lang.texts(),
            csrf_token: csrf.0,
            signed_in,
            other_lang_href: super::i18n::current_other_lang_href(lang),
            base: super::paths::prefix(),
        }
    }
}

/// A page opened by a link from an email: 410 Gone once the link no longer works.
fn link_status(works: bool) -> StatusCode {
    if works {
        StatusCode::OK
    } else {
        StatusCode::GONE
    }
}

/// The words and status for a refusal a person can act on; anything else is a server error.
fn refusal(lang: Lang, err: AuthError) -> Result<(StatusCode, String), WebError> {
    let t = lang.texts();
    let (status, text) = match err {
        AuthError::MissingCredentials => (StatusCode::BAD_REQUEST, t.err_missing_credentials),
        AuthError::InvalidEmail(_) => (StatusCode::BAD_REQUEST, t.err_invalid_email),
        AuthError::EmailLookAlike(_) => (StatusCode::BAD_REQUEST, t.err_email_look_alike),
        AuthError::PasswordTooShort { min } => {
            let text = t.err_password_short.replace("{min}", &min.to_string());
            return Ok((StatusCode::BAD_REQUEST, text));
        }
        AuthError::PasswordTooLong => (StatusCode::BAD_REQUEST, t.err_password_long),
        AuthError::PasswordTooCommon => (StatusCode::BAD_REQUEST, t.err_password_common),
        AuthError::PasswordUnchanged => (StatusCode::BAD_REQUEST, t.err_password_unchanged),
        AuthError::PasswordControlCharacters => (StatusCode::BAD_REQUEST, t.err_password_control),
        AuthError::ResetUnavailable => (StatusCode::FORBIDDEN, t.forgot_unavailable),
        AuthError::ResetLinkInvalid => (StatusCode::GONE, t.reset_invalid),
        AuthError::CodeRequired => (StatusCode::BAD_REQUEST, t.err_code_required),
        AuthError::InvitationInvalid => (StatusCode::GONE, t.invitation_invalid),
        AuthError::WrongCredentials => (StatusCode::UNAUTHORIZED, t.err_wrong_credentials),
        AuthError::EmailTaken => (StatusCode::CONFLICT, t.err_email_taken),
        AuthError::EmailUnchanged => (StatusCode::BAD_REQUEST, t.err_email_unchanged),
        AuthError::EmailChangeUnavailable => (StatusCode::FORBIDDEN, t.email_change_unavailable),
        AuthError::EmailChangeLinkInvalid => (StatusCode::GONE, t.email_confirm_invalid),
        AuthError::SetupLinkInvalid => (StatusCode::NOT_FOUND, t.setup_invalid),
        AuthError::WrongPassword => (StatusCode::UNAUTHORIZED, t.err_wrong_password),
        AuthError::CodeFormat => (StatusCode::BAD_REQUEST, t.err_code_format),
        AuthError::BackupCodeFormat => (StatusCode::BAD_REQUEST, t.err_backup_format),
        AuthError::WrongCode { attempts_left: n } => {
            let left = n.map(|n| attempts_left(lang, n)).unwrap_or_default();
            let text = format!("{} {left}", t.err_wrong_code);
            return Ok((StatusCode::UNAUTHORIZED, text.trim_end().to_owned()));
        }
        AuthError::SetupExpired => (StatusCode::BAD_REQUEST, t.err_setup_expired),
        AuthError::Throttled { retry_after } => {
            let wait = minutes(lang, retry_after.as_secs() as i64);
            return Ok((
                StatusCode::TOO_MANY_REQUESTS,
                format!("{} {wait}", t.err_throttled),
            ));
        }
        AuthError::SecondStepLocked { retry_after } => {
            let wait = minutes(lang, retry_after.as_secs() as i64);
            return Ok((
                StatusCode::TOO_MANY_REQUESTS,
                format!("{} {wait}", t.err_second_step_locked),
            ));
        }
        other => return Err(WebError::Auth(other)),
    };
    Ok((status, text.to_owned()))
}
