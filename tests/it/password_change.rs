//! マイページ →「パスワードの変更」 and `POST /api/v1/password`: the current password, then
//! a new one that passes the policy; every other session and pending sign-in ends.

use serde_json::{Value, json};

use crate::common::*;

const NEW: &str = "violet harbour lantern 42";
const PAGE: &str = "/mypage/password";

impl TestApp {
    async fn change_password(&self, current: &str, new: &str, again: &str) -> reqwest::Response {
        let fields = [
            ("current_password", current),
            ("new_password", new),
            ("new_password_confirm", again),
        ];
        self.post(PAGE, PAGE, &fields).await
    }
}

/// The administrator signed in twice: in the app's client and in another browser.
async fn signed_in_twice() -> (TestApp, reqwest::Client) {
    let app = TestApp::with_admin().await;
    let other = client();
    assert_is_redirect_to(&app.login_in(&other).await, "/");
    assert_is_redirect_to(&app.login(ADMIN_EMAIL, PASSWORD).await, "/");
    (app, other)
}

/// Password changes in the audit trail.
async fn changes(app: &TestApp) -> i64 {
    app.db_i64("SELECT COUNT(*) FROM audit_events WHERE kind = 'password_changed'")
        .await
}

#[tokio::test]
async fn a_change_ends_every_other_session_and_keeps_this_browser_signed_in() {
    let (app, other) = signed_in_twice().await;

    let (status, page) = app.get_html("/mypage").await;
    assert_eq!(status, 200);
    assert_eq!(attr(&page, "#change-password", "href").unwrap(), PAGE);
    let (status, form) = app.get_html(PAGE).await;
    assert_eq!(status, 200);
    assert_eq!(text(&form, "h1"), "パスワードの変更");
    assert_eq!(
        attr(&form, "#new_password", "autocomplete").as_deref(),
        Some("new-password")
    );
    assert_eq!(
        attr(&form, "#new_password", "minlength").as_deref(),
        Some("12")
    );

    let resp = app.change_password(PASSWORD, NEW, NEW).await;
    assert_is_redirect_to(&resp, "/mypage?notice=password_changed");
    let (status, page) = app.get_html("/mypage?notice=password_changed").await;
    assert_eq!(status, 200, "this browser stays signed in");
    assert!(text(&page, "[role=status]").contains("パスワードを変更しました"));
    assert_eq!(app.db_i64("SELECT COUNT(*) FROM sessions").await, 1);
    let (status, _) = get_html(&other, &app.url("/mypage")).await;
    assert_eq!(status, 303, "the other browser is signed out");
    assert!(!app.signs_in_as(ADMIN_EMAIL, PASSWORD).await);
    assert!(app.signs_in_as(ADMIN_EMAIL, NEW).await);
    assert_eq!(changes(&app).await, 1);
}

#[tokio::test]
async fn a_wrong_current_password_changes_nothing_and_counts_as_a_failed_attempt() {
    let (app, other) = signed_in_twice().await;

    let resp = app.change_password("not my password!", NEW, NEW).await;
    assert_eq!(resp.status(), 401);
    let form = page(resp).await;
    assert_eq!(
        text(&form, "[role=alert]"),
        "パスワードが正しくありません。"
    );
    assert_eq!(
        attr(&form, "#current_password", "aria-invalid").as_deref(),
        Some("true")
    );
    let failed = "SELECT COUNT(*) FROM audit_events WHERE kind = 'sign_in_failed'";
    assert_eq!(app.db_i64(failed).await, 1, "counted like a sign-in");
    let (status, _) = get_html(&other, &app.url("/mypage")).await;
    assert_eq!(status, 200, "nothing ended");
    assert!(app.signs_in_as(ADMIN_EMAIL, PASSWORD).await);

    // The attempt limit holds for the change too: wrong ones until it locks, then even
    // the right password is turned away.
    let mut statuses = Vec::new();
    for _ in 0..12 {
        let resp = app.change_password("not my password!", NEW, NEW).await;
        statuses.push(resp.status().as_u16());
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    let resp = app.change_password(PASSWORD, NEW, NEW).await;
    assert_eq!(resp.status(), 429);
    assert!(text(&page(resp).await, "[role=alert]").contains("しばらく"));
}

#[tokio::test]
async fn a_weak_repeated_or_mistyped_new_password_is_refused_and_costs_no_attempt() {
    let app = TestApp::with_admin().await;
    assert_is_redirect_to(&app.login(ADMIN_EMAIL, PASSWORD).await, "/");
    for (new, again, status, says) in [
        (
            NEW,
            "violet harbour lantern 43",
            400,
            "パスワードが一致しません。",
        ),
        ("short one", "short one", 400, "12文字以上"),
        (
            "password1234",
            "password1234",
            400,
            "よく使われるパスワード",
        ),
        (PASSWORD, PASSWORD, 400, "現在のパスワードと同じ"),
    ] {
        let resp = app.change_password(PASSWORD, new, again).await;
        assert_eq!(resp.status(), status, "{new}");
        let form = page(resp).await;
        assert!(
            text(&form, "[role=alert]").contains(says),
            "{new}: {}",
            form.html()
        );
        assert_eq!(
            attr(&form, "#new_password", "aria-invalid").as_deref(),
            Some("true"),
            "{new}"
        );
    }
    // The same password in full-width letters, or with invisible characters added, is the
    // same password; a line break is no character a browser can type again.
    let wide: String = PASSWORD
        .chars()
        .map(|c| match c {
            'a'..='z' => char::from_u32(c as u32 - 'a' as u32 + 'ａ' as u32).unwrap(),
            c => c,
        })
        .collect();
    for (new, says) in [
        (wide, "現在のパスワードと同じ"),
        (format!("{PASSWORD}\u{200B}"), "現在のパスワードと同じ"),
        (
            format!("{PASSWORD}\u{FE0F}\u{00AD}"),
            "現在のパスワードと同じ",
        ),
        ("violet harbour\nlantern 42".to_owned(), "制御文字"),
    ] {
        let resp = app.change_password(PASSWORD, &new, &new).await;
        assert_eq!(resp.status(), 400, "{new:?}");
        assert!(
            text(&page(resp).await, "[role=alert]").contains(says),
            "{new:?}"
        );
    }
    let failed = "SELECT COUNT(*) FROM audit_events WHERE kind = 'sign_in_failed'";
    assert_eq!(app.db_i64(failed).await, 0);
    assert_eq!(changes(&app).await, 0);
    assert!(app.signs_in_as(ADMIN_EMAIL, PASSWORD).await);
}

#[tokio::test]
async fn an_account_has_at_most_twenty_new_passwords_judged_in_15_minutes() {
    let app = TestApp::with_admin().await;
    assert_is_redirect_to(&app.login(ADMIN_EMAIL, PASSWORD).await, "/");
    for _ in 0..20 {
        let resp = app
            .change_password(PASSWORD, "password1234", "password1234")
            .await;
        assert_eq!(resp.status(), 400);
    }
    let resp = app.change_password(PASSWORD, NEW, NEW).await;
    assert_eq!(resp.status(), 429, "judging costs CPU: it is limited too");
    app.clock.advance(15 * 60);
    let resp = app.change_password(PASSWORD, NEW, NEW).await;
    assert_is_redirect_to(&resp, "/mypage?notice=password_changed");
}

#[tokio::test]
async fn a_change_without_the_forms_token_is_refused() {
    let app = TestApp::with_admin().await;
    assert_is_redirect_to(&app.login(ADMIN_EMAIL, PASSWORD).await, "/");
    let resp = app
        .client
        .post(app.url(PAGE))
        .form(&[
            ("current_password", PASSWORD),
            ("new_password", NEW),
            ("new_password_confirm", NEW),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert!(app.signs_in_as(ADMIN_EMAIL, PASSWORD).await);
    // Signed out, the page sends the browser to sign in.
    let (status, _) = get_html(&client(), &app.url(PAGE)).await;
    assert_eq!(status, 303);
}

#[tokio::test]
async fn a_change_ends_sign_ins_waiting_for_their_code() {
    let app = TestApp::with_admin().await;
    let enrolled = app.sign_in_and_enable_2fa().await;
    let waiting = app.password_step().await;
    let resp = app.change_password(PASSWORD, NEW, NEW).await;
    assert_is_redirect_to(&resp, "/mypage?notice=password_changed");
    app.clock.advance(30);
    let code = app.code_now(&enrolled.secret);
    let resp = app.send_code(&waiting, "/login/2fa", &code).await;
    assert_ne!(
        location(resp.headers()),
        "/",
        "the old password's sign-in is gone"
    );
    assert_eq!(app.db_i64("SELECT COUNT(*) FROM sessions").await, 1);
    assert_eq!(app.db_i64("SELECT COUNT(*) FROM pending_logins").await, 0);
}

#[tokio::test]
async fn of_changes_sent_at_once_exactly_one_takes_effect() {
    let app = TestApp::with_admin().await;
    assert_is_redirect_to(&app.login(ADMIN_EMAIL, PASSWORD).await, "/");
    let (_, form) = app.get_html(PAGE).await;
    let token = csrf_token(&form).unwrap();
    let news: Vec<String> = (0..6).map(|i| format!("{NEW} copy {i}")).collect();
    let sends = news.iter().map(|new| {
        app.client
            .post(app.url(PAGE))
            .form(&[
                ("csrf_token", token.as_str()),
                ("current_password", PASSWORD),
                ("new_password", new),
                ("new_password_confirm", new),
            ])
            .send()
    });
    let statuses: Vec<u16> = futures_util::future::join_all(sends)
        .await
        .into_iter()
        .map(|r| r.unwrap().status().as_u16())
        .collect();
    let changed = statuses.iter().filter(|s| **s == 303).count();
    assert!(changed >= 1, "{statuses:?}");
    let mut working = Vec::new();
    for new in &news {
        if app.signs_in_as(ADMIN_EMAIL, new).await {
            working.push(new);
        }
    }
    assert_eq!(working.len(), 1, "{statuses:?}");
    assert!(!app.signs_in_as(ADMIN_EMAIL, PASSWORD).await);
    assert_eq!(changes(&app).await, 1);
}

#[tokio::test]
async fn a_change_that_fails_half_way_changes_nothing() {
    let (app, other) = signed_in_twice().await;
    refuse_audit_events(&app, "password_changed", true).await;
    let resp = app.change_password(PASSWORD, NEW, NEW).await;
    assert_eq!(resp.status(), 500);
    refuse_audit_events(&app, "password_changed", false).await;
    assert!(app.signs_in_as(ADMIN_EMAIL, PASSWORD).await);
    assert!(!app.signs_in_as(ADMIN_EMAIL, NEW).await);
    assert_eq!(app.get("/mypage").await.status(), 200, "the session lives");
    let (status, _) = get_html(&other, &app.url("/mypage")).await;
    assert_eq!(status, 200, "so does the other one");
}

#[tokio::test]
async fn the_api_changes_the_password_and_says_why_it_will_not() {
    let app = TestApp::with_admin().await;
    assert_eq!(app.api_login(ADMIN_EMAIL, PASSWORD).await.status(), 200);
    let send = async |body: Value| {
        app.client
            .post(app.url("/api/v1/password"))
            .header("x-requested-with", "test")
            .json(&body)
            .send()
            .await
            .unwrap()
    };
    let kind = |p: &Value| {
        p["type"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
            .to_owned()
    };
    for (body, status, problem) in [
        (
            json!({"current_password": "wrong password!", "new_password": NEW}),
            401,
            "wrong-password",
        ),
        (
            json!({"current_password": PASSWORD, "new_password": "password1234"}),
            400,
            "password-too-common",
        ),
        (
            json!({"current_password": PASSWORD, "new_password": "short"}),
            400,
            "password-length",
        ),
        (
            json!({"current_password": PASSWORD, "new_password": PASSWORD}),
            400,
            "password-unchanged",
        ),
        (json!({"current_password": PASSWORD}), 400, "bad-request"),
    ] {
        let resp = send(body.clone()).await;
        assert_eq!(resp.status(), status, "{body}");
        let p: Value = resp.json().await.unwrap();
        assert_eq!(kind(&p), problem, "{body}: {p}");
    }
    let without_header = app
        .client
        .post(app.url("/api/v1/password"))
        .json(&json!({"current_password": PASSWORD, "new_password": NEW}))
        .send()
        .await
        .unwrap();
    assert_eq!(without_header.status(), 403);
    assert!(app.signs_in_as(ADMIN_EMAIL, PASSWORD).await);

    let resp = send(json!({"current_password": PASSWORD, "new_password": NEW})).await;
    assert_eq!(resp.status(), 200);
    let renewed = resp.headers().get_all("set-cookie").iter().any(|c| {
        c.to_str().unwrap().starts_with("nidan_session=")
            && !c.to_str().unwrap().starts_with("nidan_session=;")
    });
    assert!(renewed, "a new session cookie");
    assert_eq!(resp.json::<Value>().await.unwrap()["status"], "ok");
    assert_eq!(app.get("/api/v1/me").await.status(), 200);
    assert!(app.signs_in_as(ADMIN_EMAIL, NEW).await);
}
