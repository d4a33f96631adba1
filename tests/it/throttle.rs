use crate::common::*;

async fn alert(resp: reqwest::Response) -> (u16, String) {
    let status = resp.status().as_u16();
    let page = scraper::Html::parse_document(&resp.text().await.unwrap());
    (status, text(&page, "[role=alert]"))
}

#[tokio::test]
async fn ten_failures_lock_the_account_for_a_while_not_for_good() {
    let app = TestApp::with_admin().await;
    for i in 1..=9 {
        let (status, _) = alert(app.login(ADMIN_EMAIL, "wrong password").await).await;
        assert_eq!(status, 401, "failure {i}");
    }
    let (status, message) = alert(app.login(ADMIN_EMAIL, "wrong password").await).await;
    assert_eq!(status, 429, "the 10th failure sets the lock");
    assert!(message.contains("15分"), "{message}");

    // Even the right password waits now, with the same answer as an unknown state.
    let (status, _) = alert(app.login(ADMIN_EMAIL, PASSWORD).await).await;
    assert_eq!(status, 429);
    let listed = stdout(&app.cli(&["user", "list"], None));
    let row = listed.lines().find(|l| l.starts_with(ADMIN_EMAIL)).unwrap();
    assert!(row.trim_end().ends_with("yes"), "locked: {row}");

    app.clock.advance(14 * 60);
    let (status, message) = alert(app.login(ADMIN_EMAIL, PASSWORD).await).await;
    assert_eq!(status, 429);
    assert!(message.contains("1分"), "{message}");
    app.clock.advance(60);
    assert_is_redirect_to(&app.login(ADMIN_EMAIL, PASSWORD).await, "/");
}

#[tokio::test]
async fn unlock_clears_the_lock_at_once() {
    let app = TestApp::with_admin().await;
    for _ in 0..10 {
        app.login(ADMIN_EMAIL, "wrong password").await;
    }
    assert_eq!(app.login(ADMIN_EMAIL, PASSWORD).await.status(), 429);
    let out = app.cli(&["user", "unlock", ADMIN_EMAIL], None);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_is_redirect_to(&app.login(ADMIN_EMAIL, PASSWORD).await, "/");
}

#[tokio::test]
async fn signing_in_starts_the_account_count_afresh() {
    let app = TestApp::with_admin().await;
    // Signs in on a browser of its own: the failing one stays signed out.
    let sign_in = || async {
        let login = app.url("/login");
        let fields = [("email", ADMIN_EMAIL), ("password", PASSWORD)];
        post_form(&client(), &login, &login, &fields).await
    };
    for _ in 0..9 {
        assert_eq!(app.login(ADMIN_EMAIL, "wrong password").await.status(), 401);
    }
    assert_is_redirect_to(&sign_in().await, "/");
    // Nine more within the same 15 minutes: not ten in a row since the last success.
    for i in 1..=9 {
        assert_eq!(
            app.login(ADMIN_EMAIL, "wrong password").await.status(),
            401,
            "failure {i} after the success"
        );
    }
    assert_is_redirect_to(&sign_in().await, "/");
}

#[tokio::test]
async fn failures_spread_over_more_than_the_window_do_not_lock() {
    let app = TestApp::with_admin().await;
    for _ in 0..9 {
        app.login(ADMIN_EMAIL, "wrong password").await;
    }
    app.clock.advance(15 * 60 + 1);
    for _ in 0..9 {
        assert_eq!(app.login(ADMIN_EMAIL, "wrong password").await.status(), 401);
    }
    assert_is_redirect_to(&app.login(ADMIN_EMAIL, PASSWORD).await, "/");
}

#[tokio::test]
async fn unknown_addresses_are_throttled_like_known_ones() {
    let app = TestApp::with_admin().await;
    for _ in 0..9 {
        assert_eq!(app.login("nobody@example.jp", "x").await.status(), 401);
    }
    assert_eq!(app.login("nobody@example.jp", "x").await.status(), 429);
    assert_is_redirect_to(&app.login(ADMIN_EMAIL, PASSWORD).await, "/");
}

#[tokio::test]
async fn one_client_address_trying_many_accounts_is_throttled() {
    let app = TestApp::with_admin().await;
    // 50 failures from 127.0.0.1, spread over accounts so no single account locks.
    for i in 0..50 {
        let email = format!("user{}@example.jp", i / 5);
        let status = app.login(&email, "wrong password").await.status();
        let expected = if i < 49 { 401 } else { 429 };
        assert_eq!(status, expected, "attempt {i}");
    }
    assert_eq!(app.login(ADMIN_EMAIL, PASSWORD).await.status(), 429);
    app.clock.advance(15 * 60);
    assert_is_redirect_to(&app.login(ADMIN_EMAIL, PASSWORD).await, "/");
}

/// `n` JSON posts at once from one browser; their statuses.
async fn at_once(
    app: &TestApp,
    browser: &reqwest::Client,
    n: usize,
    path: &str,
    body: serde_json::Value,
) -> Vec<u16> {
    let sends = (0..n).map(|_| {
        browser
            .post(app.url(path))
            .header("x-requested-with", "test")
            .json(&body)
            .send()
    });
    futures_util::future::join_all(sends)
        .await
        .into_iter()
        .map(|r| r.unwrap().status().as_u16())
        .collect()
}

async fn events(app: &TestApp, kind: &str) -> i64 {
    app.db_i64(&format!(
        "SELECT COUNT(*) FROM audit_events WHERE kind = '{kind}'"
    ))
    .await
}

async fn api_sign_in(app: &TestApp, browser: &reqwest::Client, password: &str) -> u16 {
    at_once(
        app,
        browser,
        1,
        "/api/v1/login",
        serde_json::json!({"email": ADMIN_EMAIL, "password": password}),
    )
    .await[0]
}

#[tokio::test]
async fn a_hundred_wrong_passwords_at_once_evaluate_only_the_limit() {
    let app = TestApp::with_admin().await;
    // The owner's browser has signed in here before, and signed out again.
    let owner = client();
    assert_eq!(api_sign_in(&app, &owner, PASSWORD).await, 200);
    assert_eq!(
        at_once(&app, &owner, 1, "/api/v1/logout", serde_json::json!({})).await[0],
        200
    );

    let stranger = client();
    let wrong = serde_json::json!({"email": ADMIN_EMAIL, "password": "wrong password"});
    let statuses = at_once(&app, &stranger, 100, "/api/v1/login", wrong).await;
    assert!(
        statuses.iter().all(|s| [401, 429].contains(s)),
        "{statuses:?}"
    );
    assert_eq!(events(&app, "sign_in_failed").await, 10, "evaluated");
    assert_eq!(events(&app, "locked").await, 1, "one lock, one notice");

    // The right password from an unknown browser waits; the owner's browser is not locked out.
    assert_eq!(api_sign_in(&app, &client(), PASSWORD).await, 429);
    assert_eq!(api_sign_in(&app, &owner, PASSWORD).await, 200);
}

#[tokio::test]
async fn guessing_from_the_owners_browser_is_still_limited() {
    let app = TestApp::with_admin().await;
    let owner = client();
    assert_eq!(api_sign_in(&app, &owner, PASSWORD).await, 200);
    let wrong = serde_json::json!({"email": ADMIN_EMAIL, "password": "wrong password"});
    let statuses = at_once(&app, &owner, 60, "/api/v1/login", wrong).await;
    assert_eq!(statuses.iter().filter(|s| **s == 401).count(), 9);
    assert_eq!(events(&app, "sign_in_failed").await, 10);
    assert_eq!(api_sign_in(&app, &owner, PASSWORD).await, 429);
    // Other browsers were never part of it.
    assert_eq!(api_sign_in(&app, &client(), PASSWORD).await, 200);
}

#[tokio::test]
async fn a_hundred_and_fifty_wrong_codes_at_once_evaluate_only_the_limits() {
    let app = TestApp::with_admin().await;
    app.login(ADMIN_EMAIL, PASSWORD).await;
    app.enable_2fa().await;
    let wrong_code = serde_json::json!({"code": "000000"});

    // One pending sign-in: five codes are looked at, the rest refused unseen.
    let browser = client();
    assert_eq!(api_sign_in(&app, &browser, PASSWORD).await, 200);
    let statuses = at_once(
        &app,
        &browser,
        150,
        "/api/v1/login/totp",
        wrong_code.clone(),
    )
    .await;
    assert!(!statuses.contains(&200), "{statuses:?}");
    assert_eq!(events(&app, "second_step_failed").await, 5);
    assert_eq!(events(&app, "locked").await, 0);

    // Three pending sign-ins at once: the account's limit of ten holds across them,
    // and the owner hears of the lock once.
    let mut browsers = Vec::new();
    for _ in 0..3 {
        let b = client();
        assert_eq!(api_sign_in(&app, &b, PASSWORD).await, 200);
        browsers.push(b);
    }
    let storms = browsers
        .iter()
        .map(|b| at_once(&app, b, 50, "/api/v1/login/totp", wrong_code.clone()));
    futures_util::future::join_all(storms).await;
    assert_eq!(events(&app, "second_step_failed").await, 10);
    assert_eq!(events(&app, "locked").await, 1);
}

#[tokio::test]
async fn the_password_asked_again_is_limited_at_once_too() {
    let new = "violet harbour lantern 42";
    for (path, body) in [
        (
            "/api/v1/2fa/enable",
            serde_json::json!({"password": "wrong password"}),
        ),
        (
            "/api/v1/password",
            serde_json::json!({"current_password": "wrong password", "new_password": new}),
        ),
    ] {
        let app = TestApp::with_admin().await;
        let browser = client();
        assert_eq!(api_sign_in(&app, &browser, PASSWORD).await, 200);
        let statuses = at_once(&app, &browser, 60, path, body).await;
        assert!(!statuses.contains(&200), "{path}: {statuses:?}");
        assert_eq!(events(&app, "sign_in_failed").await, 10, "{path}");
        assert_eq!(events(&app, "locked").await, 1, "{path}");
    }
}

#[tokio::test]
async fn a_device_cookie_planted_in_the_owners_browser_is_not_adopted() {
    let app = TestApp::with_admin().await;
    let planted = "PLANTEDplantedPLANTEDplantedPLANTEDplanted1";
    // The owner's browser carries a device cookie someone else chose.
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    let base: reqwest::Url = app.base.parse().unwrap();
    jar.add_cookie_str(&format!("nidan_device={planted}; Path=/"), &base);
    let owner = reqwest::Client::builder()
        .cookie_provider(jar)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let login = app.url("/login");
    let fields = [("email", ADMIN_EMAIL), ("password", PASSWORD)];
    let resp = post_form(&owner, &login, &login, &fields).await;
    assert_is_redirect_to(&resp, "/");
    let issued = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.strip_prefix("nidan_device="))
        .map(|c| c.split(';').next().unwrap().to_owned());
    assert!(
        issued.as_deref().is_some_and(|d| d != planted),
        "a new device cookie replaces the planted one: {issued:?}"
    );

    // Whoever planted it guesses with it: that is a stranger's browser, not the owner's.
    let stranger = client();
    let wrong = serde_json::json!({"email": ADMIN_EMAIL, "password": "wrong password"});
    for _ in 0..10 {
        stranger
            .post(app.url("/api/v1/login"))
            .header("x-requested-with", "test")
            .header("cookie", format!("nidan_device={planted}"))
            .json(&wrong)
            .send()
            .await
            .unwrap();
    }
    assert_eq!(
        api_sign_in(&app, &client(), PASSWORD).await,
        429,
        "strangers are locked"
    );
    assert_eq!(
        api_sign_in(&app, &owner, PASSWORD).await,
        200,
        "the owner is not"
    );
}
