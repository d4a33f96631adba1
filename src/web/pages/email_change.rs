//! マイページ →「メールアドレスの変更」: `/mypage/email` asks for the new address and the
//! password (and a code when two-step verification is on) and sends a link to the new
//! address; the link opens `/email/confirm`, which moves its token into a cookie for that
//! page alone and makes the change when its button is pressed (opening it changes nothing,
//! so a mail scanner that follows links cannot).

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum_extra::extract::cookie::CookieJar;
use secrecy::SecretString;
use serde::Deserialize;

use super::{Chrome, link_status, refusal};
use crate::auth::{AuthError, Client, EmailChangeView};
use crate::web::csrf::CsrfToken;
use crate::web::form::WebForm;
use crate::web::routes::Routes;
use crate::web::session::{CurrentUser, EMAIL_LINK};
use crate::web::{Lang, WebError, WebState, paths, secure_cookies};

pub fn router() -> Routes {
    Routes::new()
        .route("/mypage/email", get(show).post(submit))
        .route(EMAIL_LINK.path, get(show_confirm).post(submit_confirm))
}

/// Which field a refusal is about, for `aria-invalid` and the focus.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Field {
    None,
    NewEmail,
    Password,
    Code,
}

#[derive(Template, WebTemplate)]
#[template(path = "email_change.html")]
struct EmailChangePage {
    chrome: Chrome,
    email: String,
    /// Email can be sent: the form is shown.
    possible: bool,
    /// Two-step verification is on: the form asks for a code too.
    two_step: bool,
    sent: bool,
    new_email: String,
    error: Option<String>,
    field: Field,
}

#[derive(Template, WebTemplate)]
#[template(path = "email_confirm.html")]
struct EmailConfirmPage {
    chrome: Chrome,
    /// The change the link makes; `None` when it does not work (or is done).
    change: Option<EmailChangeView>,
    done: bool,
    error: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct EmailChangeForm {
    new_email: String,
    current_password: String,
    code: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Query {
    sent: String,
    done: String,
    token: String,
}

fn query(raw: Option<String>) -> Query {
    serde_urlencoded::from_str(raw.as_deref().unwrap_or("")).unwrap_or_default()
}

async fn show(
    State(state): State<WebState>,
    lang: Lang,
    csrf: CsrfToken,
    CurrentUser(user): CurrentUser,
    RawQuery(raw): RawQuery,
) -> EmailChangePage {
    EmailChangePage {
        chrome: Chrome::new(lang, csrf, true),
        email: user.email,
        possible: state.auth().links_by_email(),
        two_step: user.two_step,
        sent: !query(raw).sent.is_empty(),
        new_email: String::new(),
        error: None,
        field: Field::None,
    }
}

async fn submit(
    State(state): State<WebState>,
    lang: Lang,
    csrf: CsrfToken,
    client: Client,
    CurrentUser(user): CurrentUser,
    WebForm(form): WebForm<EmailChangeForm>,
) -> Result<Response, WebError> {
    let password = SecretString::from(form.current_password);
    let auth = state.auth();
    match auth
        .request_email_change(&user, &form.new_email, &password, &form.code, &client)
        .await
    {
        Ok(_) => Ok(Redirect::to(&paths::to("/mypage/email?sent=1")).into_response()),
        Err(err) => {
            let field = match err {
                AuthError::WrongPassword | AuthError::Throttled { .. } => Field::Password,
                AuthError::CodeRequired
                | AuthError::CodeFormat
                | AuthError::WrongCode { .. }
                | AuthError::SecondStepLocked { .. } => Field::Code,
                AuthError::EmailChangeUnavailable => Field::None,
                _ => Field::NewEmail,
            };
            let (status, message) = refusal(lang, err)?;
            let page = EmailChangePage {
                chrome: Chrome::new(lang, csrf, true),
                possible: auth.links_by_email(),
                two_step: user.two_step,
                sent: false,
                new_email: form.new_email.chars().take(254).collect(),
                email: user.email,
                error: Some(message),
                field,
            };
            Ok((status, page).into_response())
        }
    }
}

fn confirm_page(lang: Lang, csrf: CsrfToken, change: Option<EmailChangeView>) -> Response {
    let status = link_status(change.is_some());
    let page = EmailConfirmPage {
        chrome: Chrome::new(lang, csrf, false),
        change,
        done: false,
        error: None,
    };
    (status, page).into_response()
}

async fn show_confirm(
    State(state): State<WebState>,
    lang: Lang,
    csrf: CsrfToken,
    jar: CookieJar,
    RawQuery(raw): RawQuery,
) -> Result<Response, WebError> {
    let q = query(raw);
    if !q.token.is_empty() {
        return Ok(EMAIL_LINK.keep_token(jar, q.token, secure_cookies(&state)));
    }
    if !q.done.is_empty() {
        let page = EmailConfirmPage {
            chrome: Chrome::new(lang, csrf, false),
            change: None,
            done: true,
            error: None,
        };
        return Ok(page.into_response());
    }
    let view = match EMAIL_LINK.token(&jar) {
        Some(token) => state.auth().email_change_view(&token).await?,
        None => None,
    };
    Ok(confirm_page(lang, csrf, view))
}

async fn submit_confirm(
    State(state): State<WebState>,
    lang: Lang,
    csrf: CsrfToken,
    client: Client,
    jar: CookieJar,
) -> Result<Response, WebError> {
    let Some(token) = EMAIL_LINK.token(&jar) else {
        return Ok(confirm_page(lang, csrf, None));
    };
    let auth = state.auth();
    match auth.confirm_email_change(&token, &client).await {
        Ok(_) => {
            let jar = jar.remove(EMAIL_LINK.removal());
            let to = paths::to(&format!("{}?done=1", EMAIL_LINK.path));
            Ok((jar, Redirect::to(&to)).into_response())
        }
        Err(AuthError::EmailChangeLinkInvalid) => {
            let jar = jar.remove(EMAIL_LINK.removal());
            Ok((jar, confirm_page(lang, csrf, None)).into_response())
        }
        Err(err) => {
            let view = auth.email_change_view(&token).await?;
            let (status, message) = refusal(lang, err)?;
            let page = EmailConfirmPage {
                chrome: Chrome::new(lang, csrf, false),
                change: view,
                done: false,
                error: Some(message),
            };
            Ok((status, page).into_response())
        }
    }
}
