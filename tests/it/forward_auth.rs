//! `/auth/verify` as reverse proxies call it, and `rd` through sign-in.

use reqwest::StatusCode;

use crate::common::*;

fn guarded(d: &AppData) -> nidan::Config {
    let mut c = config(d);
    c.allowed_redirect_domains = vec!["example.home".into()];
    c.cookie_domain = None;
    c.access.rules = vec![
        "cam.example.home/health=bypass".parse().unwrap(),
        "vault.example.home=two-step".parse().unwrap(),
    ];
    c
}

/// nginx-style headers go to `/auth/verify`, Traefik/Caddy-style ones to `/auth/forward`.
async fn verify(
    app: &TestApp,
    browser: &reqwest::Client,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let forwarded = headers.iter().any(|(k, _)| k.starts_with("x-forwarded-"));
    let path = if forwarded {
        "/auth/forward"
    } else {
        "/auth/verify"
    };
    let mut req = browser.get(app.url(path));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap()
}

const NGINX: [(&str, &str); 1] = [("x-original-url", "http://cam.example.home/live")];
const TRAEFIK: [(&str, &str); 4] = [
    ("x-forwarded-method", "GET"),
    ("x-forwarded-proto", "https"),
    ("x-forwarded-host", "cam.example.home"),
    ("x-forwarded-uri", "/live?cam=2"),
];

#[tokio::test]
async fn signed_out_requests_get_401_or_a_redirect_to_sign_in() {
    let app = TestApp::with_admin_in(guarded).await;
    let resp = verify(&app, &app.client, &NGINX).await;
    assert_eq!(resp.status(), 401);
    assert_eq!(resp.bytes().await.unwrap().len(), 0, "empty body");

    let resp = verify(&app, &app.client, &TRAEFIK).await;
    assert_eq!(resp.status(), StatusCode::FOUND);
    let expected = format!(
        "{}/login?rd=https%3A%2F%2Fcam%2Eexample%2Ehome%2Flive%3Fcam%3D2",
        app.base
    );
    assert_eq!(location(resp.headers()), expected);

    // A bypass rule lets anyone through, with every account header present and empty, so
    // that no proxy keeps a client's own value in their place.
    let resp = verify(
        &app,
        &app.client,
        &[("x-original-url", "http://cam.example.home/health")],
    )
    .await;
    assert_eq!(resp.status(), 200);
    for name in ["remote-user", "remote-email", "remote-groups"] {
        assert_eq!(resp.headers()[name], "", "{name}");
    }
}

#[tokio::test]
async fn a_full_sign_in_passes_with_the_account_in_headers_by_any_method() {
    let app = TestApp::with_admin_in(guarded).await;
    app.login(ADMIN_EMAIL, PASSWORD).await;
    for method in [
        reqwest::Method::GET,
        reqwest::Method::POST,
        reqwest::Method::HEAD,
    ] {
        let resp = app
            .client
            .request(method.clone(), app.url("/auth/verify"))
            .header("x-original-url", "http://cam.example.home/live")
            .body("ignored")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{method}");
        assert_eq!(resp.headers()["remote-user"], ADMIN_EMAIL);
        assert_eq!(resp.headers()["remote-email"], ADMIN_EMAIL);
        assert_eq!(resp.headers()["remote-groups"], "admin");
        assert_eq!(resp.bytes().await.unwrap().len(), 0);
    }
}

#[tokio::test]
async fn a_pending_second_step_does_not_pass_and_two_step_rules_need_it() {
    let app = TestApp::with_admin_in(guarded).await;
    let vault = [("x-original-url", "http://vault.example.home/")];
    // Signed in with a password only: fine for the camera, not for the vault.
    app.login(ADMIN_EMAIL, PASSWORD).await;
    assert_eq!(verify(&app, &app.client, &NGINX).await.status(), 200);
    assert_eq!(verify(&app, &app.client, &vault).await.status(), 403);
    let resp = verify(
        &app,
        &app.client,
        &[
            ("x-forwarded-method", "GET"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "vault.example.home"),
            ("x-forwarded-uri", "/"),
        ],
    )
    .await;
    assert_eq!(
        location(resp.headers()),
        format!("{}/mypage/2fa/setup", app.base)
    );

    let enrolled = app.enable_2fa().await;
    assert_eq!(verify(&app, &app.client, &vault).await.status(), 200);

    // A browser between password and code is not signed in anywhere.
    let pending = app.password_step().await;
    assert_eq!(verify(&app, &pending, &NGINX).await.status(), 401);
    app.clock.advance(30);
    app.send_code(&pending, "/login/2fa", &app.code_now(&enrolled.secret))
        .await;
    assert_eq!(verify(&app, &pending, &vault).await.status(), 200);
}

#[tokio::test]
async fn rd_leads_back_only_to_allowed_hosts_through_both_steps() {
    let app = TestApp::with_admin_in(guarded).await;
    let rd = "https://cam.example.home/live?cam=2";
    let (_, page) = app.get_html(&format!("/login?rd={}", urlencode(rd))).await;
    assert_eq!(attr(&page, "input[name=rd]", "value").as_deref(), Some(rd));
    assert_is_redirect_to(&login_with_rd(&app, rd).await, rd);
    for evil in [
        "https://evil.example/",
        "https://example.home.evil.example/",
        "//evil.example/",
        "javascript:alert(1)",
    ] {
        assert_is_redirect_to(&login_with_rd(&app, evil).await, "/");
    }
    let (_, page) = app
        .get_html("/login?rd=https%3A%2F%2Fevil.example%2F")
        .await;
    assert_eq!(
        attr(&page, "input[name=rd]", "value"),
        None,
        "not even carried"
    );

    // With two-step verification on, rd survives the code page.
    app.login(ADMIN_EMAIL, PASSWORD).await;
    let enrolled = app.enable_2fa().await;
    let browser = client();
    let url = app.url("/login");
    let resp = post_form(
        &browser,
        &url,
        &url,
        &[("email", ADMIN_EMAIL), ("password", PASSWORD), ("rd", rd)],
    )
    .await;
    assert_is_redirect_to(&resp, "/login/2fa");
    app.clock.advance(30);
    let resp = app
        .send_code(&browser, "/login/2fa", &app.code_now(&enrolled.secret))
        .await;
    assert_is_redirect_to(&resp, rd);
}

#[tokio::test]
async fn the_cookie_domain_covers_subdomains_and_require_2fa_sends_to_set_up() {
    let app = TestApp::with_admin_in(|d| {
        let mut c = guarded(d);
        c.cookie_domain = Some("example.home".into());
        c.public_url = Some("http://login.example.home".into());
        c.access.require_two_step = true;
        c
    })
    .await;
    let browser = client();
    let url = app.url("/login");
    let resp = post_form(
        &browser,
        &url,
        &url,
        &[("email", ADMIN_EMAIL), ("password", PASSWORD)],
    )
    .await;
    let cookie = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("nidan_session="))
        .unwrap();
    assert!(cookie.contains("Domain=example.home"), "{cookie}");
    assert_is_redirect_to(&resp, "/mypage/2fa/setup");
}

async fn login_with_rd(app: &TestApp, rd: &str) -> reqwest::Response {
    let browser = client();
    let url = app.url("/login");
    post_form(
        &browser,
        &url,
        &url,
        &[("email", ADMIN_EMAIL), ("password", PASSWORD), ("rd", rd)],
    )
    .await
}

fn urlencode(s: &str) -> String {
    serde_urlencoded::to_string([("", s)])
        .unwrap()
        .trim_start_matches('=')
        .to_owned()
}
