//! `/auth/verify`: may this request through to the guarded app? 200 with the account in
//! headers, else 401 (nginx `auth_request`) or a 302 to sign-in (Traefik, Caddy, `?rd=`).
//! Always an empty body, so that nginx keeps its upstream connection alive.

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

use crate::auth::access::AccessDecision;
use crate::web::WebState;
use crate::web::session::{SESSION_COOKIE, cookie_in};

pub fn router() -> Router<WebState> {
    Router::new().route("/auth/verify", any(verify))
}

/// The request the proxy asks about.
struct Original {
    url: Option<String>,
    host: String,
    path: String,
    /// The proxy wants a redirect to sign-in rather than a bare 401.
    redirect: bool,
}

// Looked up on every answer: named once, not parsed from text each time.
static FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
static FORWARDED_URI: HeaderName = HeaderName::from_static("x-forwarded-uri");
static FORWARDED_METHOD: HeaderName = HeaderName::from_static("x-forwarded-method");
static ORIGINAL_URL: HeaderName = HeaderName::from_static("x-original-url");
static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
static REMOTE_USER: HeaderName = HeaderName::from_static("remote-user");
static REMOTE_EMAIL: HeaderName = HeaderName::from_static("remote-email");
static REMOTE_GROUPS: HeaderName = HeaderName::from_static("remote-groups");

fn header_str<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn original(headers: &HeaderMap, query: Option<&str>) -> Original {
    let rd = query
        .and_then(|q| serde_urlencoded::from_str::<Vec<(String, String)>>(q).ok())
        .and_then(|pairs| pairs.into_iter().find(|(k, _)| k == "rd").map(|(_, v)| v));
    let forwarded = match (
        header_str(headers, &FORWARDED_PROTO),
        header_str(headers, &FORWARDED_HOST),
        header_str(headers, &FORWARDED_URI),
    ) {
        (Some(proto), Some(host), uri) => Some(format!("{proto}://{host}{}", uri.unwrap_or("/"))),
        _ => None,
    };
    let url = rd
        .clone()
        .or(forwarded)
        .or_else(|| header_str(headers, &ORIGINAL_URL).map(str::to_owned));
    let parsed = url.as_deref().and_then(|u| url::Url::parse(u).ok());
    let host = parsed
        .as_ref()
        .and_then(|u| u.host_str().map(str::to_owned))
        .or_else(|| header_str(headers, &header::HOST).map(str::to_owned))
        .unwrap_or_default();
    let path = parsed
        .as_ref()
        .map_or("/".to_owned(), |u| u.path().to_owned());
    let redirect = rd.is_some() || headers.contains_key(&FORWARDED_METHOD);
    Original {
        url,
        host,
        path,
        redirect,
    }
}

fn empty(status: StatusCode) -> Response {
    status.into_response()
}

fn redirect_to(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(value) => (StatusCode::FOUND, [(header::LOCATION, value)]).into_response(),
        Err(_) => empty(StatusCode::UNAUTHORIZED),
    }
}

async fn verify(State(state): State<WebState>, request: Request) -> Response {
    let headers = request.headers();
    let original = original(headers, request.uri().query());
    let user = match cookie_in(headers, SESSION_COOKIE) {
        Some(token) => match state.auth().session(token).await {
            Ok(user) => user,
            Err(e) => {
                let request_id = header_str(headers, &REQUEST_ID).unwrap_or("-");
                tracing::warn!(error = %e, request_id, "forward-auth could not check the session");
                return empty(StatusCode::SERVICE_UNAVAILABLE);
            }
        },
        None => None,
    };
    let settings = state.settings();
    match settings
        .access
        .decide(&original.host, &original.path, user.as_ref())
    {
        AccessDecision::Allow(Some(user)) => {
            let groups = if user.is_admin { "admin" } else { "" };
            let mut response = empty(StatusCode::OK);
            let h = response.headers_mut();
            if let Ok(email) = HeaderValue::from_str(&user.email) {
                h.insert(REMOTE_USER.clone(), email.clone());
                h.insert(REMOTE_EMAIL.clone(), email);
            }
            h.insert(REMOTE_GROUPS.clone(), HeaderValue::from_static(groups));
            response
        }
        AccessDecision::Allow(None) => empty(StatusCode::OK),
        AccessDecision::SignIn if original.redirect => {
            let mut login = format!("{}/login", settings.public_url);
            if let Some(url) = &original.url {
                login.push_str("?rd=");
                login.extend(utf8_percent_encode(url, NON_ALPHANUMERIC));
            }
            redirect_to(&login)
        }
        AccessDecision::SignIn => empty(StatusCode::UNAUTHORIZED),
        AccessDecision::SetUpTwoFactor if original.redirect => {
            redirect_to(&format!("{}/mypage/2fa/setup", settings.public_url))
        }
        AccessDecision::SetUpTwoFactor => empty(StatusCode::FORBIDDEN),
    }
}
