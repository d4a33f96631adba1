//! The built-in reverse proxy: signed-in people reach the guarded app through nidan itself,
//! no nginx needed. HTTP/1.1, WebSocket upgrades, and streamed bodies (MJPEG, HLS) that are
//! passed on as they come, never buffered. The session cookie never reaches the app.

mod streams;

use streams::UntilEnded;
pub use streams::{OpenStreams, watch as watch_open_streams};

use std::str::FromStr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::uri::{Authority, Scheme};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};

use crate::auth::target::normalise_host;
use crate::guard::{self, Verdict};
use crate::web::routes::OwnPaths;
use crate::web::{WebState, paths};

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
            Some((h, u)) if !h.is_empty() => (Some(normalise_host(h).map_err(|_| bad())?), u),
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

/// With a pages prefix, nidan's own paths are those under it; without, those its router
/// answers.
fn is_own_path(prefix: &str, own: &OwnPaths, path: &str) -> bool {
    if prefix.is_empty() {
        own.contains(path)
    } else {
        paths::is_under(prefix, path)
    }
}

type HttpClient = Client<HttpConnector, Body>;

/// The built-in proxy: its apps, its HTTP client, and the streams it holds open by session.
pub struct Gateway {
    upstreams: Vec<Upstream>,
    client: HttpClient,
    open_streams: Arc<OpenStreams>,
}

impl Gateway {
    pub fn new(upstreams: Vec<Upstream>) -> Self {
        Self {
            upstreams,
            client: Client::builder(TokioExecutor::new()).build_http(),
            open_streams: Arc::default(),
        }
    }

    /// For the watcher that ends a session's streams (`watch_open_streams`).
    pub fn open_streams(&self) -> &Arc<OpenStreams> {
        &self.open_streams
    }

    /// `routes` with the proxy in front: what is for an app goes there, the rest (nidan's
    /// `own` paths and, with a pages prefix, everything under it) to `routes`.
    pub fn in_front_of(
        self: &Arc<Self>,
        routes: Router<WebState>,
        state: &WebState,
        own: OwnPaths,
    ) -> Router<WebState> {
        let layer_state = (state.clone(), self.clone(), Arc::new(own));
        routes.layer(axum::middleware::from_fn_with_state(layer_state, layer))
    }
}

/// Hop-by-hop headers (RFC 9110 §7.6.1) stay on their own hop.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "proxy-connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

fn pick<'a>(
    upstreams: &'a [Upstream],
    prefix: &str,
    own: &OwnPaths,
    host: &str,
    path: &str,
) -> Option<&'a Upstream> {
    upstreams
        .iter()
        .find(|u| u.host.as_deref() == Some(host))
        .or_else(|| {
            upstreams
                .iter()
                .find(|u| u.host.is_none())
                .filter(|_| !is_own_path(prefix, own, path))
        })
}

/// An answer of nidan's own, with the headers every page of nidan's carries.
fn own(response: impl IntoResponse) -> Response {
    let mut response = response.into_response();
    crate::web::headers::secure(&mut response);
    response
}

/// Runs before routing: requests for an upstream are checked and passed on; the rest are nidan's.
async fn layer(
    State((state, gateway, own_paths)): State<(WebState, Arc<Gateway>, Arc<OwnPaths>)>,
    req: Request,
    next: Next,
) -> Response {
    let settings = state.settings();
    let upstreams = &gateway.upstreams;
    let scheme = if settings.public_url.starts_with("https://") {
        "https"
    } else {
        "http"
    };
    let asked = match guard::from_request(req.headers(), req.uri(), scheme) {
        Ok(asked) => asked,
        // What cannot be read one way only is refused when an app might be the one to
        // read it; nidan's own router refuses the rest.
        Err(why) => {
            let host = req
                .headers()
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .and_then(|h| normalise_host(h).ok());
            let for_an_app = upstreams.iter().any(|u| u.host.is_none() || u.host == host);
            if !for_an_app {
                return next.run(req).await;
            }
            tracing::info!(%why, "proxy refused an ambiguous request");
            return own(StatusCode::BAD_REQUEST);
        }
    };
    let path = asked.target.path.to_string();
    let prefix = &settings.pages_prefix;
    let Some(upstream) = pick(upstreams, prefix, &own_paths, &asked.target.host, &path).cloned()
    else {
        return next.run(req).await;
    };
    let user = match guard::verdict(&state, req.headers(), &asked.target).await {
        Ok(Verdict::Allow(user)) => user,
        Ok(Verdict::SignIn) => {
            let back = if upstream.host.is_some() {
                let rd = serde_urlencoded::to_string([("rd", asked.url())]).unwrap_or_default();
                format!("{}{}?{rd}", settings.public_url, paths::to("/login"))
            } else {
                let mut local = path.clone();
                if let Some(q) = req.uri().query() {
                    local.push('?');
                    local.push_str(q);
                }
                let next = serde_urlencoded::to_string([("next", &local)]).unwrap_or_default();
                format!("{}?{next}", paths::to("/login"))
            };
            return own(Redirect::to(&back));
        }
        Ok(Verdict::SetUpTwoStep) => {
            return own(Redirect::to(&format!(
                "{}{}",
                settings.public_url,
                paths::to("/mypage/2fa/setup")
            )));
        }
        Err(e) => {
            tracing::warn!(error = %e, "proxy could not check the session");
            return own(StatusCode::SERVICE_UNAVAILABLE);
        }
    };
    forward(&gateway, &upstream, req, user.as_ref(), &path, scheme).await
}

/// The Cookie header without any of nidan's cookies, read the way nidan reads them.
fn cookies_for_app(headers: &HeaderMap) -> Option<HeaderValue> {
    let kept: Vec<&str> = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(str::trim)
        .filter(|c| {
            let name = crate::web::session::cookie_name(c);
            !c.is_empty() && !is_nidan_cookie(name)
        })
        .collect();
    (!kept.is_empty())
        .then(|| HeaderValue::from_str(&kept.join("; ")).ok())
        .flatten()
}

/// Every cookie nidan sets is named `nidan_…`; none is the app's business.
fn is_nidan_cookie(name: &str) -> bool {
    name.len() >= 6 && name[..6].eq_ignore_ascii_case("nidan_")
}

/// The app may not set nidan's cookies: a planted session, CSRF or device cookie would be
/// taken for one of nidan's own.
fn drop_nidan_set_cookies(headers: &mut HeaderMap) {
    let kept: Vec<HeaderValue> = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter(|v| {
            // `=nidan_session=S` has an empty name: browsers keep it and send back
            // `nidan_session=S`. Its value's name counts then.
            let text = String::from_utf8_lossy(v.as_bytes());
            let pair = text.split(';').next().unwrap_or_default();
            let pair = pair.trim_start_matches(|c: char| c == '=' || c.is_whitespace());
            !is_nidan_cookie(pair.split('=').next().unwrap_or_default().trim())
        })
        .cloned()
        .collect();
    headers.remove(header::SET_COOKIE);
    for value in kept {
        headers.append(header::SET_COOKIE, value);
    }
}

/// Headers that must not cross this hop: the fixed hop-by-hop list, and whatever
/// `Connection` (or the old `Proxy-Connection`) names.
fn drop_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = [
        header::CONNECTION,
        HeaderName::from_static("proxy-connection"),
    ]
    .iter()
    .flat_map(|h| headers.get_all(h).iter())
    .filter_map(|v| v.to_str().ok())
    .flat_map(|v| v.split(','))
    .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
    .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

/// What a client says about itself or its route, which only nidan may say to the app.
fn drop_client_claims(headers: &mut HeaderMap) {
    let claims: Vec<HeaderName> = headers
        .keys()
        .filter(|n| {
            let n = n.as_str();
            guard::is_identity_header(n)
                || n.starts_with("x-forwarded-")
                || matches!(
                    n,
                    "forwarded"
                        | "x-real-ip"
                        | "x-original-url"
                        | "x-original-uri"
                        // IIS and some frameworks read the path from it, as from the two above.
                        | "x-rewrite-url"
                )
        })
        .cloned()
        .collect();
    for name in claims {
        headers.remove(name);
    }
}

async fn forward(
    gateway: &Gateway,
    upstream: &Upstream,
    mut req: Request,
    user: Option<&crate::auth::SignedIn>,
    path: &str,
    scheme: &'static str,
) -> Response {
    let websocket = req
        .headers()
        .get(header::UPGRADE)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"));
    let client_upgrade = websocket.then(|| hyper::upgrade::on(&mut req));
    let slot = req
        .extensions()
        .get::<crate::listener::ConnectionSlot>()
        .cloned();
    // What either side sends lasts only as long as the session it was asked for under.
    let held = user.map(|u| gateway.open_streams.hold(u.token_hash));
    // Most requests (GET, an upgrade) have no body: nothing to hold.
    if let Some(u) = user.filter(|_| !hyper::body::Body::is_end_stream(req.body())) {
        let upload = gateway.open_streams.hold(u.token_hash);
        req = req.map(|body| Body::new(UntilEnded::new(body, upload)));
    }
    // The app gets the path the rules were applied to, never a second reading of it.
    let path_and_query = match req.uri().query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    };
    let Ok(uri) = Uri::builder()
        .scheme(upstream.scheme.clone())
        .authority(upstream.authority.clone())
        .path_and_query(path_and_query)
        .build()
    else {
        return own(StatusCode::BAD_REQUEST);
    };
    let peer = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip().to_string());
    let host = req.headers().get(header::HOST).cloned();
    let cookies = cookies_for_app(req.headers());
    *req.uri_mut() = uri;
    let headers = req.headers_mut();
    drop_hop_by_hop(headers);
    drop_client_claims(headers);
    headers.remove(header::COOKIE);
    if let Some(c) = cookies {
        headers.insert(header::COOKIE, c);
    }
    for (name, value) in guard::identity_headers(user) {
        headers.insert(name, value);
    }
    if let Some(host) = host {
        headers.insert(HeaderName::from_static("x-forwarded-host"), host);
    }
    headers.insert(
        HeaderName::from_static("x-forwarded-proto"),
        HeaderValue::from_static(scheme),
    );
    if let Some(ip) = peer.and_then(|ip| HeaderValue::from_str(&ip).ok()) {
        headers.insert(HeaderName::from_static("x-forwarded-for"), ip);
    }
    if websocket {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    }

    let mut response = match gateway.client.request(req).await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "upstream unreachable");
            return own(StatusCode::BAD_GATEWAY);
        }
    };
    drop_nidan_set_cookies(response.headers_mut());
    if response.status() == StatusCode::SWITCHING_PROTOCOLS
        && let Some(client_side) = client_upgrade
    {
        let upstream_side = hyper::upgrade::on(&mut response);
        // The tunnel keeps its connection's slot and client count, and ends at shutdown
        // or when its session does.
        tokio::spawn(async move {
            if let (Ok(a), Ok(b)) = (client_side.await, upstream_side.await) {
                let (mut a, mut b) = (TokioIo::new(a), TokioIo::new(b));
                let copy = tokio::io::copy_bidirectional(&mut a, &mut b);
                let stopping = async {
                    match &slot {
                        Some(slot) => slot.clone().stopping().await,
                        None => std::future::pending().await,
                    }
                };
                let session_ended = async {
                    match held {
                        Some(mut held) => held.ended().await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    _ = copy => {}
                    () = stopping => {}
                    () = session_ended => {}
                }
                drop(slot);
            }
        });
        let (parts, _) = response.into_parts();
        return Response::from_parts(parts, Body::empty());
    }
    let (mut parts, body) = response.into_parts();
    drop_hop_by_hop(&mut parts.headers);
    // Streamed as it arrives: live views must not wait for an end that never comes.
    match held {
        Some(held) => Response::from_parts(parts, Body::new(UntilEnded::new(body, held))),
        None => Response::from_parts(parts, Body::new(body)),
    }
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
        let own_paths = crate::web::own_paths();
        let pick = |list: &[Upstream], prefix: &str, host: &str, path: &str| {
            pick(list, prefix, &own_paths, host, path).cloned()
        };
        assert_eq!(
            pick(&list, "", "cam.example.home", "/login"),
            Some(cam.clone())
        );
        assert_eq!(pick(&list, "", "other", "/live"), Some(all.clone()));
        assert_eq!(pick(&list, "", "other", "/"), Some(all.clone()));
        for own in [
            "/login",
            "/login/2fa",
            "/mypage",
            "/mypage/2fa/setup",
            "/static/style.css",
            "/api/v1/me",
            "/healthz",
            "/metrics",
            "/auth/forward",
            "/setup/a-token",
            "/logout",
        ] {
            assert_eq!(pick(&list, "", "other", own), None, "{own}");
            // Under a pages prefix those are the app's, and the prefix is nidan's.
            assert_eq!(
                pick(&list, "/.nidan", "other", own),
                Some(all.clone()),
                "{own}"
            );
            let prefixed = format!("/.nidan{own}");
            assert_eq!(pick(&list, "/.nidan", "other", &prefixed), None, "{own}");
        }
        assert_eq!(pick(&list, "/.nidan", "other", "/.nidan"), None);
        assert_eq!(
            pick(&list, "/.nidan", "other", "/.nidanx"),
            Some(all.clone())
        );
        // What nidan's router does not answer is the app's, even beside nidan's paths.
        for app in [
            "/mypage/recordings",
            "/login/",
            "/api/events",
            "/static/app.js",
        ] {
            assert_eq!(pick(&list, "", "other", app), Some(all.clone()), "{app}");
        }
    }

    #[test]
    fn nidan_cookies_are_taken_out_however_written() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; nidan_session=SECRET; b=2"),
        );
        assert_eq!(cookies_for_app(&h).unwrap(), "a=1; b=2");
        for only in [
            "nidan_session=SECRET",
            "nidan_session =SECRET",
            " nidan_session= SECRET ;nidan_device=D",
            "NIDAN_SESSION=SECRET",
        ] {
            h.insert(header::COOKIE, HeaderValue::from_static(only));
            assert_eq!(cookies_for_app(&h), None, "{only}");
        }
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("nidan_pending=P; x=1"),
        );
        h.append(
            header::COOKIE,
            HeaderValue::from_static("nidan_csrf=C; y=2"),
        );
        assert_eq!(cookies_for_app(&h).unwrap(), "x=1; y=2");
    }

    proptest::proptest! {
        /// However a Cookie header is spaced and ordered, no cookie of nidan's reaches the
        /// app and every other one does; the session nidan reads is never passed on.
        #[test]
        fn cookie_headers_lose_exactly_nidans_cookies(
            pairs in proptest::collection::vec((
                proptest::sample::select(vec![
                    "nidan_session", "NIDAN_Session", "nidan_device", "nidan_x", "a", "theme", "mynidan_x", "nidan",
                ]),
                "[A-Za-z0-9_-]{1,8}",
                proptest::sample::select(vec!["", " ", "  "]),
            ), 0..6),
        ) {
            let header = pairs
                .iter()
                .map(|(name, value, sp)| format!("{sp}{name}{sp}={value}{sp}"))
                .collect::<Vec<_>>()
                .join(";");
            let mut h = HeaderMap::new();
            h.insert(header::COOKIE, HeaderValue::from_str(&header).unwrap());
            let kept = cookies_for_app(&h).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
            let kept: Vec<&str> = kept.split("; ").filter(|c| !c.is_empty()).collect();
            let expected: Vec<String> = pairs
                .iter()
                .filter(|(name, _, _)| !name.to_ascii_lowercase().starts_with("nidan_"))
                .map(|(name, value, sp)| format!("{name}{sp}={value}"))
                .collect();
            proptest::prop_assert_eq!(&kept, &expected);
            if crate::web::session::cookie_in(&h, "nidan_session").is_some() {
                let passed_on = kept
                    .iter()
                    .any(|c| c.split_once('=').map(|(n, _)| n.trim()) == Some("nidan_session"));
                proptest::prop_assert!(!passed_on);
            }
        }
    }

    #[test]
    fn headers_named_in_connection_and_client_claims_stay_behind() {
        let mut h = HeaderMap::new();
        for (k, v) in [
            ("connection", "keep-alive, X-Secret-Hop"),
            ("proxy-connection", "X-Other-Hop"),
            ("x-secret-hop", "1"),
            ("x-other-hop", "1"),
            ("remote_user", "admin@example.jp"),
            ("remote-groups", "admin"),
            ("x-forwarded-uri", "/public/"),
            ("forwarded", "for=1.2.3.4"),
            ("x-rewrite-url", "/public/"),
            ("accept", "*/*"),
        ] {
            h.insert(HeaderName::from_static(k), HeaderValue::from_static(v));
        }
        drop_hop_by_hop(&mut h);
        drop_client_claims(&mut h);
        let left: Vec<&str> = h.keys().map(|k| k.as_str()).collect();
        assert_eq!(left, ["accept"]);
    }
}
