//! nidan's pages and API refuse to be read or driven by scripts of their own origin. A
//! catch-all upstream puts the guarded app on nidan's host: without this, a script in the
//! app (or an injection in it) could fetch マイページ, read its CSRF token and session list,
//! and end sessions or call the API as the signed-in person. nidan itself runs no script,
//! so a same-origin request that is not a navigation is never its own. Browsers say which
//! is which in `Sec-Fetch-*` (over HTTPS and on localhost); clients that are not browsers
//! send none and are not affected.

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

pub async fn refuse_scripts(req: Request, next: Next) -> Response {
    if scripted(&req) {
        return (
            StatusCode::FORBIDDEN,
            "nidan's pages and API do not answer scripts of the site they are on",
        )
            .into_response();
    }
    next.run(req).await
}

fn scripted(req: &Request) -> bool {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    // nidan's own pages load their style sheet: that is theirs to load.
    header("sec-fetch-site") == "same-origin"
        && !matches!(header("sec-fetch-mode"), "" | "navigate")
        && !req.uri().path().starts_with("/static/")
}
