//! 「パスワードをお忘れの方」: the link by email (read from the harness's SMTP sink), the
//! same answer for every address, the limits, and the second step a reset never skips.

use serde_json::{Value, json};

use crate::common::*;

const NEW: &str = "violet harbour lantern 42";
const FORGOT: &str = "/login/forgot";
const RESET: &str = "/login/reset";
const RESET_LINK: &str = "/login/reset?token=";

fn token_of(link: &str) -> String {
    link.split("token=").nth(1).unwrap().to_owned()
}

impl TestApp {
    async fn ask_for_link(&self, browser: &reqwest::Client, email: &str) -> reqwest::Response {
        // The CSRF token from /login: without email the page has no form.
        let form = self.url("/login");
        post_form(browser, &form, &self.url(FORGOT), &[("email", email)]).await
    }

    /// Opens the emailed link in `browser`, as a click in the mail would.
    async fn open_link(
        &self,
        browser: &reqwest::Client,
        link: &str,
    ) -> (reqwest::StatusCode, scraper::Html) {
        let resp = browser.get(link).send().await.unwrap();
        assert_is_redirect_to(&resp, RESET);
        get_html(browser, &self.url(RESET)).await
    }

    async fn choose(&self, browser: &reqwest::Client, new: &str, code: &str) -> reqwest::Response {
        let fields = [
            ("new_password", new),
            ("new_password_confirm", new),
            ("code", code),
        ];
        // The CSRF token from /login: a page whose link is dead has no form to take it from.
        post_form(browser, &self.url("/login"), &self.url(RESET), &fields).await
    }

    async fn login_in_with(&self, browser: &reqwest::Client, password: &str) -> reqwest::Response {
        let fields = [("email", ADMIN_EMAIL), ("password", password)];
        post_form(browser, &self.url("/login"), &self.url("/login"), &fields).await
    }

    async fn events_of(&self, kind: &str) -> i64 {
        self.db_i64(&format!(
            "SELECT COUNT(*) FROM audit_events WHERE kind = '{kind}'"
        ))
        .await
    }
}

#[tokio::test]
async fn a_forgotten_password_is_reset_through_the_emailed_link() {
    let (app, inbox) = TestApp::with_admin_and_mail().await;
    let signed_in = client();
    assert_is_redirect_to(&app.login_in(&signed_in).await, "/");
    let (_, login) = app.get_html("/login").await;
    assert_eq!(
        attr(&login, "#forgot-password", "href").as_deref(),
        Some(FORGOT)
    );
    assert_eq!(text(&login, "#forgot-password"), "パスワードをお忘れの方");

    let browser = client();
    let resp = app.ask_for_link(&browser, ADMIN_EMAIL).await;
    assert_is_redirect_to(&resp, "/login/forgot?sent=1");
    let (_, sent) = get_html(&browser, &app.url("/login/forgot?sent=1")).await;
    assert!(text(&sent, "[role=status]").contains("30分以内"));
    let link = link_in(&inbox, RESET_LINK, 0).await;
    let mail = wait_for(&inbox, "/login/reset?token=").await;
    assert_eq!(mail.to, vec![ADMIN_EMAIL.to_owned()]);
    assert!(
        mail.body.contains("Choose a new password") || mail.body.contains("choose"),
        "{}",
        mail.body
    );

    // Another browser opens the link: it grants nothing by itself.
    let other = client();
    let (status, page) = app.open_link(&other, &link).await;
    assert_eq!(status, 200);
    assert!(
        select(&page, "#code").is_empty(),
        "two-step verification is off"
    );
    let (status, _) = get_html(&other, &app.url("/mypage")).await;
    assert_eq!(status, 303, "a link is no session");
    let verify = other
        .get(app.url("/auth/verify"))
        .header("x-original-url", "http://cam.example.home/live")
        .send()
        .await
        .unwrap();
    assert_eq!(verify.status(), 401, "nor does forward-auth let it through");
    assert!(
        app.signs_in_as(ADMIN_EMAIL, PASSWORD).await,
        "nothing changed yet"
    );

    let resp = app.choose(&other, NEW, "").await;
    assert_is_redirect_to(&resp, "/login?reset=1");
    let (_, login) = get_html(&other, &app.url("/login?reset=1")).await;
    assert!(text(&login, "[role=status]").contains("パスワードを再設定しました"));
    let (status, _) = get_html(&signed_in, &app.url("/mypage")).await;
    assert_eq!(status, 303, "every session ended");
    assert!(!app.signs_in_as(ADMIN_EMAIL, PASSWORD).await);
    assert!(app.signs_in_as(ADMIN_EMAIL, NEW).await);
    let done = wait_for(&inbox, "パスワードが再設定されました").await;
    assert!(!done.body.contains("token="), "{}", done.body);
    assert_eq!(app.events_of("password_reset").await, 1);

    // Once only.
    let (status, page) = app.open_link(&client(), &link).await;
    assert_eq!(status, 410);
    assert!(text(&page, "[role=alert]").contains("このリンクは無効です"));
    assert_eq!(
        attr(&page, "main a, a[href$='/login/forgot']", "href").as_deref(),
        Some(FORGOT)
    );
}

#[tokio::test]
async fn known_and_unknown_addresses_get_the_same_answer() {
    let (app, inbox) = TestApp::with_admin_and_mail().await;
    let browser = client();
    let mut answers = Vec::new();
    for email in ["nobody@example.jp", ADMIN_EMAIL] {
        let resp = app.ask_for_link(&browser, email).await;
        let status = resp.status();
        let location = location(resp.headers()).to_owned();
        let body = resp.bytes().await.unwrap();
        answers.push((status, location, body));
    }
    assert_eq!(answers[0], answers[1]);
    // Both are recorded; only the account's owner gets mail.
    for _ in 0..100 {
        if app.events_of("password_reset_requested").await == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(app.events_of("password_reset_requested").await, 2);
    link_in(&inbox, RESET_LINK, 0).await;
    let mails = inbox.lock().unwrap().clone();
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert_eq!(mails[0].to, vec![ADMIN_EMAIL.to_owned()]);
}

#[tokio::test]
async fn a_link_works_once_for_30_minutes_and_dies_with_a_password_change() {
    let (app, inbox) = TestApp::with_admin_and_mail().await;
    let browser = client();
    assert_is_redirect_to(
        &app.ask_for_link(&browser, ADMIN_EMAIL).await,
        "/login/forgot?sent=1",
    );
    let expired = link_in(&inbox, RESET_LINK, 0).await;
    app.clock.advance(30 * 60);
    let (status, _) = app.open_link(&client(), &expired).await;
    assert_eq!(status, 410, "30 minutes on");

    assert_is_redirect_to(
        &app.ask_for_link(&browser, ADMIN_EMAIL).await,
        "/login/forgot?sent=1",
    );
    let overtaken = link_in(&inbox, RESET_LINK, 1).await;
    let other = client();
    let (status, _) = app.open_link(&other, &overtaken).await;
    assert_eq!(status, 200);
    let out = app.cli(
        &["user", "set-password", ADMIN_EMAIL, "--password-stdin"],
        Some("a different long password 9"),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let resp = app.choose(&other, NEW, "").await;
    assert_eq!(
        resp.status(),
        410,
        "the password changed since the link was sent"
    );
    assert!(!app.signs_in_as(ADMIN_EMAIL, NEW).await);

    // A weak password leaves the link for another try.
    assert_is_redirect_to(
        &app.ask_for_link(&browser, ADMIN_EMAIL).await,
        "/login/forgot?sent=1",
    );
    let link = link_in(&inbox, RESET_LINK, 2).await;
    let (status, _) = app.open_link(&other, &link).await;
    assert_eq!(status, 200);
    let resp = app.choose(&other, "password1234", "").await;
    assert_eq!(resp.status(), 400);
    assert!(text(&page(resp).await, "[role=alert]").contains("よく使われるパスワード"));
    assert_is_redirect_to(&app.choose(&other, NEW, "").await, "/login?reset=1");
    assert!(app.signs_in_as(ADMIN_EMAIL, NEW).await);
}

#[tokio::test]
async fn with_two_step_verification_on_a_reset_needs_a_code_too() {
    let (app, inbox) = TestApp::with_admin_and_mail().await;
    let enrolled = app.sign_in_and_enable_2fa().await;
    let browser = client();
    assert_is_redirect_to(
        &app.ask_for_link(&browser, ADMIN_EMAIL).await,
        "/login/forgot?sent=1",
    );
    let link = link_in(&inbox, RESET_LINK, 0).await;
    let (status, page) = app.open_link(&browser, &link).await;
    assert_eq!(status, 200);
    assert_eq!(
        attr(&page, "#code", "autocomplete").as_deref(),
        Some("one-time-code")
    );

    let resp = app.choose(&browser, NEW, "").await;
    assert_eq!(resp.status(), 400);
    assert!(
        text(&page_of(resp).await, "[role=alert]").contains("確認コードまたはバックアップコード")
    );
    let resp = app.choose(&browser, NEW, "000000").await;
    assert_eq!(resp.status(), 401, "a wrong code");
    assert_eq!(
        app.events_of("second_step_failed").await,
        1,
        "counted like the second step"
    );
    assert!(
        app.signs_in_as(ADMIN_EMAIL, PASSWORD).await,
        "nothing changed"
    );

    app.clock.advance(30);
    let code = app.code_now(&enrolled.secret);
    assert_is_redirect_to(&app.choose(&browser, NEW, &code).await, "/login?reset=1");
    // Still two steps at sign-in.
    let resp = app.login_in_with(&client(), NEW).await;
    assert_is_redirect_to(&resp, "/login/2fa");

    // A backup code does too, once.
    assert_is_redirect_to(
        &app.ask_for_link(&browser, ADMIN_EMAIL).await,
        "/login/forgot?sent=1",
    );
    let link = link_in(&inbox, RESET_LINK, 1).await;
    app.open_link(&browser, &link).await;
    let newer = "amber meadow compass 77";
    let backup = &enrolled.backup_codes[0];
    assert_is_redirect_to(&app.choose(&browser, newer, backup).await, "/login?reset=1");
    assert_eq!(
        app.db_i64("SELECT COUNT(*) FROM backup_codes WHERE used_at IS NULL")
            .await,
        9
    );
    assert!(app.signs_in_as(ADMIN_EMAIL, newer).await);
}

async fn page_of(resp: reqwest::Response) -> scraper::Html {
    page(resp).await
}

#[tokio::test]
async fn fifty_requests_at_once_send_at_most_three_links() {
    let (app, inbox) = TestApp::with_admin_and_mail().await;
    let browser = client();
    let (_, form) = get_html(&browser, &app.url(FORGOT)).await;
    let token = csrf_token(&form).unwrap();
    let statuses = statuses_at_once((0..50).map(|_| {
        browser
            .post(app.url(FORGOT))
            .form(&[("csrf_token", token.as_str()), ("email", ADMIN_EMAIL)])
            .send()
    }))
    .await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 303).count(),
        3,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 303 || *s == 429),
        "{statuses:?}"
    );
    link_in(&inbox, RESET_LINK, 2).await;
    for _ in 0..20 {
        if app.events_of("password_reset_requested").await >= 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(inbox.lock().unwrap().len(), 3);
    // This client has asked 50 times within the hour: any address is refused now.
    let resp = app.ask_for_link(&browser, "someone.else@example.jp").await;
    assert_eq!(resp.status(), 429);
    assert!(text(&page(resp).await, "[role=alert]").contains("しばらく"));
}

#[tokio::test]
async fn a_reset_lifts_the_accounts_locks() {
    let (app, inbox) = TestApp::with_admin_and_mail().await;
    for _ in 0..10 {
        app.login_in_with(&client(), "wrong password!").await;
    }
    let resp = app.login_in_with(&client(), PASSWORD).await;
    assert_eq!(resp.status(), 429, "locked");
    let browser = client();
    assert_is_redirect_to(
        &app.ask_for_link(&browser, ADMIN_EMAIL).await,
        "/login/forgot?sent=1",
    );
    let link = link_in(&inbox, RESET_LINK, 0).await;
    app.open_link(&browser, &link).await;
    assert_is_redirect_to(&app.choose(&browser, NEW, "").await, "/login?reset=1");
    assert!(app.signs_in_as(ADMIN_EMAIL, NEW).await);
}

#[tokio::test]
async fn forged_links_and_a_server_without_email_get_a_clear_page() {
    let (app, _inbox) = TestApp::with_admin_and_mail().await;
    let browser = client();
    let (status, page) = app
        .open_link(
            &browser,
            &app.url("/login/reset?token=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        )
        .await;
    assert_eq!(status, 410);
    assert!(text(&page, "[role=alert]").contains("このリンクは無効です"));
    assert_eq!(app.choose(&browser, NEW, "").await.status(), 410);
    let (status, _) = get_html(&client(), &app.url(RESET)).await;
    assert_eq!(status, 410, "no link at all");
    assert!(app.signs_in_as(ADMIN_EMAIL, PASSWORD).await);

    let app = TestApp::with_admin().await;
    let (status, page) = app.get_html(FORGOT).await;
    assert_eq!(status, 200);
    assert!(text(&page, "[role=alert]").contains("管理者に連絡してください"));
    assert!(select(&page, "#email").is_empty());
    let resp = app.ask_for_link(&client(), ADMIN_EMAIL).await;
    assert_eq!(resp.status(), 403, "no email: no resets here");
}

#[tokio::test]
async fn the_api_sends_the_link_and_sets_the_password() {
    let (app, inbox) = TestApp::with_admin_and_mail().await;
    let api = client();
    let send = async |path: &str, body: Value| {
        let resp = api
            .post(app.url(path))
            .header("x-requested-with", "test")
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json::<Value>().await.unwrap())
    };
    let (status, body) = send("/api/v1/password/forgot", json!({"email": ADMIN_EMAIL})).await;
    assert_eq!((status, body["status"].as_str()), (202, Some("ok")));
    let (status, _) = send(
        "/api/v1/password/forgot",
        json!({"email": "nobody@example.jp"}),
    )
    .await;
    assert_eq!(status, 202);
    let token = token_of(&link_in(&inbox, RESET_LINK, 0).await);
    let (status, problem) = send(
        "/api/v1/password/reset",
        json!({"token": token, "new_password": "password1234"}),
    )
    .await;
    assert_eq!(status, 400, "{problem}");
    let (status, _) = send(
        "/api/v1/password/reset",
        json!({"token": token, "new_password": NEW}),
    )
    .await;
    assert_eq!(status, 200);
    let (status, problem) = send(
        "/api/v1/password/reset",
        json!({"token": token, "new_password": NEW}),
    )
    .await;
    assert_eq!(status, 410);
    assert!(
        problem["type"]
            .as_str()
            .unwrap()
            .ends_with("/reset-link-invalid"),
        "{problem}"
    );
    assert!(app.signs_in_as(ADMIN_EMAIL, NEW).await);
}

#[tokio::test]
async fn a_reset_that_fails_half_way_changes_nothing() {
    let (app, inbox) = TestApp::with_admin_and_mail().await;
    let signed_in = client();
    assert_is_redirect_to(&app.login_in(&signed_in).await, "/");
    let browser = client();
    let resp = app.ask_for_link(&browser, ADMIN_EMAIL).await;
    assert_is_redirect_to(&resp, "/login/forgot?sent=1");
    let link = link_in(&inbox, RESET_LINK, 0).await;
    app.open_link(&browser, &link).await;
    refuse_audit_events(&app, "password_reset", true).await;
    assert_eq!(app.choose(&browser, NEW, "").await.status(), 500);
    refuse_audit_events(&app, "password_reset", false).await;
    assert!(
        app.signs_in_as(ADMIN_EMAIL, PASSWORD).await,
        "the password stays"
    );
    let (status, _) = get_html(&signed_in, &app.url("/mypage")).await;
    assert_eq!(status, 200, "the session lives");
    // The link too: the next try goes through.
    assert_is_redirect_to(&app.choose(&browser, NEW, "").await, "/login?reset=1");
}
