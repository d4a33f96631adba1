//! The built-in reverse proxy: signed-in people reach the guarded app through nidan itself,
//! no nginx needed. HTTP/1.1, WebSocket upgrades, and streamed bodies (MJPEG, HLS) that are
//! passed on as they come, never buffered. The session cookie never reaches the app.

use std::str::FromStr;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::uri::{Authority, Scheme};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};

use crate::auth::access::AccessDecision;
use crate::web::WebState;
use crate::web::session::{SESSION_COOKIE, session_token};

/// `[HOST=]http://ADDR`: the app for requests to HOST, or (without HOST) for every path that
/// is not nidan's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    pub host: Option<String>,
    pub scheme: Scheme,
    pub authority: Authority,
}

#[derive(Debug, thiserror::Error)]
#[error("upstream {0:?}: write [HOST=]http://ADDRESS")]
pub struct BadUpstream(String);

impl FromStr for Upstream {
    type Err = BadUpstream;
    fn from_str(s: &str) -> Result<Self, BadUpstream> {
        let bad = || BadUpstream(s.to_owned());
        let (host, url) = match s.split_once('=') {
            Some((h, u)) if !h.is_empty() => (Some(h.to_ascii_lowercase()), u),
            _ => (None, s),
        };
        let uri: Uri = url.parse().map_err(|_| bad())?;
        match (uri.scheme(), uri.authority()) {
            (Some(scheme), Some(authority)) if *scheme == Scheme::HTTP => Ok(Upstream {
                host,
                scheme: scheme.clone(),
                authority: authority.clone(),
            }),
            _ => Err(bad()),
        }
    }
}

/// Paths that stay nidan's when one upstream takes everything else.
const OWN_PATHS: [&str; 9] = [
    "/login",
    "/logout",
    "/mypage",
    "/setup/",
    "/static/",
    "/api/v1/",
    "/auth/verify",
    "/healthz",
    "/readyz",
];

fn is_own_path(path: &str) -> bool {
    OWN_PATHS
        .iter()
        .any(|own| path == own.trim_end_matches('/') || path.starts_with(own))
        || path.starts_with("/login/")
        || path.starts_with("/mypage/")
}

pub type HttpClient = Client<HttpConnector, Body>;

pub fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// Hop-by-hop headers (RFC 9110 §7.6.1) stay on their own hop.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

fn pick<'a>(upstreams: &'a [Upstream], host: &str, path: &str) -> Option<&'a Upstream> {
    let host = host.split(':').next().unwrap_or(host).to_ascii_lowercase();
    upstreams
        .iter()
        .find(|u| u.host.as_deref() == Some(host.as_str()))
        .or_else(|| {
            upstreams
                .iter()
                .find(|u| u.host.is_none())
                .filter(|_| !is_own_path(path))
        })
}

/// Runs before routing: requests for an upstream are checked and passed on; the rest are nidan's.
pub async fn layer(State(state): State<WebState>, req: Request, next: Next) -> Response {
    let upstreams = &state.settings().upstreams;
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let Some(upstream) = pick(upstreams, &host, req.uri().path()).cloned() else {
        return next.run(req).await;
    };
    let jar = CookieJar::from_headers(req.headers());
    let user = match session_token(&jar) {
        Some(token) => match state.auth().session(&token).await {
            Ok(user) => user,
            Err(_) => return StatusCode::SERVICE_UNAVAILABLE.into_response(),
        },
        None => None,
    };
    let path = req.uri().path().to_owned();
    let path_and_query = req
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    match state.settings().access.decide(&host, &path, user.as_ref()) {
        AccessDecision::SignIn => {
            let back = if upstream.host.is_some() {
                let url = format!("http://{host}{path_and_query}");
                let rd = serde_urlencoded::to_string([("rd", url)]).unwrap_or_default();
                format!("{}/login?{rd}", state.settings().public_url)
            } else {
                let next =
                    serde_urlencoded::to_string([("next", &path_and_query)]).unwrap_or_default();
                format!("/login?{next}")
            };
            Redirect::to(&back).into_response()
        }
        AccessDecision::SetUpTwoFactor => {
            Redirect::to(&format!("{}/mypage/2fa/setup", state.settings().public_url))
                .into_response()
        }
        AccessDecision::Allow(user) => {
            let email = user.map(|u| u.email.clone());
            let admin = user.is_some_and(|u| u.is_admin);
            forward(&state, &upstream, req, email, admin, &host).await
        }
    }
}

/// The Cookie header without nidan's session cookie.
fn cookies_without_session(headers: &HeaderMap) -> Option<HeaderValue> {
    let kept: Vec<&str> = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(str::trim)
        .filter(|c| !c.is_empty() && !c.starts_with(&format!("{SESSION_COOKIE}=")))
        .collect();
    (!kept.is_empty())
        .then(|| HeaderValue::from_str(&kept.join("; ")).ok())
        .flatten()
}

async fn forward(
    state: &WebState,
    upstream: &Upstream,
    mut req: Request,
    email: Option<String>,
    admin: bool,
    host: &str,
) -> Response {
    let websocket = req
        .headers()
        .get(header::UPGRADE)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"));
    let client_upgrade = websocket.then(|| hyper::upgrade::on(&mut req));
    let path_and_query = req.uri().path_and_query().cloned();
    let mut parts = Uri::builder()
        .scheme(upstream.scheme.clone())
        .authority(upstream.authority.clone());
    if let Some(pq) = path_and_query {
        parts = parts.path_and_query(pq);
    }
    let Ok(uri) = parts.build() else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let peer = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip().to_string());
    let cookies = cookies_without_session(req.headers());
    *req.uri_mut() = uri;
    let headers = req.headers_mut();
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
    headers.remove(header::COOKIE);
    if let Some(c) = cookies {
        headers.insert(header::COOKIE, c);
    }
    for name in ["remote-user", "remote-email", "remote-groups"] {
        headers.remove(name);
    }
    if let Some(email) = &email
        && let Ok(v) = HeaderValue::from_str(email)
    {
        headers.insert(HeaderName::from_static("remote-user"), v.clone());
        headers.insert(HeaderName::from_static("remote-email"), v);
        let groups = if admin { "admin" } else { "" };
        headers.insert(
            HeaderName::from_static("remote-groups"),
            HeaderValue::from_static(groups),
        );
    }
    if let Ok(v) = HeaderValue::from_str(host) {
        headers.insert(HeaderName::from_static("x-forwarded-host"), v);
    }
    let proto = if state.settings().public_url.starts_with("https://") {
        "https"
    } else {
        "http"
    };
    headers.insert(
        HeaderName::from_static("x-forwarded-proto"),
        HeaderValue::from_static(proto),
    );
    if let Some(ip) = peer.and_then(|ip| HeaderValue::from_str(&ip).ok()) {
        headers.insert(HeaderName::from_static("x-forwarded-for"), ip);
    }
    if websocket {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    }

    let mut response = match state.proxy_client().request(req).await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "upstream unreachable");
            return StatusCode::BAD_GATEWAY.into_response();
        }
    };
    if response.status() == StatusCode::SWITCHING_PROTOCOLS
        && let Some(client_side) = client_upgrade
    {
        let upstream_side = hyper::upgrade::on(&mut response);
        tokio::spawn(async move {
            if let (Ok(a), Ok(b)) = (client_side.await, upstream_side.await) {
                let _ =
                    tokio::io::copy_bidirectional(&mut TokioIo::new(a), &mut TokioIo::new(b)).await;
            }
        });
        let (parts, _) = response.into_parts();
        return Response::from_parts(parts, Body::empty());
    }
    let (mut parts, body) = response.into_parts();
    for name in HOP_BY_HOP {
        parts.headers.remove(name);
    }
    // Streamed as it arrives: live views must not wait for an end that never comes.
    Response::from_parts(parts, Body::new(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstreams_parse_and_pick() {
        let all: Upstream = "http://127.0.0.1:5000".parse().unwrap();
        let cam: Upstream = "cam.example.home=http://127.0.0.1:5001".parse().unwrap();
        assert!(
            "https://x".parse::<Upstream>().is_err(),
            "TLS upstreams are not supported yet"
        );
        assert!("cam=ftp://x".parse::<Upstream>().is_err());
        let list = vec![cam.clone(), all.clone()];
        assert_eq!(pick(&list, "cam.example.home:443", "/login"), Some(&cam));
        assert_eq!(pick(&list, "other", "/live"), Some(&all));
        assert_eq!(pick(&list, "other", "/"), Some(&all));
        for own in [
            "/login",
            "/login/2fa",
            "/mypage",
            "/mypage/2fa/setup",
            "/static/style.css",
            "/api/v1/me",
            "/healthz",
        ] {
            assert_eq!(pick(&list, "other", own), None, "{own}");
        }
    }

    #[test]
    fn the_session_cookie_is_taken_out() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; nidan_session=SECRET; b=2"),
        );
        assert_eq!(cookies_without_session(&h).unwrap(), "a=1; b=2");
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("nidan_session=SECRET"),
        );
        assert_eq!(cookies_without_session(&h), None);
    }
}
