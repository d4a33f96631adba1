//! `--pages-prefix /.nidan`: all of nidan's own paths under one prefix, so that a catch-all
//! upstream (MotionEye, which has its own /login and /static/) gets every other path.

use std::net::SocketAddr;

use axum::Router;
use axum::extract::Request;

use crate::common::*;

const PREFIX: &str = "/.nidan";

/// The app: names the path it was asked for.
async fn start_app() -> SocketAddr {
    let app = Router::new().fallback(|req: Request| async move { format!("app:{}", req.uri()) });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// Every link, form, style sheet and script on `page` leads under the prefix (or is this
/// page in the other language, or data).
fn assert_links_under_prefix(page: &scraper::Html, which: &str) {
    let mut seen = 0;
    for (css, attribute) in [
        ("a[href]", "href"),
        ("form[action]", "action"),
        ("link[href]", "href"),
        ("script[src]", "src"),
        ("img[src]", "src"),
    ] {
        let selector = scraper::Selector::parse(css).unwrap();
        for element in page.select(&selector) {
            let target = element.value().attr(attribute).unwrap();
            let ok = target.starts_with(&format!("{PREFIX}/"))
                || target == PREFIX
                || target.starts_with('?')
                || target.starts_with("data:");
            assert!(ok, "{which}: {css} leads to {target}");
            seen += 1;
        }
    }
    assert!(seen > 0, "{which}: no links at all");
}

#[tokio::test]
async fn every_nidan_path_moves_under_the_prefix_and_the_app_gets_the_rest() {
    let upstream = start_app().await;
    let app = TestApp::with_admin_in(move |d| {
        let mut c = config(d);
        c.upstreams = vec![format!("http://{upstream}").parse().unwrap()];
        c.pages_prefix = PREFIX.into();
        c
    })
    .await;
    assert!(
        app.setup_url.as_deref().unwrap().contains("/.nidan/setup/"),
        "{:?}",
        app.setup_url
    );
    let at = |path: &str| format!("{PREFIX}{path}");

    // Signed out, the app's own /login is guarded like any of its paths.
    assert_is_redirect_to(&app.get("/login").await, "/.nidan/login?next=%2Flogin");
    let (status, login) = app.get_html(&at("/login")).await;
    assert_eq!(status, 200);
    assert_links_under_prefix(&login, "sign-in");

    // Signed in: the front and /login, /static/, /api/, /healthz are the app's.
    let resp = app
        .post(
            &at("/login"),
            &at("/login"),
            &[("email", ADMIN_EMAIL), ("password", PASSWORD)],
        )
        .await;
    assert_is_redirect_to(&resp, "/");
    for path in [
        "/",
        "/login",
        "/static/style.css",
        "/api/v1/me",
        "/healthz",
        "/auth/verify",
        "/mypage",
    ] {
        let body = app.get(path).await.text().await.unwrap();
        assert_eq!(body, format!("app:{path}"), "{path}");
    }
    // nidan's own under the prefix.
    assert_eq!(app.get(&at("/healthz")).await.text().await.unwrap(), "ok");
    let css = app.get(&at("/static/style.css")).await;
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
    let openapi: serde_json::Value = app
        .get(&at("/api/v1/openapi.json"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(openapi["servers"][0]["url"], PREFIX);
    let (_, home) = app.get_html(PREFIX).await;
    assert_links_under_prefix(&home, "home");

    // Two-step verification turned on under the prefix, every page's links checked.
    let (status, mypage) = app.get_html(&at("/mypage")).await;
    assert_eq!(status, 200);
    assert_links_under_prefix(&mypage, "マイページ");
    let setup = at("/mypage/2fa/setup");
    let (_, password_page) = app.get_html(&setup).await;
    assert_links_under_prefix(&password_page, "set-up, password");
    let resp = app
        .post(
            &setup,
            &setup,
            &[("step", "password"), ("password", PASSWORD)],
        )
        .await;
    assert_is_redirect_to(&resp, &setup);
    let (_, key_page) = app.get_html(&setup).await;
    assert_links_under_prefix(&key_page, "set-up, key");
    let secret = nidan::otp::secret_from_base32(&text(&key_page, "#totp-key")).unwrap();
    let resp = app
        .post(
            &setup,
            &setup,
            &[("step", "code"), ("code", &app.code_now(&secret))],
        )
        .await;
    let codes_page = page(resp).await;
    assert_links_under_prefix(&codes_page, "backup codes");
    let (_, mypage) = app.get_html(&at("/mypage")).await;
    assert_links_under_prefix(&mypage, "マイページ, two-step on");

    // Sign out, and in again with the code: the waiting sign-in's cookie is scoped to the
    // prefixed /login pages.
    let resp = app.post(&at("/mypage"), &at("/logout"), &[]).await;
    assert_is_redirect_to(&resp, "/.nidan/login?signed_out=1");
    let browser = client();
    let resp = post_form(
        &browser,
        &app.url(&at("/login")),
        &app.url(&at("/login")),
        &[("email", ADMIN_EMAIL), ("password", PASSWORD)],
    )
    .await;
    assert_is_redirect_to(&resp, "/.nidan/login/2fa");
    let pending = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("nidan_pending="))
        .unwrap();
    assert!(pending.contains("Path=/.nidan/login"), "{pending}");
    let (_, code_page) = get_html(&browser, &app.url(&at("/login/2fa"))).await;
    assert_links_under_prefix(&code_page, "code");
    app.clock.advance(30);
    let resp = post_form(
        &browser,
        &app.url(&at("/login")),
        &app.url(&at("/login/2fa")),
        &[("code", &app.code_now(&secret))],
    )
    .await;
    assert_is_redirect_to(&resp, "/");
    let viewer = browser.get(app.url("/live")).send().await.unwrap();
    assert_eq!(viewer.text().await.unwrap(), "app:/live");

    // Forward-auth under the prefix sends people to the prefixed sign-in.
    let resp = client()
        .get(app.url(&at("/auth/verify")))
        .header("x-original-url", "http://cam.example.home/x")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert!(
        location(resp.headers()).starts_with(&format!("{}/.nidan/login?rd=", app.base)),
        "{:?}",
        resp.headers()
    );
    // A page nidan does not have, under the prefix, is nidan's 404, not the app's.
    let missing = app.get(&at("/nothing")).await;
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn a_bad_prefix_is_refused_and_a_catch_all_without_one_is_warned_about() {
    for bad in ["nidan", "/", "/.nidan/", "/a b", "/.."] {
        let out = run_cli(
            &[
                "config",
                "check",
                "--pages-prefix",
                bad,
                "--data-dir",
                "/nonexistent",
            ],
            None,
        );
        assert_cli_fails(&out, "--pages-prefix");
    }
    let warned = run_cli(
        &[
            "config",
            "check",
            "--upstream",
            "http://127.0.0.1:5000",
            "--data-dir",
            "/nonexistent",
        ],
        None,
    );
    assert!(warned.status.success(), "{}", stderr(&warned));
    assert!(
        stderr(&warned).contains("set --pages-prefix /.nidan"),
        "{}",
        stderr(&warned)
    );
    let quiet = run_cli(
        &[
            "config",
            "check",
            "--upstream",
            "http://127.0.0.1:5000",
            "--pages-prefix",
            "/.nidan",
            "--data-dir",
            "/nonexistent",
        ],
        None,
    );
    assert!(quiet.status.success(), "{}", stderr(&quiet));
    assert!(!stderr(&quiet).contains("warning"), "{}", stderr(&quiet));
}

#[tokio::test]
async fn without_an_upstream_the_front_is_nidans_home_under_the_prefix() {
    let app = TestApp::with_admin_in(|d| {
        let mut c = config(d);
        c.pages_prefix = PREFIX.into();
        c
    })
    .await;
    let resp = app.get("/login").await;
    assert_eq!(resp.status(), 404, "the unprefixed /login is nobody's");
    assert!(resp.headers().contains_key("content-security-policy"));
    let resp = app
        .post(
            "/.nidan/login",
            "/.nidan/login",
            &[("email", ADMIN_EMAIL), ("password", PASSWORD)],
        )
        .await;
    let home = location(resp.headers()).to_owned();
    let (status, page) = app.get_html(&home).await;
    assert_eq!(status, 200, "{home}");
    assert_links_under_prefix(&page, "home");
    assert_eq!(home, PREFIX);
    // A page nidan does not have: its error page, whose links stay under the prefix.
    let (status, missing) = app.get_html("/.nidan/nothing").await;
    assert_eq!(status, 404);
    assert_links_under_prefix(&missing, "not found");
}
