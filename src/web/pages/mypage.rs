use crate::web::routes::Routes;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use super::Chrome;
use crate::auth::{AuthError, Client, EventDetail};
use crate::clock::format_utc;
use crate::web::csrf::CsrfToken;
use crate::web::form::WebForm;
use crate::web::i18n::{backup_used, event_label};
use crate::web::paths;
use crate::web::session::CurrentUser;
use crate::web::{Lang, WebError, WebState};

/// How many events マイページ shows.
const RECENT_EVENTS: i64 = 10;

pub fn router() -> Routes {
    Routes::new()
        .route("/mypage", get(show))
        .route("/mypage/sessions/end", post(end_session))
}

struct ActivityRow {
    time: String,
    label: &'static str,
    detail: String,
    ip: String,
}

struct SessionRow {
    handle: String,
    signed_in: String,
    last_seen: String,
    ip: String,
    user_agent: String,
    current: bool,
}

/// マイページ: the account, its two-step verification, recent activity and sessions.
#[derive(Template, WebTemplate)]
#[template(path = "mypage.html")]
struct MyPage {
    chrome: Chrome,
    email: String,
    is_admin: bool,
    two_step_on: bool,
    backup_codes_left: i64,
    notice: Option<String>,
    activity: Vec<ActivityRow>,
    sessions: Vec<SessionRow>,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct NoticeQuery {
    notice: String,
}

async fn show(
    State(state): State<WebState>,
    lang: Lang,
    csrf: CsrfToken,
    CurrentUser(user): CurrentUser,
    RawQuery(query): RawQuery,
) -> Result<MyPage, WebError> {
    let auth = state.auth();
    let status = auth.two_step_status(user.user_id).await?;
    let t = lang.texts();
    let q: NoticeQuery =
        serde_urlencoded::from_str(query.as_deref().unwrap_or("")).unwrap_or_default();
    // Fixed words per notice; nothing from the query is echoed.
    let notice = match q.notice.as_str() {
        "disabled" => Some(t.notice_disabled.to_owned()),
        "password_changed" => Some(t.notice_password_changed.to_owned()),
        "backup_used" if status.enabled => Some(backup_used(lang, status.backup_codes_left)),
        "session_ended" => Some(t.session_ended_notice.to_owned()),
        "session_unknown" => Some(t.err_unknown_session.to_owned()),
        _ => None,
    };
    let activity = auth
        .recent_activity(&user, RECENT_EVENTS)
        .await?
        .into_iter()
        .map(|e| ActivityRow {
            time: format_utc(e.at),
            label: event_label(lang, e.kind),
            detail: page_detail(lang, &e.detail),
            ip: e.origin.ip,
        })
        .collect();
    let sessions = auth
        .active_sessions(&user)
        .await?
        .into_iter()
        .map(|s| SessionRow {
            handle: s.handle,
            signed_in: format_utc(s.created_at),
            last_seen: format_utc(s.last_seen_at),
            ip: s.ip,
            user_agent: s.user_agent,
            current: s.current,
        })
        .collect();
    Ok(MyPage {
        chrome: Chrome::new(lang, csrf, true),
        email: user.email,
        is_admin: user.is_admin,
        two_step_on: status.enabled,
        backup_codes_left: status.backup_codes_left,
        notice,
        activity,
        sessions,
    })
}

/// The page shows only what reads well in either language: how many backup codes are left.
fn page_detail(lang: Lang, detail: &EventDetail) -> String {
    match (detail, lang) {
        (EventDetail::BackupCodesLeft(n), Lang::Ja) => format!("残り{n}個"),
        (EventDetail::BackupCodesLeft(n), Lang::En) => format!("{n} left"),
        _ => String::new(),
    }
}

#[derive(serde::Deserialize)]
struct EndSessionForm {
    #[serde(default)]
    session: String,
}

async fn end_session(
    State(state): State<WebState>,
    CurrentUser(user): CurrentUser,
    client: Client,
    WebForm(form): WebForm<EndSessionForm>,
) -> Result<Response, WebError> {
    let to = match state
        .auth()
        .end_session(&user, &form.session, &client)
        .await
    {
        Ok(()) => "/mypage?notice=session_ended",
        Err(AuthError::UnknownSession) => "/mypage?notice=session_unknown",
        Err(e) => return Err(e.into()),
    };
    Ok(Redirect::to(&paths::to(to)).into_response())
}
