//! Who is asking: the peer address, or behind a trusted reverse proxy the address it
//! reports in `X-Forwarded-For`; the User-Agent; the device cookie.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use ipnet::IpNet;

use super::{WebError, WebState};
use crate::auth::Client;

/// Remembers the browser for "sign-in from a new device" notices; holds no session.
pub const DEVICE_COOKIE: &str = "nidan_device";

/// The client address: the peer, unless the peer is a trusted proxy; then the rightmost
/// `X-Forwarded-For` entry that is not itself a trusted proxy (the left ones are the
/// client's own claims and can be forged).
pub fn client_ip(peer: IpAddr, forwarded_for: &[&str], trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let mut client = peer;
    for entry in forwarded_for.iter().rev().flat_map(|h| h.rsplit(',')) {
        match entry.trim().parse::<IpAddr>() {
            Ok(ip) => {
                client = ip;
                if !is_trusted(&ip) {
                    break;
                }
            }
            // Garbage: stop at the last address we could trust.
            Err(_) => break,
        }
    }
    client
}

impl FromRequestParts<WebState> for Client {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &WebState) -> Result<Self, WebError> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::from([127, 0, 0, 1]), |c| c.0.ip());
        let forwarded: Vec<&str> = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        let ip = client_ip(peer, &forwarded, &state.settings().trusted_proxies);
        let user_agent = parts
            .headers
            .get(axum::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let device = CookieJar::from_headers(&parts.headers)
            .get(DEVICE_COOKIE)
            .map(|c| c.value().to_owned());
        Ok(Client::new(ip, user_agent, device))
    }
}

/// A long-lived cookie naming this browser (400 days, the most browsers keep).
pub fn device_cookie(state: &WebState, token: String) -> Cookie<'static> {
    Cookie::build((DEVICE_COOKIE, token))
        .path("/")
        .http_only(true)
        .secure(super::secure_cookies(state))
        .same_site(SameSite::Lax)
        .max_age(time::Duration::days(400))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy() {
        let peer: IpAddr = "203.0.113.9".parse().unwrap();
        let trusted = nets(&["10.0.0.0/8"]);
        // The peer is not a proxy of ours: its header is ignored.
        assert_eq!(client_ip(peer, &["198.51.100.1"], &trusted), peer);
        let proxy: IpAddr = "10.0.0.2".parse().unwrap();
        assert_eq!(
            client_ip(proxy, &["198.51.100.1"], &trusted),
            "198.51.100.1".parse::<IpAddr>().unwrap()
        );
        // A forged entry on the left is skipped: the rightmost untrusted one is the client.
        assert_eq!(
            client_ip(proxy, &["1.2.3.4, 198.51.100.1, 10.0.0.3"], &trusted),
            "198.51.100.1".parse::<IpAddr>().unwrap()
        );
        // Several headers read as one list.
        assert_eq!(
            client_ip(proxy, &["1.2.3.4", "198.51.100.7"], &trusted),
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
        // No header, or garbage: the proxy itself.
        assert_eq!(client_ip(proxy, &[], &trusted), proxy);
        assert_eq!(client_ip(proxy, &["nonsense"], &trusted), proxy);
        // Nothing trusted: always the peer.
        assert_eq!(client_ip(proxy, &["198.51.100.1"], &[]), proxy);
    }
}
