//! マイページ →「メールアドレスの変更」: the password (and a code when two-step
//! verification is on) again, a link to the new address, a notice without a link to the old
//! one, and no change until the link is confirmed.

use serde_json::json;

use crate::common::*;

const NEW_EMAIL: &str = "hanako@example.jp";
const CHANGE: &str = "/mypage/email";
const CONFIRM: &str = "/email/confirm";
const CONFIRM_LINK: &str = "/email/confirm?token=";

impl TestApp {
    /// The change asked for from this app's (signed-in) browser.
    async fn ask_change(&self, new_email: &str, password: &str, code: &str) -> reqwest::Response {
        let fields = [
            ("new_email", new_email),
            ("current_password", password),
            ("code", code),
        ];
        self.post(CHANGE, CHANGE, &fields).await
    }

    /// Opens the emailed link in `browser`: the page that shows the change.
    async fn open_confirm(
        &self,
        browser: &reqwest::Client,
        link: &str,
    ) -> (reqwest::StatusCode, scraper::Html) {
        let resp = browser.get(link).send().await.unwrap();
        assert_is_redirect_to(&resp, CONFIRM);
        get_html(browser, &self.url(CONFIRM)).await
    }

    /// The confirm button, the CSRF token from /login (a dead link's page has no form).
    async fn press_confirm(&self, browser: &reqwest::Client) -> reqwest::Response {
        post_form(browser, &self.url("/login"), &self.url(CONFIRM), &[]).await
    }

    async fn count(&self, kind: &str) -> i64 {
        self.db_i64(&format!(
            "SELECT COUNT(*) FROM audit_events WHERE kind = '{kind}'"
        ))
        .await
    }

    async fn signed_in_admin_with_mail() -> (TestApp, Inbox) {
        let (app, inbox) = TestApp::with_admin_and_mail().await;
        assert_is_redirect_to(&app.login(ADMIN_EMAIL, PASSWORD).await, "/");
        (app, inbox)
    }
}

fn mails_with_links(inbox: &Inbox) -> usize {
    let mails = inbox.lock().unwrap();
    mails
        .iter()
        .filter(|m| m.body.contains(CONFIRM_LINK))
        .count()
}

#[tokio::test]
async fn a_new_address_takes_effect_only_through_the_link_sent_to_it() {
    let (app, inbox) = TestApp::signed_in_admin_with_mail().await;
    let (_, mypage) = app.get_html("/mypage").await;
    assert_eq!(
        attr(&mypage, "#change-email", "href").as_deref(),
        Some(CHANGE)
    );
    let (status, form) = app.get_html(CHANGE).await;
    assert_eq!(status, 200);
    assert_eq!(text(&form, "h1"), "メールアドレスの変更");
    assert!(
        select(&form, "#code").is_empty(),
        "two-step verification is off"
    );

    let resp = app.ask_change(NEW_EMAIL, PASSWORD, "").await;
    assert_is_redirect_to(&resp, "/mypage/email?sent=1");
    let (_, sent) = app.get_html("/mypage/email?sent=1").await;
    assert!(text(&sent, "[role=status]").contains("24時間"));
    let link = link_in(&inbox, CONFIRM_LINK, 0).await;
    let to_new = wait_for(&inbox, CONFIRM_LINK).await;
    assert_eq!(to_new.to, vec![NEW_EMAIL.to_owned()]);
    let to_old = wait_for(
        &inbox,
        "メールアドレスを hanako@example.jp に変更する手続き",
    )
    .await;
    assert_eq!(to_old.to, vec![ADMIN_EMAIL.to_owned()]);
    assert!(!to_old.body.contains("token="), "{}", to_old.body);

    // Until the link is confirmed nothing changes; a reset link goes to the old address.
    assert!(app.signs_in_as(ADMIN_EMAIL, PASSWORD).await);
    assert!(!app.signs_in_as(NEW_EMAIL, PASSWORD).await);
    let forgot = client();
    let fields = [("email", ADMIN_EMAIL)];
    let form = app.url("/login");
    post_form(&forgot, &form, &app.url("/login/forgot"), &fields).await;
    let reset_link = link_in(&inbox, "/login/reset?token=", 0).await;

    // Opening the link (as a mail scanner would) changes nothing either.
    let other = client();
    let (status, page) = app.open_confirm(&other, &link).await;
    assert_eq!(status, 200);
    assert_eq!(text(&page, "#current-email"), ADMIN_EMAIL);
    assert_eq!(text(&page, "#new-email"), NEW_EMAIL);
    assert!(app.signs_in_as(ADMIN_EMAIL, PASSWORD).await);
    let (status, _) = get_html(&other, &app.url("/mypage")).await;
    assert_eq!(status, 303, "a link is no session");

    let resp = app.press_confirm(&other).await;
    assert_is_redirect_to(&resp, "/email/confirm?done=1");
    let (_, done) = get_html(&other, &app.url("/email/confirm?done=1")).await;
    assert!(text(&done, "[role=status]").contains("メールアドレスを変更しました"));
    assert!(app.signs_in_as(NEW_EMAIL, PASSWORD).await);
    assert!(!app.signs_in_as(ADMIN_EMAIL, PASSWORD).await);
    // The session goes on, under the new address.
    let (status, mypage) = app.get_html("/mypage").await;
    assert_eq!(status, 200);
    assert_eq!(text(&mypage, "#account-email"), NEW_EMAIL);
    let changed = wait_for(
        &inbox,
        "メールアドレスが hanako@example.jp に変更されました",
    )
    .await;
    assert_eq!(changed.to, vec![ADMIN_EMAIL.to_owned()]);
    assert_eq!(app.count("email_change_requested").await, 1);
    assert_eq!(
        app.db_i64(&format!(
            "SELECT COUNT(*) FROM audit_events WHERE kind = 'email_changed'
             AND email = '{NEW_EMAIL}' AND detail = 'from {ADMIN_EMAIL}'"
        ))
        .await,
        1
    );

    // Once only; and the reset link sent to the old address died with the change.
    let (status, page) = app.open_confirm(&client(), &link).await;
    assert_eq!(status, 410);
    assert!(text(&page, "[role=alert]").contains("このリンクは無効です"));
    let reset = client();
    reset.get(&reset_link).send().await.unwrap();
    let (status, _) = get_html(&reset, &app.url("/login/reset")).await;
    assert_eq!(status, 410, "the old address's reset link is dead");
}

#[tokio::test]
async fn bad_input_is_refused_and_changes_nothing() {
    let (app, inbox) = TestApp::signed_in_admin_with_mail().await;
    let out = app.cli(
        &["user", "add", "taken@example.jp", "--password-stdin"],
        Some("another long password 5"),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    for (new_email, password, status, words) in [
        (
            NEW_EMAIL,
            "wrong password!",
            401,
            "パスワードが正しくありません",
        ),
        ("not an email", PASSWORD, 400, "メールアドレス"),
        (
            "ADMIN@example.jp",
            PASSWORD,
            400,
            "現在のメールアドレスと同じ",
        ),
        ("taken@example.jp", PASSWORD, 409, "既に登録されています"),
    ] {
        let resp = app.ask_change(new_email, password, "").await;
        assert_eq!(resp.status(), status, "{new_email}");
        let page = page(resp).await;
        assert!(
            text(&page, "[role=alert]").contains(words),
            "{new_email}: {}",
            text(&page, "[role=alert]")
        );
        assert!(attr(&page, "[aria-invalid]", "id").is_some(), "{new_email}");
    }
    assert_eq!(
        app.db_i64("SELECT COUNT(*) FROM audit_events WHERE kind = 'sign_in_failed' AND detail = 'password asked again'")
            .await,
        1,
        "the wrong password counted like a sign-in"
    );
    // Without the form's token.
    let resp = app
        .client
        .post(app.url(CHANGE))
        .form(&[("new_email", NEW_EMAIL), ("current_password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    // Signed out: the sign-in page.
    let resp = client().get(app.url(CHANGE)).send().await.unwrap();
    assert_eq!(resp.status(), 303);
    assert!(location(resp.headers()).starts_with("/login"));

    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(mails_with_links(&inbox), 0);
    assert_eq!(app.count("email_change_requested").await, 0);
    assert!(app.signs_in_as(ADMIN_EMAIL, PASSWORD).await);

    // A server without email says so and sends nothing.
    let plain = TestApp::with_admin().await;
    assert_is_redirect_to(&plain.login(ADMIN_EMAIL, PASSWORD).await, "/");
    let (_, page) = plain.get_html(CHANGE).await;
    assert!(text(&page, "[role=alert]").contains("メールを送信できない"));
    assert!(select(&page, "#new_email").is_empty());
    let resp = plain.ask_change(NEW_EMAIL, PASSWORD, "").await;
    assert_eq!(resp.status(), 403);
}

#[tokio::test]
async fn with_two_step_verification_on_a_code_is_needed_too() {
    let (app, inbox) = TestApp::with_admin_and_mail().await;
    let enrolled = app.sign_in_and_enable_2fa().await;
    let (_, form) = app.get_html(CHANGE).await;
    assert_eq!(
        attr(&form, "#code", "autocomplete").as_deref(),
        Some("one-time-code")
    );
    let resp = app.ask_change(NEW_EMAIL, PASSWORD, "").await;
    assert_eq!(resp.status(), 400);
    assert_eq!(
        attr(&page(resp).await, "[aria-invalid]", "id").as_deref(),
        Some("code")
    );
    let resp = app.ask_change(NEW_EMAIL, PASSWORD, "000000").await;
    assert_eq!(resp.status(), 401);
    assert_eq!(app.count("second_step_failed").await, 1, "counted");
    assert_eq!(mails_with_links(&inbox), 0);
    // Whether an address has an account is told only past both steps.
    let out = app.cli(
        &["user", "add", "taken@example.jp", "--password-stdin"],
        Some("another long password 5"),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let resp = app.ask_change("taken@example.jp", PASSWORD, "000001").await;
    assert_eq!(resp.status(), 401);

    app.clock.advance(30);
    let code = app.code_now(&enrolled.secret);
    assert_is_redirect_to(
        &app.ask_change(NEW_EMAIL, PASSWORD, &code).await,
        "/mypage/email?sent=1",
    );
    let first = link_in(&inbox, CONFIRM_LINK, 0).await;
    // The same code again is spent; a backup code works, once, and replaces the request.
    let resp = app.ask_change("other@example.jp", PASSWORD, &code).await;
    assert_eq!(resp.status(), 401);
    let backup = &enrolled.backup_codes[0];
    assert_is_redirect_to(
        &app.ask_change("other@example.jp", PASSWORD, backup).await,
        "/mypage/email?sent=1",
    );
    assert_eq!(
        app.db_i64("SELECT COUNT(*) FROM backup_codes WHERE used_at IS NULL")
            .await,
        9
    );
    let second = link_in(&inbox, CONFIRM_LINK, 1).await;
    assert_eq!(app.open_confirm(&client(), &first).await.0, 410, "replaced");
    let browser = client();
    let (status, page) = app.open_confirm(&browser, &second).await;
    assert_eq!(status, 200);
    assert_eq!(text(&page, "#new-email"), "other@example.jp");
    assert_is_redirect_to(&app.press_confirm(&browser).await, "/email/confirm?done=1");
    // Still two steps at sign-in, under the new address.
    let resp = post_form(
        &client(),
        &app.url("/login"),
        &app.url("/login"),
        &[("email", "other@example.jp"), ("password", PASSWORD)],
    )
    .await;
    assert_is_redirect_to(&resp, "/login/2fa");
}

#[tokio::test]
async fn a_link_dies_after_24_hours_and_with_a_password_change() {
    let (app, inbox) = TestApp::signed_in_admin_with_mail().await;
    assert_is_redirect_to(
        &app.ask_change(NEW_EMAIL, PASSWORD, "").await,
        "/mypage/email?sent=1",
    );
    let expired = link_in(&inbox, CONFIRM_LINK, 0).await;
    app.clock.advance(24 * 3600 - 60);
    assert_eq!(app.open_confirm(&client(), &expired).await.0, 200);
    app.clock.advance(60);
    assert_eq!(app.open_confirm(&client(), &expired).await.0, 410);
    // A day on, the session has ended too.
    assert_is_redirect_to(&app.login(ADMIN_EMAIL, PASSWORD).await, "/");

    assert_is_redirect_to(
        &app.ask_change(NEW_EMAIL, PASSWORD, "").await,
        "/mypage/email?sent=1",
    );
    let link = link_in(&inbox, CONFIRM_LINK, 1).await;
    let browser = client();
    assert_eq!(app.open_confirm(&browser, &link).await.0, 200);
    let out = app.cli(
        &["user", "set-password", ADMIN_EMAIL, "--password-stdin"],
        Some("a different long password 9"),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(app.press_confirm(&browser).await.status(), 410);
    assert!(
        app.signs_in_as(ADMIN_EMAIL, "a different long password 9")
            .await
    );
    assert_eq!(app.count("email_changed").await, 0);
}

#[tokio::test]
async fn an_address_taken_meanwhile_is_refused_at_the_link() {
    let (app, inbox) = TestApp::signed_in_admin_with_mail().await;
    assert_is_redirect_to(
        &app.ask_change(NEW_EMAIL, PASSWORD, "").await,
        "/mypage/email?sent=1",
    );
    let link = link_in(&inbox, CONFIRM_LINK, 0).await;
    let out = app.cli(
        &["user", "add", NEW_EMAIL, "--password-stdin"],
        Some("another long password 5"),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let browser = client();
    app.open_confirm(&browser, &link).await;
    let resp = app.press_confirm(&browser).await;
    assert_eq!(resp.status(), 409);
    assert!(text(&page(resp).await, "[role=alert]").contains("既に登録されています"));
    assert!(app.signs_in_as(ADMIN_EMAIL, PASSWORD).await);
}

#[tokio::test]
async fn of_requests_and_confirmations_at_once_the_limits_hold() {
    let (app, inbox) = TestApp::signed_in_admin_with_mail().await;
    let (_, form) = app.get_html(CHANGE).await;
    let token = csrf_token(&form).unwrap();
    let app = &app;
    let sends = (0..50).map(|i| {
        let email = format!("new{i}@example.jp");
        let token = token.clone();
        async move {
            app.client
                .post(app.url(CHANGE))
                .form(&[
                    ("csrf_token", token.as_str()),
                    ("new_email", &email),
                    ("current_password", PASSWORD),
                ])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    });
    let statuses = futures_util::future::join_all(sends).await;
    let sent = statuses.iter().filter(|s| **s == 303).count();
    assert!((1..=5).contains(&sent), "{statuses:?}");
    assert!(
        statuses.iter().all(|s| *s == 303 || *s == 429),
        "{statuses:?}"
    );
    link_in(&inbox, CONFIRM_LINK, sent - 1).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(mails_with_links(&inbox), sent, "one link per request taken");
    assert_eq!(app.db_i64("SELECT COUNT(*) FROM email_changes").await, 1);

    // The live link, confirmed six times at once: one change.
    let live = {
        let mut live = None;
        for nth in 0..sent {
            let link = link_in(&inbox, CONFIRM_LINK, nth).await;
            let browser = client();
            if app.open_confirm(&browser, &link).await.0 == 200 {
                live = Some(browser);
            }
        }
        live.expect("one link works")
    };
    let (_, page) = get_html(&live, &app.url(CONFIRM)).await;
    let new_email = text(&page, "#new-email");
    assert!(new_email.starts_with("new"), "{new_email}");
    let token = csrf_token(&page).unwrap();
    let statuses = statuses_at_once((0..6).map(|_| {
        live.post(app.url(CONFIRM))
            .form(&[("csrf_token", token.as_str())])
            .send()
    }))
    .await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 303).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(app.count("email_changed").await, 1);
    assert!(app.signs_in_as(&new_email, PASSWORD).await);
}

#[tokio::test]
async fn a_confirmation_that_fails_half_way_changes_nothing() {
    let (app, inbox) = TestApp::signed_in_admin_with_mail().await;
    assert_is_redirect_to(
        &app.ask_change(NEW_EMAIL, PASSWORD, "").await,
        "/mypage/email?sent=1",
    );
    let link = link_in(&inbox, CONFIRM_LINK, 0).await;
    let browser = client();
    app.open_confirm(&browser, &link).await;
    refuse_audit_events(&app, "email_changed", true).await;
    let resp = app.press_confirm(&browser).await;
    assert!(resp.status().is_server_error(), "{}", resp.status());
    assert!(app.signs_in_as(ADMIN_EMAIL, PASSWORD).await);
    refuse_audit_events(&app, "email_changed", false).await;
    // The link was not spent.
    assert_is_redirect_to(&app.press_confirm(&browser).await, "/email/confirm?done=1");
    assert!(app.signs_in_as(NEW_EMAIL, PASSWORD).await);
}

#[tokio::test]
async fn the_api_asks_for_and_confirms_a_change() {
    let (app, inbox) = TestApp::with_admin_and_mail().await;
    let api = Api::new(&app);
    let sign_in = json!({"email": ADMIN_EMAIL, "password": PASSWORD});
    assert_eq!(api.post("/api/v1/login", sign_in).await.0, 200);
    for (body, status, problem) in [
        (
            json!({"new_email": NEW_EMAIL, "current_password": "wrong password!"}),
            401,
            "wrong-password",
        ),
        (
            json!({"new_email": ADMIN_EMAIL, "current_password": PASSWORD}),
            400,
            "email-unchanged",
        ),
    ] {
        let (got, value) = api.post("/api/v1/email", body).await;
        assert_eq!((got, kind(&value)), (status, problem), "{value}");
    }
    let body = json!({"new_email": NEW_EMAIL, "current_password": PASSWORD});
    let (status, sent) = api.post("/api/v1/email", body).await;
    assert_eq!(status, 202, "{sent}");
    assert_eq!(sent["new_email"], NEW_EMAIL);
    let link = link_in(&inbox, CONFIRM_LINK, 0).await;
    let token = link.split("token=").nth(1).unwrap();

    let confirm = |token: &str| json!({ "token": token });
    let (status, problem) = api.post("/api/v1/email/confirm", confirm("forged")).await;
    assert_eq!((status, kind(&problem)), (410, "email-link-invalid"));
    assert_eq!(
        api.post("/api/v1/email/confirm", confirm(token)).await.0,
        200
    );
    let (status, me) = api.me().await;
    assert_eq!(status, 200);
    assert_eq!(me["email"], NEW_EMAIL);
    let (status, _) = api.post("/api/v1/email/confirm", confirm(token)).await;
    assert_eq!(status, 410, "once");
}

#[tokio::test]
async fn right_codes_do_not_count_towards_the_second_step_lock() {
    // Found by attacking: each right code stayed counted, so five changes and five typos
    // locked the account's second step everywhere.
    let (app, _inbox) = TestApp::with_admin_and_mail().await;
    let enrolled = app.sign_in_and_enable_2fa().await;
    let failures =
        "SELECT CAST(COALESCE(SUM(failures), 0) AS BIGINT) FROM throttles WHERE key LIKE '2fa:%'";
    for (i, backup) in enrolled.backup_codes[..5].iter().enumerate() {
        let resp = app
            .ask_change(&format!("new{i}@example.jp"), PASSWORD, backup)
            .await;
        assert_is_redirect_to(&resp, "/mypage/email?sent=1");
    }
    // The hourly limit refuses the sixth; its right code is neither spent nor counted.
    let resp = app
        .ask_change("new5@example.jp", PASSWORD, &enrolled.backup_codes[5])
        .await;
    assert_eq!(resp.status(), 429);
    assert_eq!(app.db_i64(failures).await, 0);
    assert_eq!(
        app.db_i64("SELECT COUNT(*) FROM backup_codes WHERE used_at IS NULL")
            .await,
        5
    );
    // A wrong code counts.
    assert_eq!(
        app.ask_change("new6@example.jp", PASSWORD, "000000")
            .await
            .status(),
        401
    );
    assert_eq!(app.db_i64(failures).await, 1);
}
