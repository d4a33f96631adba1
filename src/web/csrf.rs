//! CSRF protection for every state-changing request: a random cookie, and a form
//! token that is an HMAC of that cookie and the session cookie. A planted cookie
//! is useless without the victim's session; the token is checked in constant time.

use axum::body::{Body, to_bytes};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::session::SESSION_COOKIE;
use super::{MAX_BODY_BYTES, WebError, WebState};
use crate::crypto::{ct_eq, keyed_hash, new_token};

pub const CSRF_COOKIE: &str = "nidan_csrf";
pub const CSRF_FIELD: &str = "csrf_token";

/// The token for the hidden `csrf_token` field of this request's forms.
#[derive(Debug, Clone)]
pub struct CsrfToken(pub String);

fn form_token(key: &[u8; 32], csrf_cookie: &str, session_cookie: &str) -> String {
    let data = format!("{csrf_cookie}\n{session_cookie}");
    URL_SAFE_NO_PAD.encode(keyed_hash(key, data.as_bytes()))
}

/// The token for forms of a response that has just started a new session (the request's
/// own token is bound to the session that ended).
pub fn token_for_new_session(state: &WebState, jar: &CookieJar, session: &str) -> CsrfToken {
    let cookie = jar.get(CSRF_COOKIE).map(|c| c.value()).unwrap_or_default();
    CsrfToken(form_token(&state.0.csrf_key, cookie, session))
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn field_value(body: &[u8], name: &str) -> Option<String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

pub async fn guard(State(state): State<WebState>, req: Request, next: Next) -> Response {
    let jar = CookieJar::from_headers(req.headers());
    let existing = jar
        .get(CSRF_COOKIE)
        .map(|c| c.value().to_owned())
        .filter(|v| v.len() == 43);
    let session = jar
        .get(SESSION_COOKIE)
        .map(|c| c.value().to_owned())
        .unwrap_or_default();
    let (cookie_value, is_new) = match existing {
        Some(v) => (v, false),
        None => (new_token().0, true),
    };
    let expected = form_token(&state.0.csrf_key, &cookie_value, &session);

    let mut req = if is_safe(req.method()) {
        req
    } else {
        if is_new {
            return WebError::Csrf.into_response();
        }
        let (parts, body) = req.into_parts();
        let Ok(bytes) = to_bytes(body, MAX_BODY_BYTES).await else {
            return WebError::TooLarge.into_response();
        };
        let supplied = field_value(&bytes, CSRF_FIELD).unwrap_or_default();
        if !ct_eq(supplied.as_bytes(), expected.as_bytes()) {
            tracing::warn!("request refused: CSRF token missing or wrong");
            return WebError::Csrf.into_response();
        }
        Request::from_parts(parts, Body::from(bytes))
    };
    req.extensions_mut().insert(CsrfToken(expected));
    let mut response = next.run(req).await;
    if is_new {
        let cookie = Cookie::build((CSRF_COOKIE, cookie_value))
            .path("/")
            .http_only(true)
            .secure(state.0.secure_cookies)
            .same_site(SameSite::Lax)
            .build();
        if let Ok(value) = HeaderValue::from_str(&cookie.to_string()) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

impl<S: Send + Sync> FromRequestParts<S> for CsrfToken {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<CsrfToken>()
            .cloned()
            .ok_or(WebError::Internal("CSRF guard not installed"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_binds_cookie_and_session() {
        let key = [3u8; 32];
        let t = form_token(&key, "cookie", "session");
        assert_eq!(t, form_token(&key, "cookie", "session"));
        assert_ne!(t, form_token(&key, "cookie", "other session"));
        assert_ne!(t, form_token(&key, "other cookie", "session"));
        assert_ne!(t, form_token(&[4u8; 32], "cookie", "session"));
    }

    #[test]
    fn reads_the_field_from_a_form_body() {
        assert_eq!(
            field_value(b"email=a%40b&csrf_token=abc%2B", "csrf_token").as_deref(),
            Some("abc+")
        );
        assert_eq!(field_value(b"email=a", "csrf_token"), None);
    }
}
