use crate::web::routes::Routes;
use askama::Template;
use askama_web::WebTemplate;
use axum::routing::get;

use super::Chrome;
use crate::web::Lang;
use crate::web::csrf::CsrfToken;
use crate::web::session::CurrentUser;

pub fn router() -> Routes {
    Routes::new().route("/", get(show))
}

/// The protected landing page: the viewer.
#[derive(Template, WebTemplate)]
#[template(path = "home.html")]
struct HomePage {
    chrome: Chrome,
    email: String,
}

async fn show(lang: Lang, csrf: CsrfToken, CurrentUser(user): CurrentUser) -> HomePage {
    HomePage {
        chrome: Chrome::new(lang, csrf, true),
        email: user.email,
    }
}
