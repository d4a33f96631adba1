//! `nidan user invite`: a link where the invited person chooses their own password (the
//! administrator never knows it); `user invites`, `user revoke-invite`.

use crate::common::*;

const INVITED: &str = "hanako@example.jp";
const CHOSEN: &str = "violet harbour lantern 42";

impl TestApp {
    /// `nidan user invite` with this app's URL; the link it prints.
    fn invite(&self, email: &str, more: &[&str]) -> String {
        let mut args = vec!["user", "invite", email, "--public-url", &self.base];
        args.extend(more);
        let out = self.cli(&args, None);
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out).trim().to_owned()
    }

    fn invites(&self) -> String {
        let out = self.cli(&["user", "invites"], None);
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out)
    }
}

/// The link's form sent with `password`, the CSRF token read from the link's page.
async fn accept(browser: &reqwest::Client, link: &str, password: &str) -> reqwest::Response {
    let fields = [("password", password), ("password_confirm", password)];
    post_form(browser, link, link, &fields).await
}

/// The form sent with a token read earlier (the page of a dead link has no form).
async fn send_form(
    browser: &reqwest::Client,
    link: &str,
    csrf: &str,
    password: &str,
) -> reqwest::Response {
    let fields = [
        ("csrf_token", csrf),
        ("password", password),
        ("password_confirm", password),
    ];
    browser.post(link).form(&fields).send().await.unwrap()
}

#[tokio::test]
async fn the_invited_person_chooses_their_own_password_and_is_signed_in() {
    let app = TestApp::with_admin().await;
    let link = app.invite(INVITED, &[]);
    assert!(link.starts_with(&format!("{}/invite/", app.base)), "{link}");
    assert!(app.invites().contains(INVITED));

    let browser = client();
    let (status, page) = get_html(&browser, &link).await;
    assert_eq!(status, 200);
    assert_eq!(text(&page, "h1"), "アカウントの作成");
    assert_eq!(attr(&page, "#email", "value").as_deref(), Some(INVITED));
    // Opening the link grants nothing: not forward-auth, not the pages.
    let verify = browser
        .get(app.url("/auth/verify"))
        .header("x-original-url", "http://cam.example.home/live")
        .send()
        .await
        .unwrap();
    assert_eq!(verify.status(), 401);
    assert_eq!(get_html(&browser, &app.url("/mypage")).await.0, 303);
    let resp = accept(&browser, &link, CHOSEN).await;
    assert_is_redirect_to(&resp, "/mypage");
    let (status, mypage) = get_html(&browser, &app.url("/mypage")).await;
    assert_eq!(status, 200, "signed in");
    assert_eq!(text(&mypage, "#account-email"), INVITED);
    assert!(app.signs_in_as(INVITED, CHOSEN).await);
    let list = stdout(&app.cli(&["user", "list"], None));
    let line = list.lines().find(|l| l.starts_with(INVITED)).unwrap();
    assert!(
        line.split_whitespace().nth(1) == Some("no"),
        "not an administrator: {line}"
    );

    // Once only; and the invitation is gone from the list.
    let (status, page) = get_html(&client(), &link).await;
    assert_eq!(status, 410);
    assert!(text(&page, "[role=alert]").contains("この招待リンクは無効です"));
    assert!(!app.invites().contains(INVITED));
    assert_eq!(
        app.db_i64("SELECT COUNT(*) FROM audit_events WHERE kind = 'account_created' AND detail = 'invited'")
            .await,
        1
    );
}

#[tokio::test]
async fn a_link_works_seven_days_and_dies_when_replaced_or_revoked() {
    let app = TestApp::with_admin().await;
    let first = app.invite(INVITED, &[]);
    let second = app.invite(INVITED, &[]);
    assert_eq!(get_html(&client(), &first).await.0, 410, "replaced");
    let browser = client();
    let (status, page) = get_html(&browser, &second).await;
    assert_eq!(status, 200);
    let csrf = csrf_token(&page).unwrap();
    let out = app.cli(&["user", "revoke-invite", INVITED], None);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(get_html(&client(), &second).await.0, 410, "revoked");
    let resp = send_form(&browser, &second, &csrf, CHOSEN).await;
    assert_eq!(resp.status(), 410);
    assert!(!app.signs_in_as(INVITED, CHOSEN).await);
    assert_cli_fails(
        &app.cli(&["user", "revoke-invite", INVITED], None),
        "no invitation",
    );

    let third = app.invite(INVITED, &[]);
    app.clock.advance(7 * 24 * 3600 - 60);
    assert_eq!(get_html(&client(), &third).await.0, 200, "a minute before");
    app.clock.advance(120);
    assert_eq!(get_html(&client(), &third).await.0, 410, "seven days on");
    // The CLI reads the system clock, not the test's: the invitation ends in the past.
    assert!(!app.invites().contains("(expired)"));
    app.data
        .db
        .exec("UPDATE invitations SET expires_at = expires_at - 8 * 24 * 3600")
        .await;
    assert!(app.invites().contains("(expired)"));
}

#[tokio::test]
async fn an_administrator_invited_where_two_steps_are_required_is_sent_to_set_them_up() {
    let app = TestApp::with_admin_in(|data| {
        let mut c = config(data);
        c.access.require_two_step = true;
        c
    })
    .await;
    let link = app.invite(INVITED, &["--admin"]);
    let browser = client();
    let resp = accept(&browser, &link, CHOSEN).await;
    assert_is_redirect_to(&resp, "/mypage/2fa/setup");
    let list = stdout(&app.cli(&["user", "list"], None));
    let line = list.lines().find(|l| l.starts_with(INVITED)).unwrap();
    assert!(line.split_whitespace().nth(1) == Some("yes"), "{line}");
}

#[tokio::test]
async fn bad_input_is_refused_and_changes_nothing() {
    let app = TestApp::with_admin().await;
    assert_cli_fails(
        &app.cli(
            &["user", "invite", ADMIN_EMAIL, "--public-url", &app.base],
            None,
        ),
        "already exists",
    );
    assert_cli_fails(
        &app.cli(
            &["user", "invite", "not an email", "--public-url", &app.base],
            None,
        ),
        "not a valid email",
    );
    assert_cli_fails(&app.cli(&["user", "invite", INVITED], None), "--public-url");
    assert!(!app.invites().contains(INVITED));

    let link = app.invite(INVITED, &[]);
    let browser = client();
    let resp = accept(&browser, &link, "password1234").await;
    assert_eq!(resp.status(), 400);
    assert!(text(&page(resp).await, "[role=alert]").contains("よく使われるパスワード"));
    let fields = [
        ("password", CHOSEN),
        ("password_confirm", "something else entirely"),
    ];
    let resp = post_form(&browser, &link, &link, &fields).await;
    assert_eq!(resp.status(), 400);
    assert!(text(&page(resp).await, "[role=alert]").contains("一致しません"));
    // The link still works.
    assert_is_redirect_to(&accept(&browser, &link, CHOSEN).await, "/mypage");
}

// Two threads: the sink takes the mail while the CLI runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_link_is_emailed_when_smtp_is_set() {
    let (url, inbox) = smtp_sink().await;
    let app = TestApp::with_admin().await;
    let link = app.invite(INVITED, &["--smtp-url", &url]);
    let mail = wait_for(&inbox, &link).await;
    assert_eq!(mail.to, vec![INVITED.to_owned()]);
    assert!(
        mail.body.contains("nidan のアカウントに招待されました"),
        "{}",
        mail.body
    );
}

#[tokio::test]
async fn of_acceptances_at_once_exactly_one_makes_the_account() {
    let app = TestApp::with_admin().await;
    let link = app.invite(INVITED, &[]);
    let browser = client();
    let (_, page) = get_html(&browser, &link).await;
    let token = csrf_token(&page).unwrap();
    let passwords: Vec<String> = (0..6).map(|i| format!("{CHOSEN} copy {i}")).collect();
    let sends = passwords
        .iter()
        .map(|p| send_form(&browser, &link, &token, p));
    let statuses: Vec<u16> = futures_util::future::join_all(sends)
        .await
        .into_iter()
        .map(|r| r.status().as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 303).count(),
        1,
        "{statuses:?}"
    );
    let mut working = 0;
    for p in &passwords {
        if app.signs_in_as(INVITED, p).await {
            working += 1;
        }
    }
    assert_eq!(working, 1);
}

#[tokio::test]
async fn an_account_made_for_the_address_ends_its_invitation() {
    // Found by attacking: the link outlived `user add` and, once the account was deleted,
    // made it again (an administrator, as invited).
    let app = TestApp::with_admin().await;
    let link = app.invite(INVITED, &["--admin"]);
    let out = app.cli(
        &["user", "add", INVITED, "--password-stdin"],
        Some("another long password 5"),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!app.invites().contains(INVITED));
    let out = app.cli(&["user", "delete", INVITED], None);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(get_html(&client(), &link).await.0, 410);
    assert!(!app.signs_in_as(INVITED, CHOSEN).await);
}
