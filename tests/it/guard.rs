//! The guard as an attacker meets it: forged forwarded headers, path spellings that mean
//! another path, a host with a trailing dot, and identity headers or nidan's cookies that
//! must never reach the app. Requests go out byte for byte (no client library normalises
//! them first).

use std::net::SocketAddr;

use axum::Router;
use axum::extract::Request;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::*;

/// A raw HTTP/1.1 exchange: the status and the body.
pub async fn raw(addr: &str, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let (status, _, body) = raw_full(addr, path, headers).await;
    (status, body)
}

/// The status, the header block and the body.
pub async fn raw_full(addr: &str, path: &str, headers: &[(&str, &str)]) -> (u16, String, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut request = format!("GET {path} HTTP/1.1\r\nConnection: close\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        request.push_str("Host: cam.example.home\r\n");
    }
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let response = String::from_utf8_lossy(&response).into_owned();
    let status = response[9..12].parse().unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    (status, head.to_owned(), body.to_owned())
}

/// The Location header of a raw response's header block.
pub fn raw_location(head: &str) -> &str {
    head.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("location").then(|| v.trim())
        })
        .unwrap_or("")
}

fn addr_of(app: &TestApp) -> String {
    app.base.trim_start_matches("http://").to_owned()
}

/// A naive app: it decodes the path and applies dot segments itself, as many file
/// servers do, and serves its secret under `/admin`. Every answer lists the headers it got.
pub async fn start_naive_app() -> SocketAddr {
    let app = Router::new().fallback(|req: Request| async move {
        let raw = req.uri().path();
        let decoded = percent_encoding::percent_decode_str(raw).decode_utf8_lossy();
        let mut segments: Vec<&str> = Vec::new();
        for s in decoded.split(['/', '\\']) {
            match s {
                "" | "." => {}
                ".." => {
                    segments.pop();
                }
                s => segments.push(s),
            }
        }
        let resolved = segments.join("/").to_ascii_lowercase();
        let headers: Vec<String> = req
            .headers()
            .iter()
            .map(|(k, v)| format!("{k}={}", v.to_str().unwrap_or("?")))
            .collect();
        let what = if resolved.starts_with("admin") {
            "SECRET"
        } else {
            "public"
        };
        format!("{what}\npath={raw}\n{}", headers.join("\n"))
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

pub const PATH_ATTACKS: [&str; 13] = [
    "/admin;x=1/secret.txt",
    "/public/../admin/secret.txt",
    "/public/%2e%2e/admin/secret.txt",
    "/public/.%2e/admin/secret.txt",
    "/public%2F..%2Fadmin%2Fsecret.txt",
    "/public/..%2Fadmin/secret.txt",
    "/public/..%5Cadmin/secret.txt",
    "/public/%252e%252e/admin/secret.txt",
    "/public/..;/admin/secret.txt",
    "/Admin/secret.txt",
    "//admin/secret.txt",
    "/%61dmin/secret.txt",
    "/./admin/secret.txt",
];

#[tokio::test]
async fn no_spelling_of_a_path_walks_past_the_built_in_proxy() {
    let upstream = start_naive_app().await;
    let app = TestApp::with_admin_in(move |d| {
        let mut c = config(d);
        c.upstreams = vec![format!("http://{upstream}").parse().unwrap()];
        c.access.rules = vec![
            "*/public=bypass".parse().unwrap(),
            "cam.example.home/admin=two-step".parse().unwrap(),
        ];
        c
    })
    .await;
    let addr = addr_of(&app);
    let (status, body) = raw(&addr, "/public/x", &[]).await;
    assert_eq!((status, body.lines().next()), (200, Some("public")));
    for path in PATH_ATTACKS {
        let (status, body) = raw(&addr, path, &[]).await;
        assert!(!body.contains("SECRET"), "{path}: {status}");
        assert!([303, 400].contains(&status), "{path}: {status}");
    }
    let (status, _) = raw(&addr, "/publicity.txt", &[]).await;
    assert_eq!(status, 303, "a prefix is whole segments");

    // Signed in without two-step verification: the host's /admin rule holds in every
    // spelling of the path and of the host.
    let session = app.login(ADMIN_EMAIL, PASSWORD).await;
    let cookie = session_pair(&session);
    for path in [
        "/admin/secret.txt",
        "/Admin/secret.txt",
        "//admin/x",
        "/%61dmin/x",
        "/./admin/x",
        "/admin;jsessionid=1/x",
    ] {
        for host in [
            "cam.example.home",
            "cam.example.home.",
            "CAM.example.home:80",
        ] {
            let (status, body) = raw(&addr, path, &[("host", host), ("cookie", &cookie)]).await;
            assert!(!body.contains("SECRET"), "{host}{path}: {status}");
        }
    }
}

#[tokio::test]
async fn forged_headers_do_not_choose_what_forward_auth_checks() {
    let app = TestApp::with_admin_in(|d| {
        let mut c = config(d);
        c.access.rules = vec![
            "cam.example.home=two-step".parse().unwrap(),
            "cam.example.home/public=bypass".parse().unwrap(),
        ];
        c
    })
    .await;
    let addr = addr_of(&app);
    let forged = [
        ("X-Forwarded-Proto", "https"),
        ("X-Forwarded-Host", "cam.example.home"),
        ("X-Forwarded-Uri", "/public/"),
    ];
    // nginx style: only X-Original-URL counts.
    let mut nginx = forged.to_vec();
    nginx.push(("X-Original-URL", "http://cam.example.home/admin/secret.txt"));
    assert_eq!(raw(&addr, "/auth/verify", &nginx).await.0, 401);

    // A signed-in account without two-step verification cannot name another host.
    let session = app.login(ADMIN_EMAIL, PASSWORD).await;
    let cookie = session_pair(&session);
    let other = [
        ("X-Original-URL", "http://cam.example.home/live"),
        ("X-Forwarded-Host", "other.example.home"),
        ("Cookie", cookie.as_str()),
    ];
    assert_eq!(raw(&addr, "/auth/verify", &other).await.0, 403);

    // Traefik/Caddy style: the check's own query string is not the original URL.
    let caddy = [
        ("X-Forwarded-Proto", "https"),
        ("X-Forwarded-Host", "cam.example.home"),
        ("X-Forwarded-Uri", "/admin/secret.txt"),
        ("X-Forwarded-Method", "GET"),
    ];
    let rd = "/auth/forward?rd=https://cam.example.home/public/";
    assert_eq!(raw(&addr, rd, &caddy).await.0, 302);
    // Two values of a header the proxy sets: the client added one.
    let mut doubled = caddy.to_vec();
    doubled.push(("X-Forwarded-Uri", "/public/"));
    assert_eq!(raw(&addr, "/auth/forward", &doubled).await.0, 400);

    // Every path spelling is read once, through either style.
    for path in PATH_ATTACKS {
        let url = format!("http://cam.example.home{path}");
        let (status, _) = raw(&addr, "/auth/verify", &[("X-Original-URL", &url)]).await;
        assert!([400, 401].contains(&status), "{path}: {status}");
        let mut headers = caddy.to_vec();
        headers[2] = ("X-Forwarded-Uri", path);
        let (status, _) = raw(&addr, "/auth/forward", &headers).await;
        assert!([400, 302].contains(&status), "{path}: {status}");
    }
    let dotted = [("X-Original-URL", "http://cam.example.home./live")];
    assert_eq!(raw(&addr, "/auth/verify", &dotted).await.0, 401);
}

#[tokio::test]
async fn the_app_never_sees_forged_identities_or_nidans_cookies() {
    let upstream = start_naive_app().await;
    let app = TestApp::with_admin_in(move |d| {
        let mut c = config(d);
        c.upstreams = vec![format!("http://{upstream}").parse().unwrap()];
        c.access.rules = vec!["*/public=bypass".parse().unwrap()];
        c
    })
    .await;
    let addr = addr_of(&app);
    let session = app.login(ADMIN_EMAIL, PASSWORD).await;
    let token = session_pair(&session);
    let token = token.trim_start_matches("nidan_session=");
    let spaced = format!("theme=dark; nidan_session ={token}; nidan_device=d");
    let forged = [
        ("Remote_User", "intruder@example.jp"),
        ("remote-user", "intruder@example.jp"),
        ("Remote_Groups", "admin"),
        ("Remote-Email", "intruder@example.jp"),
        ("X-Remote-User", "intruder@example.jp"),
        ("X-Auth-Request-Email", "intruder@example.jp"),
        ("X-WebAuth-User", "intruder@example.jp"),
        ("Connection", "keep-alive, X-Hop"),
        ("X-Hop", "hop"),
        ("X-Forwarded-For", "203.0.113.9"),
    ];
    for path in ["/live", "/public/x"] {
        let mut headers = forged.to_vec();
        headers.push(("Cookie", &spaced));
        let (status, body) = raw(&addr, path, &headers).await;
        assert_eq!(status, 200, "{path}: {body}");
        let seen: Vec<&str> = body.lines().skip(1).collect();
        assert!(
            !body.contains("intruder") && !body.contains("203.0.113.9"),
            "{path}: {seen:?}"
        );
        assert!(
            !body.contains(token) && !body.contains("nidan_"),
            "{path}: {seen:?}"
        );
        assert!(!body.contains("x-hop"), "{path}: {seen:?}");
        assert!(seen.contains(&"cookie=theme=dark"), "{path}: {seen:?}");
        let groups: Vec<&&str> = seen.iter().filter(|h| h.starts_with("remote")).collect();
        assert_eq!(groups.len(), 3, "{path}: exactly nidan's three: {seen:?}");
        assert!(
            seen.contains(&"remote-user=admin@example.jp"),
            "{path}: {seen:?}"
        );
    }
    // Signed out on a bypass path: the identity headers are there, and empty.
    let (_, body) = raw(&addr, "/public/x", &forged).await;
    assert!(body.lines().any(|l| l == "remote-user="), "{body}");
    assert!(!body.contains("intruder"), "{body}");
}

#[tokio::test]
async fn the_proxys_own_answers_carry_the_security_headers_and_keep_https() {
    let upstream = start_naive_app().await;
    let gone = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let app = spawn_in(AppData::new().await, move |d| {
        let mut c = config(d);
        c.public_url = Some("https://login.example.home".into());
        c.cookie_domain = Some("example.home".into());
        c.upstreams = vec![
            format!("cam.example.home=http://{upstream}")
                .parse()
                .unwrap(),
            format!("gone.example.home=http://{gone}").parse().unwrap(),
        ];
        c.access.rules = vec!["*/public=bypass".parse().unwrap()];
        c
    })
    .await;
    let get = |host: &'static str, path: &'static str| {
        app.client.get(app.url(path)).header("host", host).send()
    };
    let resp = get("cam.example.home", "/live?cam=1").await.unwrap();
    assert_eq!(resp.status(), 303);
    assert_eq!(
        location(resp.headers()),
        "https://login.example.home/login?rd=https%3A%2F%2Fcam.example.home%2Flive%3Fcam%3D1"
    );
    let bad_gateway = get("gone.example.home", "/public/").await.unwrap();
    assert_eq!(bad_gateway.status(), 502);
    for resp in [resp, bad_gateway] {
        for name in [
            "x-frame-options",
            "x-content-type-options",
            "content-security-policy",
        ] {
            assert!(
                resp.headers().contains_key(name),
                "{} {name}",
                resp.status()
            );
        }
    }
    // The app's own answers are its own.
    let resp = get("cam.example.home", "/public/").await.unwrap();
    assert!(!resp.headers().contains_key("x-frame-options"));
}

/// nidan with the rules `attack_through_proxy` expects, and the naive app to put behind a proxy.
pub async fn app_for_a_proxy() -> (TestApp, SocketAddr) {
    let app = TestApp::with_admin_in(|d| {
        let mut c = config(d);
        c.access.rules = vec![
            "*/public=bypass".parse().unwrap(),
            "*/admin=two-step".parse().unwrap(),
        ];
        c
    })
    .await;
    (app, start_naive_app().await)
}

/// The attacks of this file through a real reverse proxy at `proxy` (running a documented
/// configuration) in front of `start_naive_app`, with nidan's rules `*/public=bypass` and
/// `*/admin=two-step`. `login` is where signed-out people must be sent.
pub async fn attack_through_proxy(app: &TestApp, proxy: &str, login: &str) {
    let forged_route = [
        ("X-Forwarded-Proto", "https"),
        ("X-Forwarded-Host", "cam.example.home"),
        ("X-Forwarded-Uri", "/public/"),
        ("X-Original-URL", "http://cam.example.home/public/"),
        ("X-Original-Method", "GET"),
    ];
    let forged_identity = [
        ("Remote-User", "intruder@example.jp"),
        ("Remote_User", "intruder@example.jp"),
        ("REMOTE_GROUPS", "admin"),
        ("remote_email", "intruder@example.jp"),
    ];
    let (status, body) = raw(proxy, "/public/x", &[]).await;
    assert_eq!(
        (status, body.lines().next()),
        (200, Some("public")),
        "{body}"
    );

    // Signed out: no forged route or path spelling reaches the secret.
    let (status, head, _) = raw_full(
        proxy,
        "/admin/secret.txt?rd=https://cam.example.home/public/",
        &forged_route,
    )
    .await;
    assert_eq!(status, 302, "{head}");
    assert!(
        raw_location(&head).starts_with(&format!("{login}/login?rd=")),
        "{head}"
    );
    for path in PATH_ATTACKS {
        let (status, body) = raw(proxy, path, &forged_route).await;
        assert!(!body.contains("SECRET"), "{path}: {status}");
    }
    // A bypass path: the app hears of nobody, whatever the client claims.
    let (status, body) = raw(proxy, "/public/x", &forged_identity).await;
    assert_eq!(status, 200);
    assert!(
        !body.contains("intruder") && !body.contains("=admin"),
        "{body}"
    );
    // Nor does it get a proxy's placeholder as text (Caddy's {http.reverse_proxy.header.*}).
    assert!(!body.contains("{http."), "{body}");

    // Signed in with a password only: the viewer sees nidan's account and never nidan's
    // cookies; /admin wants two-step verification.
    let session = app.login(ADMIN_EMAIL, PASSWORD).await;
    let cookie = session_pair(&session);
    let token = cookie.trim_start_matches("nidan_session=").to_owned();
    let spaced = format!("a=1; nidan_session ={token}; nidan_lang=en; b=2");
    let mut headers = forged_identity.to_vec();
    headers.push(("Cookie", &spaced));
    let (status, body) = raw(proxy, "/live", &headers).await;
    assert_eq!(status, 200, "{body}");
    let seen: Vec<&str> = body.lines().skip(1).collect();
    assert!(seen.contains(&"remote-user=admin@example.jp"), "{seen:?}");
    assert!(
        !body.contains("intruder") && !body.contains(&token),
        "{seen:?}"
    );
    assert!(!body.contains("nidan_"), "{seen:?}");
    assert!(seen.iter().any(|h| h.starts_with("cookie=a=1")), "{seen:?}");
    let mut headers = forged_route.to_vec();
    headers.push(("Cookie", &cookie));
    let (status, head, body) = raw_full(proxy, "/admin/secret.txt", &headers).await;
    assert_eq!(status, 302, "{head}");
    assert_eq!(raw_location(&head), format!("{login}/mypage/2fa/setup"));
    assert!(!body.contains("SECRET"));
}

/// `tests/corpus/paths.txt`: (what nidan must make of the path, the path).
pub fn hostile_paths() -> Vec<(&'static str, &'static str)> {
    include_str!("../corpus/paths.txt")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split_once(char::is_whitespace).unwrap())
        .map(|(expected, path)| (expected, path.trim()))
        .collect()
}

fn under_public(canonical: &str) -> bool {
    canonical == "/public" || canonical.starts_with("/public/")
}

#[tokio::test]
async fn the_corpus_of_hostile_paths_is_read_once_everywhere() {
    let upstream = start_naive_app().await;
    let app = TestApp::with_admin_in(move |d| {
        let mut c = config(d);
        c.upstreams = vec![
            format!("cam.example.home=http://{upstream}")
                .parse()
                .unwrap(),
        ];
        c.public_url = Some("http://login.example.home".into());
        c.cookie_domain = Some("example.home".into());
        c.access.rules = vec!["*/public=bypass".parse().unwrap()];
        c
    })
    .await;
    let addr = addr_of(&app);
    for (expected, path) in hostile_paths() {
        // Forward-auth, nginx style.
        let url = format!("http://cam.example.home{path}");
        let nginx = [("Host", "login.example.home"), ("X-Original-URL", &url)];
        let (status, _) = raw(&addr, "/auth/verify", &nginx).await;
        let want = match expected {
            "refuse" => 400,
            c if under_public(c) => 200,
            _ => 401,
        };
        assert_eq!(status, want, "/auth/verify {path}");

        // The built-in proxy: the app gets the canonical path, or nothing.
        let (status, body) = raw(&addr, path, &[]).await;
        match expected {
            "refuse" => assert_eq!(status, 400, "proxy {path}: {body}"),
            c if under_public(c) => {
                assert_eq!(status, 200, "proxy {path}");
                let seen = body.lines().nth(1).unwrap_or("");
                assert_eq!(seen, format!("path={c}"), "proxy {path}");
            }
            _ => assert_eq!(status, 303, "proxy {path}"),
        }
    }
}
