use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::routing::get;

use super::Chrome;
use crate::web::csrf::CsrfToken;
use crate::web::i18n::backup_used;
use crate::web::session::CurrentUser;
use crate::web::{Lang, WebError, WebState};

pub fn router() -> Router<WebState> {
    Router::new().route("/mypage", get(show))
}

/// マイページ: the account and its two-step verification.
#[derive(Template, WebTemplate)]
#[template(path = "mypage.html")]
struct MyPage {
    chrome: Chrome,
    email: String,
    is_admin: bool,
    two_step_on: bool,
    backup_codes_left: i64,
    notice: Option<String>,
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
    let status = state.auth().two_factor_status(user.user_id).await?;
    let t = lang.texts();
    let q: NoticeQuery =
        serde_urlencoded::from_str(query.as_deref().unwrap_or("")).unwrap_or_default();
    // Fixed words per notice; nothing from the query is echoed.
    let notice = match q.notice.as_str() {
        "disabled" => Some(t.notice_disabled.to_owned()),
        "backup_used" if status.enabled => Some(backup_used(lang, status.backup_codes_left)),
        _ => None,
    };
    Ok(MyPage {
        chrome: Chrome::new(lang, csrf, true),
        email: user.email,
        is_admin: user.is_admin,
        two_step_on: status.enabled,
        backup_codes_left: status.backup_codes_left,
        notice,
    })
}
