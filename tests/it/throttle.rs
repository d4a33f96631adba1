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
