//! The session cookie and the extractors that read it.

use axum::extract::{FromRequestParts, OriginalUri};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};

use super::{WebError, WebState};
use crate::auth::{NewSession, SignedIn};

pub const SESSION_COOKIE: &str = "nidan_session";
/// A sign-in waiting for its second step: sent only to the `/login` pages, and not a session.
pub const PENDING_COOKIE: &str = "nidan_pending";

/// A browser-session cookie: it goes when the browser closes; the server ends it sooner.
/// With a cookie domain it covers the guarded apps' subdomains too.
pub fn session_cookie(state: &WebState, token: String) -> Cookie<'static> {
    let mut cookie = Cookie::build((SESSION_COOKIE, token))
        .path("/")
        .http_only(true)
        .secure(state.0.secure_cookies)
        .same_site(SameSite::Lax)
        .build();
    if let Some(domain) = &state.settings().cookie_domain {
        cookie.set_domain(domain.clone());
    }
    cookie
}

/// The cookies of a session just made: the session, and the device cookie when new.
pub fn with_session(state: &WebState, jar: CookieJar, session: NewSession) -> CookieJar {
    let jar = jar.add(session_cookie(state, session.token));
    match session.device_token {
        Some(device) => jar.add(super::client::device_cookie(state, device)),
        None => jar,
    }
}

pub fn session_removal(state: &WebState) -> Cookie<'static> {
    let mut cookie = Cookie::build(SESSION_COOKIE).path("/").build();
    if let Some(domain) = &state.settings().cookie_domain {
        cookie.set_domain(domain.clone());
    }
    cookie
}

/// A page opened by a link from an email. The link's token moves out of the address bar
/// (and the history, and the Referer) into a cookie sent only to that page.
pub struct LinkPage {
    pub cookie: &'static str,
    pub path: &'static str,
    pub lifetime_secs: i64,
}

/// 「パスワードをお忘れの方」's link.
pub const RESET_LINK: LinkPage = LinkPage {
    cookie: "nidan_reset",
    path: "/login/reset",
    lifetime_secs: crate::auth::RESET_LIFETIME_SECS,
};

/// The link that confirms a new email address.
pub const EMAIL_LINK: LinkPage = LinkPage {
    cookie: "nidan_email_change",
    path: "/email/confirm",
    lifetime_secs: crate::auth::EMAIL_CHANGE_LIFETIME_SECS,
};

impl LinkPage {
    pub fn cookie(&self, token: String, secure: bool) -> Cookie<'static> {
        scoped_cookie(self.cookie, token, secure, self.path, self.lifetime_secs)
    }

    pub fn removal(&self) -> Cookie<'static> {
        Cookie::build(self.cookie)
            .path(super::paths::to(self.path))
            .build()
    }

    /// The link from the email opened: its token leaves the address bar for the cookie, and
    /// the page opens without it. Opening it spends nothing.
    pub fn keep_token(&self, jar: CookieJar, token: String, secure: bool) -> Response {
        let jar = jar.add(self.cookie(token, secure));
        (jar, Redirect::to(&super::paths::to(self.path))).into_response()
    }

    pub fn token(&self, jar: &CookieJar) -> Option<String> {
        jar.get(self.cookie).map(|c| c.value().to_owned())
    }
}

/// `path`: `/login` for the pages, `/api/v1/login` for the API (under the pages prefix).
pub fn pending_cookie(token: String, secure: bool, path: &str) -> Cookie<'static> {
    scoped_cookie(
        PENDING_COOKIE,
        token,
        secure,
        path,
        crate::auth::PENDING_LIFETIME_SECS,
    )
}

/// A short-lived cookie for a few of nidan's paths only (under the pages prefix).
fn scoped_cookie(
    name: &'static str,
    token: String,
    secure: bool,
    path: &str,
    lifetime_secs: i64,
) -> Cookie<'static> {
    Cookie::build((name, token))
        .path(super::paths::to(path))
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Lax)
        .max_age(time::Duration::seconds(lifetime_secs))
        .build()
}

pub fn pending_removal(path: &str) -> Cookie<'static> {
    Cookie::build(PENDING_COOKIE)
        .path(super::paths::to(path))
        .build()
}

pub fn pending_token(jar: &CookieJar) -> Option<String> {
    jar.get(PENDING_COOKIE).map(|c| c.value().to_owned())
}

/// The session cookie's value, if any.
pub fn session_token(jar: &CookieJar) -> Option<String> {
    jar.get(SESSION_COOKIE).map(|c| c.value().to_owned())
}

/// A cookie's value straight from the `Cookie` headers, without building a jar: the
/// forward-auth path reads only this one.
pub fn cookie_in<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (key, value) = pair.trim().split_once('=')?;
            (key.trim() == name).then(|| value.trim().trim_matches('"'))
        })
}

/// A cookie of nidan's sent twice (one of them planted, say by a sibling host under the
/// cookie domain or by the guarded app) is not guessed at: neither copy is read. Browsers
/// order cookies by path length and age, which a planter can choose.
pub fn drop_repeated_cookies(req: &mut axum::extract::Request) {
    if let Some(kept) = without_repeated_nidan_cookies(req.headers()) {
        let headers = req.headers_mut();
        headers.remove(axum::http::header::COOKIE);
        if let Ok(value) = axum::http::HeaderValue::from_str(&kept)
            && !kept.is_empty()
        {
            headers.insert(axum::http::header::COOKIE, value);
        }
    }
}

/// The Cookie header without any nidan cookie that appears more than once or under a
/// percent-encoded name (the cookie jar decodes names, forward-auth reads them as sent, and
/// nidan sets only plain ones: an encoded one was planted); `None` when there is none (the
/// usual case: nothing is rewritten).
fn without_repeated_nidan_cookies(headers: &axum::http::HeaderMap) -> Option<String> {
    let pairs = || {
        headers
            .get_all(axum::http::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .map(str::trim)
            .filter(|p| !p.is_empty())
    };
    // Every request passes here (forward-auth too): nothing is allocated unless a name
    // holds a `%` or a name of nidan's comes twice.
    let nidans = |p: &str| decoded_name(p).starts_with("nidan_");
    let encoded = |p: &str| cookie_name(p).contains('%') && nidans(p);
    let repeated = |p: &str| {
        nidans(p)
            && pairs()
                .filter(|q| nidans(q) && decoded_name(q) == decoded_name(p))
                .count()
                > 1
    };
    let unread = |p: &str| encoded(p) || repeated(p);
    if !pairs().any(unread) {
        return None;
    }
    Some(
        pairs()
            .filter(|p| !unread(p))
            .collect::<Vec<_>>()
            .join("; "),
    )
}

/// A cookie pair's name as the cookie jar reads it: percent-decoded.
fn decoded_name(pair: &str) -> std::borrow::Cow<'_, str> {
    percent_encoding::percent_decode_str(cookie_name(pair)).decode_utf8_lossy()
}

/// A cookie pair's name, as nidan reads it (spaces around it do not count).
pub fn cookie_name(pair: &str) -> &str {
    pair.split_once('=').map_or(pair, |(n, _)| n).trim()
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
                let login = super::paths::to("/login");
                let to = if path == "/" || path == super::paths::to("/") {
                    login
                } else {
                    format!("{login}?next={}", encode_query_value(&path))
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

pub use crate::auth::redirect::local_path;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_without_a_jar() {
        let mut headers = axum::http::HeaderMap::new();
        headers.append("cookie", "a=1; nidan_session=tok; b=2".parse().unwrap());
        headers.append("cookie", "c=3".parse().unwrap());
        assert_eq!(cookie_in(&headers, SESSION_COOKIE), Some("tok"));
        assert_eq!(cookie_in(&headers, "c"), Some("3"));
        assert_eq!(cookie_in(&headers, "nidan"), None);
    }

    #[test]
    fn a_nidan_cookie_sent_twice_is_read_neither_way() {
        let mut headers = axum::http::HeaderMap::new();
        headers.append("cookie", "a=1; nidan_session=OWNER".parse().unwrap());
        assert_eq!(without_repeated_nidan_cookies(&headers), None);
        headers.append("cookie", "nidan_session =EVIL; b=2".parse().unwrap());
        assert_eq!(
            without_repeated_nidan_cookies(&headers).unwrap(),
            "a=1; b=2"
        );
        let mut app = axum::http::HeaderMap::new();
        app.append("cookie", "theme=1; theme=2".parse().unwrap());
        assert_eq!(
            without_repeated_nidan_cookies(&app),
            None,
            "the app's own are its own"
        );
    }

    #[test]
    fn next_is_percent_encoded() {
        assert_eq!(encode_query_value("/mypage"), "%2Fmypage");
        assert_eq!(encode_query_value("/a?b=c&d"), "%2Fa%3Fb%3Dc%26d");
    }
}
