use sha2::{Digest, Sha256};

use nidan::clock::Clock;

use crate::common::*;

/// The session token a response set.
fn session_cookie(resp: &reqwest::Response) -> String {
    session_pair(resp)
        .trim_start_matches("nidan_session=")
        .to_owned()
}

fn cookie_attributes(resp: &reqwest::Response) -> String {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("nidan_session="))
        .unwrap()
}

#[tokio::test]
async fn every_sign_in_gets_a_new_token_and_only_its_hash_is_stored() {
    let app = TestApp::with_admin().await;
    let first = app.login(ADMIN_EMAIL, PASSWORD).await;
    let attributes = cookie_attributes(&first);
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(attributes.contains(attribute), "{attributes}");
    }
    assert!(!attributes.contains("Secure"), "plain http here");
    let first = session_cookie(&first);
    let other_browser = client();
    let second = post_form(
        &other_browser,
        &app.url("/login"),
        &app.url("/login"),
        &[("email", ADMIN_EMAIL), ("password", PASSWORD)],
    )
    .await;
    let second = session_cookie(&second);
    assert_ne!(first, second);
    assert_eq!(first.len(), 43, "256 bits, base64url");

    let stored = app.db_bytes("SELECT token_hash FROM sessions").await;
    let hash = |t: &str| Sha256::digest(t.as_bytes()).to_vec();
    assert!(stored.contains(&hash(&first)));
    assert!(stored.contains(&hash(&second)));
    for token_hash in &stored {
        assert_ne!(token_hash.as_slice(), first.as_bytes());
        assert_ne!(token_hash.as_slice(), second.as_bytes());
    }
}

#[tokio::test]
async fn secure_cookies_under_an_https_public_url() {
    let app = spawn_in(AppData::new().await, |d| {
        let mut c = config(d);
        c.public_url = Some("https://login.example.home".into());
        c
    })
    .await;
    assert!(
        app.setup_url
            .as_deref()
            .unwrap()
            .starts_with("https://login.example.home/setup/")
    );
    let out = app.cli(
        &["user", "add", ADMIN_EMAIL, "--password-stdin"],
        Some(PASSWORD),
    );
    assert!(out.status.success());
    let resp = app.login(ADMIN_EMAIL, PASSWORD).await;
    assert!(cookie_attributes(&resp).contains("Secure"));
}

#[tokio::test]
async fn idle_sessions_end_after_the_idle_timeout() {
    let app = TestApp::with_admin().await;
    app.login(ADMIN_EMAIL, PASSWORD).await;
    app.clock.advance(12 * 3600 - 60);
    assert_eq!(app.get("/mypage").await.status(), 200, "used within 12 h");
    app.clock.advance(12 * 3600 - 60);
    assert_eq!(
        app.get("/mypage").await.status(),
        200,
        "each use restarts the idle time"
    );
    app.clock.advance(12 * 3600);
    assert_is_redirect_to(&app.get("/mypage").await, "/login?next=%2Fmypage");
    // And it stays gone.
    app.clock.advance(-12 * 3600);
    assert_eq!(app.get("/mypage").await.status(), 303);
}

#[tokio::test]
async fn busy_sessions_still_end_after_the_absolute_lifetime() {
    let app = TestApp::with_admin().await;
    app.login(ADMIN_EMAIL, PASSWORD).await;
    let start = app.clock.now();
    while app.clock.now() - start < 7 * 24 * 3600 - 11 * 3600 {
        app.clock.advance(11 * 3600);
        assert_eq!(app.get("/").await.status(), 200);
    }
    app.clock.set(start + 7 * 24 * 3600);
    assert_is_redirect_to(&app.get("/").await, "/login");
}

#[tokio::test]
async fn a_signed_out_token_cannot_be_replayed() {
    let app = TestApp::with_admin().await;
    let token = session_cookie(&app.login(ADMIN_EMAIL, PASSWORD).await);
    assert_eq!(app.logout().await.status(), 303);
    let replay = client()
        .get(app.url("/mypage"))
        .header("cookie", format!("nidan_session={token}"))
        .send()
        .await
        .unwrap();
    assert_is_redirect_to(&replay, "/login?next=%2Fmypage");
}

#[tokio::test]
async fn a_password_change_ends_every_session() {
    let app = TestApp::with_admin().await;
    app.login(ADMIN_EMAIL, PASSWORD).await;
    assert_eq!(app.get("/mypage").await.status(), 200);
    let out = app.cli(
        &["user", "set-password", ADMIN_EMAIL, "--password-stdin"],
        Some("a brand new password\n"),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    // Another process ended it: this server's copy of the session lives 1 s by its clock.
    assert_eq!(
        app.get("/mypage").await.status(),
        200,
        "the copy, younger than 1 s"
    );
    app.clock.advance_millis(999);
    assert_eq!(
        app.get("/mypage").await.status(),
        200,
        "the copy, younger than 1 s"
    );
    app.clock.advance_millis(1);
    assert_eq!(app.get("/mypage").await.status(), 303);
    assert_eq!(app.login(ADMIN_EMAIL, PASSWORD).await.status(), 401);
    assert_is_redirect_to(&app.login(ADMIN_EMAIL, "a brand new password").await, "/");
}

#[tokio::test]
async fn a_password_change_ends_sign_ins_waiting_for_their_code() {
    let app = TestApp::with_admin().await;
    let enrolled = app.sign_in_and_enable_2fa().await;
    let waiting = app.password_step().await;
    let out = app.cli(
        &["user", "set-password", ADMIN_EMAIL, "--password-stdin"],
        Some("a brand new password\n"),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    app.clock.advance(30);
    let resp = app
        .send_code(&waiting, "/login/2fa", &app.code_now(&enrolled.secret))
        .await;
    assert!(
        location(resp.headers()).starts_with("/login"),
        "the old password's sign-in must start again: {:?}",
        resp.headers()
    );
    assert_is_redirect_to(
        &waiting.get(app.url("/mypage")).send().await.unwrap(),
        "/login?next=%2Fmypage",
    );
}

#[tokio::test]
async fn a_short_idle_timeout_keeps_a_busy_session_and_ends_a_quiet_one() {
    let app = TestApp::with_admin_in(|d| {
        let mut c = config(d);
        c.policy.session_idle_timeout = 20;
        c
    })
    .await;
    app.login(ADMIN_EMAIL, PASSWORD).await;
    // A request every 10 s for a minute: never 20 s without one.
    for second in (10..=60).step_by(10) {
        app.clock.advance(10);
        let (status, _) = app.get_html("/mypage").await;
        assert_eq!(status, 200, "signed out {second} s in while busy");
    }
    app.clock.advance(20);
    assert_is_redirect_to(&app.get("/mypage").await, "/login?next=%2Fmypage");
}

#[tokio::test]
async fn a_session_cookie_sent_twice_is_read_neither_way() {
    let app = TestApp::with_admin().await;
    let out = app.cli(
        &["user", "add", "other@example.jp", "--password-stdin"],
        Some(PASSWORD),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let login = app.url("/login");
    let sign_in = |email: &'static str| {
        let login = login.clone();
        async move {
            let fields = [("email", email), ("password", PASSWORD)];
            session_cookie(&post_form(&client(), &login, &login, &fields).await)
        }
    };
    let owner = sign_in(ADMIN_EMAIL).await;
    let other = sign_in("other@example.jp").await;
    let me = |cookie: String| {
        let url = app.url("/api/v1/me");
        async move {
            client()
                .get(url)
                .header("cookie", cookie)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(me(format!("nidan_session={owner}")).await, 200);
    // A second one planted after the owner's: neither is taken (before, the last one was).
    assert_eq!(
        me(format!("nidan_session={owner}; nidan_session={other}")).await,
        401
    );
    assert_eq!(
        me(format!(
            "a=1; nidan_session={other}; nidan_session ={owner}"
        ))
        .await,
        401
    );
    // The same name percent-encoded (the cookie jar decodes names): nidan never sets one,
    // so it is planted, and neither it nor the plain one is read.
    assert_eq!(me(format!("nidan%5Fsession={other}")).await, 401);
    assert_eq!(me(format!("%6Eidan_session={other}")).await, 401);
    assert_eq!(
        me(format!("nidan_session={owner}; nidan%5Fsession={other}")).await,
        401
    );
    let page = client()
        .get(app.url("/mypage"))
        .header(
            "cookie",
            format!("nidan_session=junk; nidan%5Fsession={other}"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 303, "not signed in");
    // Other cookies keep their encoded names.
    assert_eq!(
        me(format!("app%5Fpref=1; nidan_session={owner}")).await,
        200
    );
}

#[tokio::test]
async fn a_dual_stack_listener_sees_ipv4_clients_as_ipv4() {
    let app = spawn_in(AppData::new().await, |d| {
        let mut c = config(d);
        c.listen = "[::]:0".parse().unwrap();
        c.public_url = Some("http://127.0.0.1".into());
        c
    })
    .await;
    let port = app.base.rsplit(':').next().unwrap().to_owned();
    let login = format!("http://127.0.0.1:{port}/login");
    let out = app.cli(
        &["user", "add", ADMIN_EMAIL, "--password-stdin"],
        Some(PASSWORD),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let resp = post_form(
        &client(),
        &login,
        &login,
        &[("email", ADMIN_EMAIL), ("password", "wrong password")],
    )
    .await;
    assert_eq!(resp.status(), 401);
    let as_ipv4 = app
        .db_i64(
            "SELECT COUNT(*) FROM audit_events WHERE kind = 'sign_in_failed' AND ip = '127.0.0.1'",
        )
        .await;
    assert_eq!(as_ipv4, 1, "recorded as 127.0.0.1, not ::ffff:127.0.0.1");
}

#[tokio::test]
async fn a_sign_out_or_an_ended_session_that_fails_half_way_changes_nothing() {
    let app = TestApp::with_admin().await;
    assert_is_redirect_to(&app.login(ADMIN_EMAIL, PASSWORD).await, "/");
    let other = client();
    assert_is_redirect_to(&app.login_in(&other).await, "/");
    let sessions = "SELECT COUNT(*) FROM sessions";
    let before = app.db_i64(sessions).await;

    // Ending the other browser's session, refused at its event: it lives on.
    let (_, page) = app.get_html("/mypage").await;
    let handle = attr(&page, "#sessions li input[name=session]", "value").unwrap();
    refuse_audit_events(&app, "session_ended", true).await;
    let resp = app
        .post("/mypage", "/mypage/sessions/end", &[("session", &handle)])
        .await;
    assert_eq!(resp.status(), 500);
    refuse_audit_events(&app, "session_ended", false).await;
    assert_eq!(app.db_i64(sessions).await, before);
    let other_page = other.get(app.url("/mypage")).send().await.unwrap();
    assert_eq!(other_page.status(), 200, "the other session lives");

    // Signing out, refused: still signed in, so a second try can work.
    refuse_audit_events(&app, "signed_out", true).await;
    assert_eq!(app.logout().await.status(), 500);
    refuse_audit_events(&app, "signed_out", false).await;
    assert_eq!(app.db_i64(sessions).await, before);
    assert_eq!(app.get("/mypage").await.status(), 200);
    app.logout().await;
    assert_eq!(app.db_i64(sessions).await, before - 1);
    let events = "SELECT COUNT(*) FROM audit_events WHERE kind = 'signed_out'";
    assert_eq!(app.db_i64(events).await, 1);
}
