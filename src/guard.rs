//! The guard: may this request through to a guarded app? One answer for nginx's
//! `auth_request` (`/auth/verify`), Traefik's and Caddy's forward-auth (`/auth/forward`) and
//! the built-in proxy.
//!
//! Each caller reads the original request from the headers its own proxy sets and nothing
//! else: nginx's `X-Original-URL`, the forward-auth proxies' `X-Forwarded-Proto/-Host/-Uri`,
//! the built-in proxy's own request line and `Host`. A client can add any header it likes,
//! so a style never falls back to another's headers, the query string of the check itself
//! is never read, and a header given twice is refused.

use axum::http::{HeaderMap, HeaderName, HeaderValue, Uri, header};

use crate::auth::access::AccessDecision;
use crate::auth::target::{BadTarget, Target};
use crate::auth::{AuthResult, SignedIn};
use crate::web::WebState;
use crate::web::session::{SESSION_COOKIE, cookie_in};

/// The original request: what the rules look at, and the URL to come back to after sign-in.
#[derive(Debug, Clone)]
pub struct Asked<'a> {
    pub target: Target,
    scheme: &'static str,
    authority: &'a str,
    query: Option<&'a str>,
}

impl Asked<'_> {
    /// `scheme://authority/canonical-path[?query]`: only a redirect to sign-in needs it.
    pub fn url(&self) -> String {
        let mut url = format!(
            "{}://{}{}",
            self.scheme,
            self.authority.to_ascii_lowercase(),
            self.target.path
        );
        if let Some(q) = self.query {
            url.push('?');
            url.push_str(q);
        }
        url
    }
}

static ORIGINAL_URL: HeaderName = HeaderName::from_static("x-original-url");
static FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
static FORWARDED_URI: HeaderName = HeaderName::from_static("x-forwarded-uri");

/// The headers that tell the guarded app who is asking. They are nidan's alone.
pub static REMOTE_USER: HeaderName = HeaderName::from_static("remote-user");
pub static REMOTE_EMAIL: HeaderName = HeaderName::from_static("remote-email");
pub static REMOTE_GROUPS: HeaderName = HeaderName::from_static("remote-groups");

/// Whether a client's header could be read by an app as an identity header: nidan's own in
/// any case and with any separator (CGI and WSGI read `Remote_User` as `REMOTE_USER`), and
/// the names other sign-in proxies use (`X-Remote-User`, `X-Auth-Request-Email`,
/// `X-WebAuth-User`, `X-Forwarded-User`), which an app may be set up to trust.
pub fn is_identity_header(name: &str) -> bool {
    let letters: String = name
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    const FAMILIES: [&str; 4] = ["remote", "xremote", "xauthrequest", "xwebauth"];
    FAMILIES
        .iter()
        .any(|p| letters.len() > p.len() && letters.starts_with(p))
        || matches!(
            letters.as_str(),
            "xforwardeduser"
                | "xforwardedemail"
                | "xforwardedgroups"
                | "xforwardedpreferredusername"
        )
}

/// nidan's identity headers for a request let through: all of them, every time, empty when
/// nobody is signed in, so that no proxy can keep a client's own value in their place.
pub fn identity_headers(user: Option<&SignedIn>) -> [(HeaderName, HeaderValue); 3] {
    let value =
        |s: &str| HeaderValue::from_bytes(s.as_bytes()).unwrap_or(HeaderValue::from_static(""));
    let (email, groups) = match user {
        Some(u) => (
            value(&u.email),
            HeaderValue::from_static(if u.is_admin { "admin" } else { "" }),
        ),
        None => (HeaderValue::from_static(""), HeaderValue::from_static("")),
    };
    [
        (REMOTE_USER.clone(), email.clone()),
        (REMOTE_EMAIL.clone(), email),
        (REMOTE_GROUPS.clone(), groups),
    ]
}

/// The one value of a header; missing, repeated or not text is `None`.
fn single<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
    let mut values = headers.get_all(name).iter();
    let first = values.next()?;
    if values.next().is_some() {
        return None;
    }
    first.to_str().ok()
}

fn scheme(raw: &str) -> Result<&'static str, BadTarget> {
    match raw {
        s if s.eq_ignore_ascii_case("https") => Ok("https"),
        s if s.eq_ignore_ascii_case("http") => Ok("http"),
        _ => Err(BadTarget::BadUrl),
    }
}

/// `path[?query]` split, with a fragment (never sent by a browser) refused.
fn split_uri(path_and_query: &str) -> Result<(&str, Option<&str>), BadTarget> {
    if path_and_query.contains('#') {
        return Err(BadTarget::BadUrl);
    }
    Ok(match path_and_query.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (path_and_query, None),
    })
}

fn asked<'a>(
    scheme: &'static str,
    authority: &'a str,
    path_and_query: &'a str,
) -> Result<Asked<'a>, BadTarget> {
    if authority.contains(['/', '?', '#', ',', ' ']) {
        return Err(BadTarget::BadHost);
    }
    let (path, query) = split_uri(path_and_query)?;
    Ok(Asked {
        target: Target::new(authority, path)?,
        scheme,
        authority,
        query,
    })
}

/// nginx: `X-Original-URL: $scheme://$server_name$request_uri`, and nothing else.
pub fn from_original_url(headers: &HeaderMap) -> Result<Asked<'_>, BadTarget> {
    let url = single(headers, &ORIGINAL_URL).ok_or(BadTarget::BadUrl)?;
    let (raw_scheme, rest) = url.split_once("://").ok_or(BadTarget::BadUrl)?;
    let (authority, path_and_query) = match rest.find(['/', '?']) {
        Some(i) if rest.as_bytes()[i] == b'/' => rest.split_at(i),
        _ => return Err(BadTarget::BadUrl),
    };
    asked(scheme(raw_scheme)?, authority, path_and_query)
}

/// Traefik and Caddy: `X-Forwarded-Proto`, `-Host` and `-Uri`, each set by the proxy.
pub fn from_forwarded(headers: &HeaderMap) -> Result<Asked<'_>, BadTarget> {
    let get = |name| single(headers, name).ok_or(BadTarget::BadUrl);
    asked(
        scheme(get(&FORWARDED_PROTO)?)?,
        get(&FORWARDED_HOST)?,
        get(&FORWARDED_URI)?,
    )
}

/// The built-in proxy: the request itself. An absolute request line must name the same
/// host as `Host`.
pub fn from_request<'a>(
    headers: &'a HeaderMap,
    uri: &'a Uri,
    scheme: &'static str,
) -> Result<Asked<'a>, BadTarget> {
    let host = single(headers, &header::HOST);
    let authority = match (uri.authority().map(|a| a.as_str()), host) {
        (Some(a), Some(h)) if !a.eq_ignore_ascii_case(h) => return Err(BadTarget::BadHost),
        (Some(a), _) => a,
        (None, Some(h)) => h,
        (None, None) => return Err(BadTarget::BadHost),
    };
    let path_and_query = uri.path_and_query().map_or("/", |p| p.as_str());
    asked(scheme, authority, path_and_query)
}

/// What the guard says about a request whose target is known.
pub enum Verdict {
    Allow(Option<SignedIn>),
    /// Sign in first.
    SignIn,
    /// Signed in, but the rule wants two-step verification, which the account has not set up.
    SetUpTwoStep,
}

/// The longest a session check may take before it counts as "unavailable".
const CHECK_DEADLINE: std::time::Duration = std::time::Duration::from_secs(3);

/// The session (from nidan's cookie) and the access rules decide.
pub async fn verdict(
    state: &WebState,
    headers: &HeaderMap,
    target: &Target,
) -> AuthResult<Verdict> {
    let user = match cookie_in(headers, SESSION_COOKIE) {
        // A proxy waits for this answer before every request: a database that answers
        // nothing (a partition) must not hold it longer than this.
        Some(token) => tokio::time::timeout(CHECK_DEADLINE, state.auth().session(token))
            .await
            .map_err(|_| {
                crate::auth::AuthError::Unavailable(crate::store::StoreError::Unavailable(
                    sqlx::Error::PoolTimedOut,
                ))
            })??,
        None => None,
    };
    Ok(
        match state.settings().access.decide(target, user.as_ref()) {
            AccessDecision::Allow(_) => Verdict::Allow(user),
            AccessDecision::SignIn => Verdict::SignIn,
            AccessDecision::SetUpTwoStep => Verdict::SetUpTwoStep,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn each_style_reads_only_its_own_headers() {
        let forged = [
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "other.example.home"),
            ("x-forwarded-uri", "/public/"),
        ];
        let mut nginx = forged.to_vec();
        nginx.push((
            "x-original-url",
            "https://cam.example.home/admin/secret.txt?a=1",
        ));
        let nginx_headers = headers(&nginx);
        let asked = from_original_url(&nginx_headers).unwrap();
        assert_eq!(asked.target.host, "cam.example.home");
        assert_eq!(asked.target.path.to_string(), "/admin/secret.txt");
        assert_eq!(asked.url(), "https://cam.example.home/admin/secret.txt?a=1");

        let mut caddy = forged.to_vec();
        caddy.push(("x-original-url", "https://cam.example.home/public/"));
        let caddy_headers = headers(&caddy);
        let asked = from_forwarded(&caddy_headers).unwrap();
        assert_eq!(asked.target.host, "other.example.home");
        assert_eq!(asked.target.path.to_string(), "/public/");

        assert!(from_original_url(&headers(&forged)).is_err(), "no fallback");
        assert!(
            from_forwarded(&headers(&nginx[3..])).is_err(),
            "no fallback"
        );
    }

    #[test]
    fn repeated_odd_or_missing_values_are_refused() {
        for bad in [
            vec![
                ("x-original-url", "https://a/x"),
                ("x-original-url", "https://b/y"),
            ],
            vec![("x-original-url", "ftp://a/x")],
            vec![("x-original-url", "https://a")],
            vec![("x-original-url", "https://a?x=/")],
            vec![("x-original-url", "https://u@a/x")],
            vec![("x-original-url", "https://a/x#frag")],
            vec![("x-original-url", "https://a, b/x")],
            vec![("x-original-url", "https://a/public/..%2Fadmin")],
        ] {
            assert!(from_original_url(&headers(&bad)).is_err(), "{bad:?}");
        }
        let two_hosts = headers(&[
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "cam.example.home, other"),
            ("x-forwarded-uri", "/"),
        ]);
        assert!(from_forwarded(&two_hosts).is_err());
    }

    #[test]
    fn the_built_in_proxy_reads_its_request_line_and_host() {
        let h = headers(&[("host", "Cam.Example.Home.:8080")]);
        let uri: Uri = "/%61dmin/./x?q=1".parse().unwrap();
        let asked = from_request(&h, &uri, "https").unwrap();
        assert_eq!(asked.target.host, "cam.example.home");
        assert_eq!(asked.url(), "https://cam.example.home.:8080/admin/x?q=1");
        let other: Uri = "http://other.example.home/admin".parse().unwrap();
        assert!(from_request(&h, &other, "http").is_err(), "two hosts");
        assert!(from_request(&HeaderMap::new(), &"/".parse().unwrap(), "http").is_err());
    }

    #[test]
    fn identity_headers_in_every_spelling() {
        for name in [
            "Remote-User",
            "remote_user",
            "REMOTE-GROUPS",
            "Remote_Email",
            "remote-name",
            "RemoteUser",
            "Remote.User",
            "x-remote-user",
            "X-Auth-Request-Email",
            "X-WebAuth-User",
            "X-Forwarded-User",
            "X-Forwarded-Preferred-Username",
        ] {
            assert!(is_identity_header(name), "{name}");
        }
        for name in [
            "remote",
            "remote-",
            "x-remote",
            "cookie",
            "x-forwarded-for",
            "x-auth",
        ] {
            assert!(!is_identity_header(name), "{name}");
        }
        let empty = identity_headers(None);
        assert!(empty.iter().all(|(_, v)| v.is_empty()));
        assert_eq!(empty.len(), 3);
    }

    proptest! {
        /// Whatever a client puts in the headers, reading them never panics, and what is
        /// accepted has a normalised host and a canonical path.
        #[test]
        fn forwarded_headers_never_panic(
            proto in "[a-zA-Z]{0,6}",
            host in "[a-zA-Z0-9.:\\[\\]@%_-]{0,24}",
            uri in "[ -~]{0,40}",
        ) {
            let mut h = HeaderMap::new();
            for (name, value) in [(&FORWARDED_PROTO, &proto), (&FORWARDED_HOST, &host), (&FORWARDED_URI, &uri)] {
                if let Ok(v) = HeaderValue::from_str(value) {
                    h.insert(name.clone(), v);
                }
            }
            if let Ok(asked) = from_forwarded(&h) {
                prop_assert_eq!(asked.target.host.to_ascii_lowercase(), asked.target.host.clone());
                prop_assert!(!asked.target.host.ends_with('.'));
                prop_assert!(asked.url().starts_with("http"));
            }
            let url = format!("{proto}://{host}{uri}");
            if let Ok(v) = HeaderValue::from_str(&url) {
                let mut h = HeaderMap::new();
                h.insert(ORIGINAL_URL.clone(), v);
                let _ = from_original_url(&h);
            }
        }
    }
}
