use crate::common::*;

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let app = TestApp::with_admin().await;
    app.login(ADMIN_EMAIL, PASSWORD).await;
    for path in [
        "/login",
        "/",
        "/mypage",
        "/no-such-page",
        "/static/style.css",
    ] {
        let resp = app.get(path).await;
        let h = resp.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
            "{path}"
        );
        assert!(!csp.contains("script-src"), "no script may run: {path}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
    }
    assert_eq!(
        app.get("/mypage").await.headers()["cache-control"],
        "no-store"
    );
    assert_eq!(
        app.get("/static/style.css").await.headers()["content-type"],
        "text/css; charset=utf-8"
    );
}

#[tokio::test]
async fn bad_requests_get_a_clear_status_never_a_server_error() {
    let app = TestApp::with_admin().await;
    let (_, page) = app.get_html("/login").await;
    let token = csrf_token(&page).unwrap();

    // Oversized body.
    let big = "a".repeat(20 * 1024);
    let resp = app
        .client
        .post(app.url("/login"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("email", big.as_str()),
            ("password", "x"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    assert_eq!(
        resp.headers()["x-frame-options"],
        "DENY",
        "413 carries the headers"
    );

    // Over-long fields within the body limit: a message, not a crash.
    let long_email = format!("{}@example.jp", "a".repeat(300));
    let long_password = "p".repeat(5000);
    let resp = app
        .client
        .post(app.url("/login"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("email", long_email.as_str()),
            ("password", "x"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let resp = app
        .client
        .post(app.url("/login"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("email", ADMIN_EMAIL),
            ("password", long_password.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);

    // Invalid UTF-8 and missing fields.
    let body = format!("csrf_token={token}&email=%FF%FE&password=%C3%28");
    let resp = app
        .client
        .post(app.url("/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_client_error(), "{}", resp.status());
    let resp = app
        .client
        .post(app.url("/login"))
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);

    // A body that is not a form at all.
    let resp = app
        .client
        .post(app.url("/login"))
        .header("content-type", "application/json")
        .body(format!("csrf_token={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);

    // Wrong method, unknown path.
    let resp = app.client.put(app.url("/login")).send().await.unwrap();
    assert!(
        resp.status() == 405 || resp.status() == 403,
        "{}",
        resp.status()
    );
    let resp = app.client.delete(app.url("/mypage")).send().await.unwrap();
    assert!(
        resp.status() == 405 || resp.status() == 403,
        "{}",
        resp.status()
    );
    let resp = app.get("/no-such-page").await;
    assert_eq!(resp.status(), 404);
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("ページが見つかりません")
    );

    assert_is_redirect_to(&app.login(ADMIN_EMAIL, PASSWORD).await, "/");
}

fn quick_connections(
    header_read_ms: u64,
    max_connections: usize,
) -> impl FnOnce(&AppData) -> nidan::Config {
    move |d| {
        let mut c = config(d);
        c.connections = nidan::listener::ConnectionLimits {
            header_read_timeout: std::time::Duration::from_millis(header_read_ms),
            max_connections,
            ..Default::default()
        };
        c
    }
}

/// Waits (bounded) until the server closes `stream`; `true` when it did.
async fn closed_by_server(stream: &mut tokio::net::TcpStream) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 4096];
    let deadline = std::time::Duration::from_secs(10);
    loop {
        match tokio::time::timeout(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

#[tokio::test]
async fn half_sent_and_idle_connections_are_closed() {
    use tokio::io::AsyncWriteExt;
    let app = spawn_in(AppData::new().await, quick_connections(300, 64)).await;
    let addr = app.base.trim_start_matches("http://").to_owned();

    // A request whose header never ends.
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    assert!(
        closed_by_server(&mut slow).await,
        "half-sent request kept open"
    );

    // A kept-alive connection that sends nothing after its first answer.
    let mut idle = tokio::net::TcpStream::connect(&addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    assert!(
        closed_by_server(&mut idle).await,
        "idle connection kept open"
    );
}

/// Descriptors this process holds for connections accepted on `port` (the server's side):
/// sockets whose local port is `port`, matched by inode, so other tests' sockets in the
/// same process do not count.
fn accepted_descriptors(port: u16) -> usize {
    let mut inodes = std::collections::HashSet::new();
    for table in ["/proc/self/net/tcp", "/proc/self/net/tcp6"] {
        for line in std::fs::read_to_string(table)
            .unwrap_or_default()
            .lines()
            .skip(1)
        {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let local_port = fields[1].rsplit(':').next().unwrap();
            if u16::from_str_radix(local_port, 16) == Ok(port) && fields[3] != "0A" {
                inodes.insert(format!("socket:[{}]", fields[9]));
            }
        }
    }
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| inodes.contains(target.to_string_lossy().as_ref()))
        .count()
}

#[tokio::test]
async fn silent_connections_cannot_take_every_descriptor() {
    let app = spawn_in(AppData::new().await, quick_connections(500, 8)).await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let port: u16 = addr.rsplit(':').next().unwrap().parse().unwrap();
    let mut silent = Vec::new();
    for _ in 0..60 {
        silent.push(tokio::net::TcpStream::connect(&addr).await.unwrap());
    }
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    // The server accepted at most its 8; the rest wait in the kernel's queue.
    let accepted = accepted_descriptors(port);
    assert!(
        (1..=8).contains(&accepted),
        "{accepted} descriptors for 60 silent sockets"
    );
    // Someone else is still served once the silent ones time out.
    let resp = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        reqwest::get(app.url("/healthz")),
    )
    .await
    .expect("served while 60 sockets sat silent")
    .unwrap();
    assert_eq!(resp.status(), 200);
    drop(silent);
}

#[tokio::test]
async fn one_client_cannot_hold_every_connection() {
    let app = spawn_in(AppData::new().await, |d| {
        let mut c = config(d);
        c.connections.max_per_client = 4;
        // This test's client is on loopback, which is exempt unless told otherwise.
        c.connections.exempt.clear();
        c
    })
    .await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(tokio::net::TcpStream::connect(&addr).await.unwrap());
    }
    // The fifth from the same address is closed at once (the header deadline is 10 s).
    let mut fifth = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let closed = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        use tokio::io::AsyncReadExt;
        fifth.read(&mut [0u8; 16]).await
    })
    .await;
    assert!(matches!(closed, Ok(Ok(0)) | Ok(Err(_))), "{closed:?}");
    // One of the four goes: there is room again.
    drop(held.pop());
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(
        reqwest::get(app.url("/healthz")).await.unwrap().status(),
        200
    );
}

/// A page's title is plain words: it goes into tabs, bookmarks and history.
fn assert_plain_title(page: &scraper::Html, path: &str) {
    let title = text(page, "title");
    assert!(
        title.ends_with("nidan") && title.chars().count() < 60,
        "{path}: {title:?}"
    );
    assert!(!title.contains(['<', '>']), "{path}: {title:?}");
    if let Some(token) = csrf_token(page) {
        assert!(
            !title.contains(&token),
            "{path}: the CSRF token in the title"
        );
    }
}

#[tokio::test]
async fn every_page_title_is_plain_text() {
    let app = TestApp::with_admin().await;
    for path in ["/login", "/login?lang=en", "/no-such-page"] {
        let (_, page) = get_html(&client(), &app.url(path)).await;
        assert_plain_title(&page, path);
    }
    app.login(ADMIN_EMAIL, PASSWORD).await;
    for path in ["/", "/mypage", "/mypage/2fa/setup"] {
        let (_, page) = app.get_html(path).await;
        assert_plain_title(&page, path);
    }
    app.enable_2fa().await;
    for path in ["/mypage", "/mypage/2fa/disable", "/mypage/2fa/backup-codes"] {
        let (_, page) = app.get_html(path).await;
        assert_plain_title(&page, path);
    }
    let waiting = app.password_step().await;
    for path in ["/login/2fa", "/login/backup"] {
        let (_, page) = get_html(&waiting, &app.url(path)).await;
        assert_plain_title(&page, path);
    }
}

/// A catch-all upstream puts the app on nidan's origin: a script there (or an injection in
/// it) must not read マイページ's token and sessions or drive the API as the person.
#[tokio::test]
async fn scripts_of_the_same_origin_cannot_read_or_drive_nidans_pages() {
    let app = TestApp::with_admin().await;
    assert_is_redirect_to(&app.login(ADMIN_EMAIL, PASSWORD).await, "/");
    let ask = |method: reqwest::Method, path: &str, mode: &str, dest: &str| {
        app.client
            .request(method, app.url(path))
            .header("sec-fetch-site", "same-origin")
            .header("sec-fetch-mode", mode)
            .header("sec-fetch-dest", dest)
            .header("x-requested-with", "script")
    };
    for (method, path) in [
        (reqwest::Method::GET, "/mypage"),
        (reqwest::Method::POST, "/mypage/sessions/end"),
        (reqwest::Method::GET, "/api/v1/me"),
        (reqwest::Method::POST, "/api/v1/logout"),
    ] {
        for mode in ["cors", "same-origin", "no-cors"] {
            let resp = ask(method.clone(), path, mode, "empty")
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 403, "{method} {path} ({mode})");
        }
    }
    // What browsers do on nidan's own pages still works: navigating, and the style sheet.
    let page = ask(reqwest::Method::GET, "/mypage", "navigate", "document")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let css = ask(
        reqwest::Method::GET,
        "/static/style.css",
        "no-cors",
        "style",
    )
    .send()
    .await
    .unwrap();
    assert_eq!(css.status(), 200);
    // Clients that are not browsers send no such headers.
    assert_eq!(app.get("/api/v1/me").await.status(), 200);
    // The session was not ended by any of the refused requests.
    assert_eq!(app.get("/mypage").await.status(), 200);
}
