//! The session cookie and the extractors that read it.

use axum::extract::{FromRequestParts, OriginalUri};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};

use super::{WebError, WebState};
use crate::auth::SignedIn;

pub const SESSION_COOKIE: &str = "nidan_session";
/// A sign-in waiting for its second step: sent only to the `/login` pages, and not a session.
pub const PENDING_COOKIE: &str = "nidan_pending";

/// A browser-session cookie: it goes when the browser closes; the server ends it sooner.
pub fn session_cookie(token: String, secure: bool) -> Cookie<'static> {
    Cookie::build((SESSION_COOKIE, token))
        .path("/")
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Lax)
        .build()
}

pub fn session_removal() -> Cookie<'static> {
    Cookie::build(SESSION_COOKIE).path("/").build()
}

pub fn pending_cookie(token: String, secure: bool) -> Cookie<'static> {
    Cookie::build((PENDING_COOKIE, token))
        .path("/login")
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Lax)
        .max_age(time::Duration::seconds(crate::auth::PENDING_LIFETIME_SECS))
        .build()
}

pub fn pending_removal() -> Cookie<'static> {
    Cookie::build(PENDING_COOKIE).path("/login").build()
}

pub fn pending_token(jar: &CookieJar) -> Option<String> {
    jar.get(PENDING_COOKIE).map(|c| c.value().to_owned())
}

/// The session cookie's value, if any.
pub fn session_token(jar: &CookieJar) -> Option<String> {
    jar.get(SESSION_COOKIE).map(|c| c.value().to_owned())
}

/// The signed-in account, when there is one.
pub struct MaybeUser(pub Option<SignedIn>);

impl FromRequestParts<WebState> for MaybeUser {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &WebState) -> Result<Self, WebError> {
        let jar = CookieJar::from_headers(&parts.headers);
        let Some(token) = session_token(&jar) else {
            return Ok(MaybeUser(None));
        };
        Ok(MaybeUser(state.auth().session(&token).await?))
    }
}

/// The signed-in account; a visitor without one is sent to sign in and brought back.
pub struct CurrentUser(pub SignedIn);

pub enum NotSignedIn {
    Redirect(Redirect),
    Error(WebError),
}

impl IntoResponse for NotSignedIn {
    fn into_response(self) -> Response {
        match self {
            NotSignedIn::Redirect(r) => r.into_response(),
            NotSignedIn::Error(e) => e.into_response(),
        }
    }
}

impl FromRequestParts<WebState> for CurrentUser {
    type Rejection = NotSignedIn;

    async fn from_request_parts(parts: &mut Parts, state: &WebState) -> Result<Self, NotSignedIn> {
        let MaybeUser(user) = MaybeUser::from_request_parts(parts, state)
            .await
            .map_err(NotSignedIn::Error)?;
        match user {
            Some(user) => Ok(CurrentUser(user)),
            None => {
                let path = parts
                    .extensions
                    .get::<OriginalUri>()
                    .map_or_else(|| parts.uri.path().to_owned(), |u| u.path().to_owned());
                let to = if path == "/" {
                    "/login".to_owned()
                } else {
                    format!("/login?next={}", encode_query_value(&path))
                };
                Err(NotSignedIn::Redirect(Redirect::to(&to)))
            }
        }
    }
}

fn encode_query_value(value: &str) -> String {
    serde_urlencoded::to_string([("", value)])
        .map(|s| s.trim_start_matches('=').to_owned())
        .unwrap_or_default()
}

/// `next` is followed only when it is a path on this site: never `//host`, `/\host`,
/// a scheme, or control characters.
pub fn local_path(next: &str) -> Option<&str> {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.chars().any(char::is_control)
        && next.len() <= 2048;
    ok.then_some(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed() {
        assert_eq!(local_path("/mypage"), Some("/mypage"));
        assert_eq!(local_path("/a?b=c"), Some("/a?b=c"));
        for bad in [
            "",
            "mypage",
            "//evil.example",
            "/\\evil.example",
            "https://evil.example",
            "/ok\r\nLocation: x",
            "\t/x",
            "javascript:alert(1)",
        ] {
            assert_eq!(local_path(bad), None, "{bad:?}");
        }
        assert_eq!(local_path(&format!("/{}", "a".repeat(3000))), None);
    }

    #[test]
    fn next_is_percent_encoded() {
        assert_eq!(encode_query_value("/mypage"), "%2Fmypage");
        assert_eq!(encode_query_value("/a?b=c&d"), "%2Fa%3Fb%3Dc%26d");
    }
}
