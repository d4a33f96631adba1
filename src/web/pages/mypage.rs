use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::routing::get;

use super::Chrome;
use crate::web::csrf::CsrfToken;
use crate::web::session::CurrentUser;
use crate::web::{Lang, WebState};

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
}

async fn show(lang: Lang, csrf: CsrfToken, CurrentUser(user): CurrentUser) -> MyPage {
    MyPage {
        chrome: Chrome::new(lang, csrf, true),
        email: user.email,
        is_admin: user.is_admin,
        // Two-step verification cannot be turned on yet (next issue).
        two_step_on: false,
    }
}
