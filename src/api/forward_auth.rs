//! `/auth/verify`: may this request through to the guarded app? 200 with the account in
//! headers, else 401 (nginx `auth_request`) or a 302 to sign-in (Traefik, Caddy, `?rd=`).
//! Always an empty body, so that nginx keeps its upstream connection alive.

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum_extra::extract::cookie::CookieJar;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

use crate::auth::access::AccessDecision;
use crate::web::WebState;
use crate::web::session::session_token;

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

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn original(headers: &HeaderMap, query: Option<&str>) -> Original {
    let rd = query
        .and_then(|q| serde_urlencoded::from_str::<Vec<(String, String)>>(q).ok())
        .and_then(|pairs| pairs.into_iter().find(|(k, _)| k == "rd").map(|(_, v)| v));
    let forwarded = match (
        header_str(headers, "x-forwarded-proto"),
        header_str(headers, "x-forwarded-host"),
        header_str(headers, "x-forwarded-uri"),
    ) {
        (Some(proto), Some(host), uri) => Some(format!("{proto}://{host}{}", uri.unwrap_or("/"))),
        _ => None,
    };
    let url = rd
        .clone()
        .or(forwarded)
        .or_else(|| header_str(headers, "x-original-url").map(str::to_owned));
    let parsed = url.as_deref().and_then(|u| url::Url::parse(u).ok());
    let host = parsed
        .as_ref()
        .and_then(|u| u.host_str().map(str::to_owned))
        .or_else(|| header_str(headers, "host").map(str::to_owned))
        .unwrap_or_default();
    let path = parsed
        .as_ref()
        .map_or("/".to_owned(), |u| u.path().to_owned());
    let redirect = rd.is_some() || headers.contains_key("x-forwarded-method");
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

async fn verify(
    State(state): State<WebState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let original = original(&headers, query.as_deref());
    let jar = CookieJar::from_headers(&headers);
    let user = match session_token(&jar) {
        Some(token) => match state.auth().session(&token).await {
            Ok(user) => user,
            Err(e) => {
                tracing::warn!(error = %e, "forward-auth could not check the session");
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
            for (name, value) in [
                ("remote-user", user.email.as_str()),
                ("remote-email", user.email.as_str()),
                ("remote-groups", groups),
            ] {
                if let Ok(v) = HeaderValue::from_str(value) {
                    h.insert(name, v);
                }
            }
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
