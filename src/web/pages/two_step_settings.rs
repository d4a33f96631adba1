//! マイページ → 2段階認証: turn it on (設定), turn it off (解除), new backup codes.
//! Each change asks for the password again, as the manual does.

use crate::auth::Client;
use crate::web::routes::Routes;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum_extra::extract::cookie::CookieJar;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use secrecy::SecretString;
use serde::Deserialize;

use super::{Chrome, refusal};
use crate::auth::{AuthError, NewSession, SignedIn};
use crate::otp;
use crate::web::csrf::{CsrfToken, token_for_new_session};
use crate::web::form::WebForm;
use crate::web::i18n::Texts;
use crate::web::paths;
use crate::web::session::{CurrentUser, with_session};
use crate::web::{Lang, WebError, WebState, qr};

pub fn router() -> Routes {
    Routes::new()
        .route("/mypage/2fa/setup", get(show_setup).post(submit_setup))
        .route(
            "/mypage/2fa/disable",
            get(show_disable).post(submit_disable),
        )
        .route(
            "/mypage/2fa/backup-codes",
            get(show_regenerate).post(submit_regenerate),
        )
}

/// "Enter your password again": set-up step 1, turning off, and new backup codes.
#[derive(Template, WebTemplate)]
#[template(path = "password_confirm.html")]
struct PasswordPage {
    chrome: Chrome,
    title: &'static str,
    lead: &'static str,
    button: &'static str,
    action: &'static str,
    error: Option<String>,
}

/// Set-up step 2: the QR code, the key as text, and the first code.
#[derive(Template, WebTemplate)]
#[template(path = "totp_setup.html")]
struct ScanPage {
    chrome: Chrome,
    qr_svg: String,
    key_grouped: String,
    error: Option<String>,
}

/// Set-up step 3 (and new codes): the backup codes, shown once.
#[derive(Template, WebTemplate)]
#[template(path = "backup_codes.html")]
struct CodesPage {
    chrome: Chrome,
    title: &'static str,
    codes: Vec<String>,
    download_href: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SettingsForm {
    step: String,
    password: String,
    code: String,
}

enum Flow {
    Setup,
    Disable,
    Regenerate,
}

impl Flow {
    fn password_page(
        &self,
        t: &'static Texts,
        chrome: Chrome,
        error: Option<String>,
    ) -> PasswordPage {
        let (title, lead, button, action) = match self {
            Flow::Setup => (
                t.setup2fa_title,
                t.setup2fa_password_lead,
                t.send_button,
                "/mypage/2fa/setup",
            ),
            Flow::Disable => (
                t.disable_title,
                t.disable_lead,
                t.two_step_disable_button,
                "/mypage/2fa/disable",
            ),
            Flow::Regenerate => (
                t.regen_title,
                t.regen_lead,
                t.send_button,
                "/mypage/2fa/backup-codes",
            ),
        };
        PasswordPage {
            chrome,
            title,
            lead,
            button,
            action,
            error,
        }
    }
}

fn to_mypage() -> Response {
    Redirect::to(&paths::to("/mypage")).into_response()
}

async fn scan_page(
    state: &WebState,
    user: &SignedIn,
    chrome: Chrome,
    error: Option<String>,
) -> Result<Option<ScanPage>, WebError> {
    let Some(setup) = state.auth().totp_setup(user).await? else {
        return Ok(None);
    };
    let qr_svg = qr::svg(&setup.otpauth_uri).ok_or(WebError::Internal("QR code rendering"))?;
    Ok(Some(ScanPage {
        chrome,
        qr_svg,
        key_grouped: otp::group_by_four(&setup.secret_base32),
        error,
    }))
}

/// Where a change ends: the new session's cookie, and a page with forms bound to it.
fn rotated(
    state: &WebState,
    jar: CookieJar,
    lang: Lang,
    session: NewSession,
) -> (CookieJar, Chrome) {
    let csrf = token_for_new_session(state, &jar, &session.token);
    let jar = with_session(state, jar, session);
    (jar, Chrome::new(lang, csrf, true))
}

fn codes_page(chrome: Chrome, title: &'static str, email: &str, codes: Vec<String>) -> CodesPage {
    let text = format!(
        "nidan backup codes / バックアップコード\n{email}\n\n{}\n",
        codes.join("\n")
    );
    let download_href = format!(
        "data:text/plain;charset=utf-8,{}",
        utf8_percent_encode(&text, NON_ALPHANUMERIC)
    );
    CodesPage {
        chrome,
        title,
        codes,
        download_href,
    }
}

/// A refusal shown on the password page, or the way back to マイページ.
fn password_refused(
    flow: Flow,
    lang: Lang,
    csrf: CsrfToken,
    err: AuthError,
) -> Result<Response, WebError> {
    if matches!(err, AuthError::TwoStepAlreadyOn | AuthError::TwoStepOff) {
        return Ok(to_mypage());
    }
    let (status, message) = refusal(lang, err)?;
    let page = flow.password_page(lang.texts(), Chrome::new(lang, csrf, true), Some(message));
    Ok((status, page).into_response())
}

async fn show_setup(
    State(state): State<WebState>,
    lang: Lang,
    csrf: CsrfToken,
    CurrentUser(user): CurrentUser,
) -> Result<Response, WebError> {
    if state.auth().two_step_status(user.user_id).await?.enabled {
        return Ok(to_mypage());
    }
    let chrome = Chrome::new(lang, csrf.clone(), true);
    if let Some(page) = scan_page(&state, &user, chrome, None).await? {
        return Ok(page.into_response());
    }
    let page = Flow::Setup.password_page(lang.texts(), Chrome::new(lang, csrf, true), None);
    Ok(page.into_response())
}

async fn submit_setup(
    State(state): State<WebState>,
    lang: Lang,
    csrf: CsrfToken,
    client: Client,
    CurrentUser(user): CurrentUser,
    jar: CookieJar,
    WebForm(form): WebForm<SettingsForm>,
) -> Result<Response, WebError> {
    let auth = state.auth();
    if form.step != "code" {
        let password = SecretString::from(form.password);
        return match auth.begin_totp_setup(&user, &password, &client).await {
            // Post/Redirect/Get: a reload shows the QR code again instead of re-posting.
            Ok(()) => Ok(Redirect::to(&paths::to("/mypage/2fa/setup")).into_response()),
            Err(err) => password_refused(Flow::Setup, lang, csrf, err),
        };
    }
    match auth.confirm_totp_setup(&user, &form.code, &client).await {
        Ok((codes, session)) => {
            let (jar, chrome) = rotated(&state, jar, lang, session);
            let page = codes_page(chrome, lang.texts().done_title, &user.email, codes);
            Ok((jar, page).into_response())
        }
        Err(AuthError::SetupExpired) => {
            let message = lang.texts().err_setup_expired.to_owned();
            let page = Flow::Setup.password_page(
                lang.texts(),
                Chrome::new(lang, csrf, true),
                Some(message),
            );
            Ok((StatusCode::BAD_REQUEST, page).into_response())
        }
        Err(err) => {
            let (status, message) = refusal(lang, err)?;
            let chrome = Chrome::new(lang, csrf, true);
            match scan_page(&state, &user, chrome, Some(message)).await? {
                Some(page) => Ok((status, page).into_response()),
                None => Ok(Redirect::to(&paths::to("/mypage/2fa/setup")).into_response()),
            }
        }
    }
}

/// The password page of a change that only makes sense while it is on.
async fn password_page_when_on(
    flow: Flow,
    state: &WebState,
    lang: Lang,
    csrf: CsrfToken,
    user: &SignedIn,
) -> Result<Response, WebError> {
    if !state.auth().two_step_status(user.user_id).await?.enabled {
        return Ok(to_mypage());
    }
    let page = flow.password_page(lang.texts(), Chrome::new(lang, csrf, true), None);
    Ok(page.into_response())
}

async fn show_disable(
    State(state): State<WebState>,
    lang: Lang,
    csrf: CsrfToken,
    CurrentUser(user): CurrentUser,
) -> Result<Response, WebError> {
    password_page_when_on(Flow::Disable, &state, lang, csrf, &user).await
}

async fn submit_disable(
    State(state): State<WebState>,
    lang: Lang,
    csrf: CsrfToken,
    client: Client,
    CurrentUser(user): CurrentUser,
    jar: CookieJar,
    WebForm(form): WebForm<SettingsForm>,
) -> Result<Response, WebError> {
    let password = SecretString::from(form.password);
    match state.auth().disable_totp(&user, &password, &client).await {
        Ok(session) => {
            let jar = with_session(&state, jar, session);
            Ok((jar, Redirect::to(&paths::to("/mypage?notice=disabled"))).into_response())
        }
        Err(err) => password_refused(Flow::Disable, lang, csrf, err),
    }
}

async fn show_regenerate(
    State(state): State<WebState>,
    lang: Lang,
    csrf: CsrfToken,
    CurrentUser(user): CurrentUser,
) -> Result<Response, WebError> {
    password_page_when_on(Flow::Regenerate, &state, lang, csrf, &user).await
}

async fn submit_regenerate(
    State(state): State<WebState>,
    lang: Lang,
    csrf: CsrfToken,
    client: Client,
    CurrentUser(user): CurrentUser,
    jar: CookieJar,
    WebForm(form): WebForm<SettingsForm>,
) -> Result<Response, WebError> {
    let password = SecretString::from(form.password);
    match state
        .auth()
        .regenerate_backup_codes(&user, &password, &client)
        .await
    {
        Ok((codes, session)) => {
            let (jar, chrome) = rotated(&state, jar, lang, session);
            let page = codes_page(chrome, lang.texts().regen_done_title, &user.email, codes);
            Ok((jar, page).into_response())
        }
        Err(err) => password_refused(Flow::Regenerate, lang, csrf, err),
    }
}
