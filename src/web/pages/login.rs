use crate::auth::Client;
use crate::web::routes::Routes;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum_extra::extract::cookie::CookieJar;
use secrecy::SecretString;
use serde::Deserialize;

use super::{Chrome, refusal};
use crate::auth::{LoginAttempt, LoginOutcome, redirect};
use crate::web::csrf::CsrfToken;
use crate::web::form::WebForm;
use crate::web::paths;
use crate::web::session::{MaybeUser, local_path, pending_cookie, with_session};
use crate::web::{Lang, WebError, WebState};

pub fn router() -> Routes {
    Routes::new().route("/login", get(show).post(submit))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct LoginQuery {
    next: String,
    /// The guarded app's URL, from forward-auth.
    rd: String,
    signed_out: String,
    /// A new password was just set through a reset link.
    reset: String,
    /// Why a pending sign-in was sent back here.
    reason: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct LoginForm {
    email: String,
    password: String,
    next: String,
    rd: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "login.html")]
struct LoginPage {
    chrome: Chrome,
    email: String,
    next: String,
    rd: String,
    error: Option<String>,
    notice: Option<&'static str>,
}

/// Carried through the form only when it may be followed.
fn allowed_rd(state: &WebState, rd: &str) -> String {
    redirect::allowed_url(rd, &state.settings().allowed_redirect_domains).unwrap_or_default()
}

/// Sends a pending sign-in back to the start, saying why.
pub fn restart(reason: Restart) -> Redirect {
    Redirect::to(&paths::to(match reason {
        Restart::Expired => "/login?reason=expired",
        Restart::TooManyCodes => "/login?reason=too_many_codes",
    }))
}

pub enum Restart {
    Expired,
    TooManyCodes,
}

async fn show(
    State(state): State<WebState>,
    lang: Lang,
    csrf: CsrfToken,
    MaybeUser(user): MaybeUser,
    RawQuery(query): RawQuery,
) -> Response {
    let q: LoginQuery =
        serde_urlencoded::from_str(query.as_deref().unwrap_or("")).unwrap_or_default();
    if user.is_some() {
        return Redirect::to(&state.destination(&q.next, &q.rd)).into_response();
    }
    let t = lang.texts();
    let error = match q.reason.as_str() {
        "expired" => Some(t.err_pending_expired.to_owned()),
        "too_many_codes" => Some(t.err_too_many_codes.to_owned()),
        _ => None,
    };
    LoginPage {
        chrome: Chrome::new(lang, csrf, false),
        email: String::new(),
        next: local_path(&q.next).unwrap_or_default().to_owned(),
        rd: allowed_rd(&state, &q.rd),
        error,
        notice: if !q.reset.is_empty() {
            Some(t.notice_password_reset)
        } else {
            (!q.signed_out.is_empty()).then_some(t.signed_out_notice)
        },
    }
    .into_response()
}

async fn submit(
    State(state): State<WebState>,
    lang: Lang,
    csrf: CsrfToken,
    client: Client,
    jar: CookieJar,
    WebForm(form): WebForm<LoginForm>,
) -> Result<Response, WebError> {
    let attempt = LoginAttempt {
        email: form.email.clone(),
        password: SecretString::from(form.password),
        client: client.clone(),
        next: state.destination(&form.next, &form.rd),
    };
    match state.auth().sign_in(attempt).await {
        Ok(LoginOutcome::SignedIn(session)) => {
            let jar = with_session(&state, jar, session);
            // Without a second step there is no two-step verification: set it up when required.
            let to = if state.settings().access.require_two_step {
                paths::to("/mypage/2fa/setup")
            } else {
                state.destination(&form.next, &form.rd)
            };
            Ok((jar, Redirect::to(&to)).into_response())
        }
        Ok(LoginOutcome::SecondStepRequired { pending_token }) => {
            let jar = jar.add(pending_cookie(
                pending_token,
                state.0.secure_cookies,
                "/login",
            ));
            Ok((jar, Redirect::to(&paths::to("/login/2fa"))).into_response())
        }
        Err(err) => {
            let (status, message) = refusal(lang, err)?;
            let page = LoginPage {
                chrome: Chrome::new(lang, csrf, false),
                email: form.email.chars().take(254).collect(),
                next: local_path(&form.next).unwrap_or_default().to_owned(),
                rd: allowed_rd(&state, &form.rd),
                error: Some(message),
                notice: None,
            };
            Ok((status, page).into_response())
        }
    }
}
