//! The audit trail: rows after a flow (CLI and マイページ), client addresses behind trusted
//! proxies, the session list with its end buttons, and pruning in the background.

use std::time::Duration;

use crate::common::*;

fn browser_with(user_agent: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(user_agent)
        .build()
        .unwrap()
}

async fn sign_in(app: &TestApp, browser: &reqwest::Client, password: &str) -> reqwest::Response {
    post_form(
        browser,
        &app.url("/login"),
        &app.url("/login"),
        &[("email", ADMIN_EMAIL), ("password", password)],
    )
    .await
}

fn audit_json(app: &TestApp, extra: &[&str]) -> Vec<serde_json::Value> {
    let mut args = vec!["audit", "--json"];
    args.extend(extra);
    let out = app.cli(&args, None);
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test]
async fn a_flow_leaves_its_events_in_the_trail_and_on_mypage() {
    let app = TestApp::with_admin().await;
    let phone = browser_with("Phone/1.0 (audit test)");
    // The wrong password comes three hours ago (by the app's clock; `nidan audit` reads
    // the real one), so that --since can leave it out.
    app.clock.advance(-3 * 3600);
    assert_eq!(sign_in(&app, &phone, "wrong password!").await.status(), 401);
    app.clock.advance(3 * 3600);
    assert_is_redirect_to(&sign_in(&app, &phone, PASSWORD).await, "/");
    // Through the app's own client: turn on two-step verification, then use a backup code.
    let enrolled = app.sign_in_and_enable_2fa().await;
    let browser = app.password_step().await;
    let resp = app
        .send_code(&browser, "/login/backup", &enrolled.backup_codes[0])
        .await;
    assert_is_redirect_to(&resp, "/mypage?notice=backup_used");
    let wrong = app.password_step().await;
    assert_eq!(
        app.send_code(&wrong, "/login/2fa", "000000").await.status(),
        401
    );

    let events = audit_json(&app, &["--user", ADMIN_EMAIL]);
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    for expected in [
        "account_created",
        "sign_in_failed",
        "sign_in_ok",
        "two_factor_enabled",
        "password_accepted",
        "second_step_ok",
        "backup_code_used",
        "second_step_failed",
    ] {
        assert!(
            kinds.contains(&expected),
            "{expected} missing from {kinds:?}"
        );
    }
    // Newest first, with where it came from.
    assert_eq!(kinds[0], "second_step_failed");
    let failed = events
        .iter()
        .find(|e| e["event"] == "sign_in_failed")
        .unwrap();
    assert_eq!(failed["ip"], "127.0.0.1");
    assert_eq!(failed["user_agent"], "Phone/1.0 (audit test)");
    assert_eq!(failed["email"], ADMIN_EMAIL);
    let used = events
        .iter()
        .find(|e| e["event"] == "backup_code_used")
        .unwrap();
    assert_eq!(used["detail"], "9 left");
    // Nothing of the secrets went in.
    let all = serde_json::to_string(&events).unwrap();
    assert!(!all.contains(PASSWORD) && !all.contains(&enrolled.backup_codes[0]));

    // --since leaves older events out; the text form prints the same events.
    let recent = audit_json(&app, &["--since", "1h"]);
    assert_eq!(recent.len(), events.len() - 1);
    assert!(recent.iter().all(|e| e["event"] != "sign_in_failed"));
    let text = stdout(&app.cli(&["audit", "--since", "1day"], None));
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    assert!(
        header.starts_with("TIME (UTC)") && header.contains("EVENT") && header.contains("EMAIL"),
        "{text}"
    );
    assert_eq!(lines.clone().count(), events.len(), "{text}");
    let used = lines.find(|l| l.contains("backup_code_used")).unwrap();
    // To the second: 2026-11-30 12:34:56
    let time = &used[..19];
    assert!(
        time.len() == 19 && time.as_bytes()[16] == b':' && time[17..].parse::<u8>().is_ok(),
        "{used}"
    );
    assert_eq!(
        time,
        nidan::clock::format_utc_seconds(
            events
                .iter()
                .find(|e| e["event"] == "backup_code_used")
                .unwrap()["at"]
                .as_i64()
                .unwrap()
        )
    );
    assert_cli_fails(
        &app.cli(&["audit", "--user", "not-an-address"], None),
        "valid email",
    );

    // マイページ: the last 10 events, in the page's language.
    let (_, page) = get_html(&browser, &app.url("/mypage")).await;
    let shown = select(&page, "#activity li");
    assert_eq!(shown.len(), 10, "{shown:?}");
    assert!(shown[0].contains("認証コードの誤り"), "{shown:?}");
    assert!(
        shown
            .iter()
            .any(|e| e.contains("バックアップコードを使用") && e.contains("残り9個"))
    );
    assert!(text_of(&page).contains("最近のアクティビティ"));
    let (_, english) = get_html(&browser, &app.url("/mypage?lang=en")).await;
    assert!(select(&english, "#activity li")[0].contains("Wrong code"));
}

fn text_of(page: &scraper::Html) -> String {
    page.root_element().text().collect()
}

#[tokio::test]
async fn the_session_list_ends_another_device_and_only_that_one() {
    let app = TestApp::with_admin().await;
    let laptop = browser_with("Laptop/2.0");
    let phone = browser_with("Phone/3.0");
    assert_is_redirect_to(&sign_in(&app, &laptop, PASSWORD).await, "/");
    assert_is_redirect_to(&sign_in(&app, &phone, PASSWORD).await, "/");

    let (_, page) = get_html(&laptop, &app.url("/mypage")).await;
    let sessions = select(&page, "#sessions li");
    // The setup browser's session, the laptop and the phone.
    assert_eq!(sessions.len(), 3, "{sessions:?}");
    let this = sessions.iter().find(|s| s.contains("この端末")).unwrap();
    assert!(this.contains("Laptop/2.0"), "{this}");
    let handles: Vec<String> = page
        .select(&scraper::Selector::parse("#sessions li").unwrap())
        .filter(|li| li.text().collect::<String>().contains("Phone/3.0"))
        .filter_map(|li| {
            li.select(&scraper::Selector::parse("input[name=session]").unwrap())
                .next()
                .and_then(|i| i.value().attr("value").map(str::to_owned))
        })
        .collect();
    assert_eq!(handles.len(), 1);

    // A made-up handle changes nothing.
    let resp = post_form(
        &laptop,
        &app.url("/mypage"),
        &app.url("/mypage/sessions/end"),
        &[("session", "00000000000000000000000000000000")],
    )
    .await;
    assert_is_redirect_to(&resp, "/mypage?notice=session_unknown");
    assert_eq!(
        phone.get(app.url("/mypage")).send().await.unwrap().status(),
        200
    );

    let resp = post_form(
        &laptop,
        &app.url("/mypage"),
        &app.url("/mypage/sessions/end"),
        &[("session", &handles[0])],
    )
    .await;
    assert_is_redirect_to(&resp, "/mypage?notice=session_ended");
    let phone_page = phone.get(app.url("/mypage")).send().await.unwrap();
    assert_is_redirect_to(&phone_page, "/login?next=%2Fmypage");
    let (status, after) = get_html(&laptop, &app.url("/mypage")).await;
    assert_eq!(status, 200);
    assert_eq!(select(&after, "#sessions li").len(), 2);
    // The trail records it.
    let events = audit_json(&app, &[]);
    assert!(events.iter().any(|e| e["event"] == "session_ended"));
}

#[tokio::test]
async fn forwarded_for_is_believed_only_from_a_trusted_proxy() {
    let trusted = TestApp::with_admin_in(|data| {
        let mut c = config(data);
        c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        c
    })
    .await;
    let untrusted = TestApp::with_admin().await;
    for app in [&trusted, &untrusted] {
        let resp = app
            .client
            .post(app.url("/login"))
            .header("x-forwarded-for", "198.51.100.23")
            .form(&[("email", ADMIN_EMAIL), ("password", "wrong password!")])
            .send()
            .await
            .unwrap();
        // Without a CSRF token the sign-in is refused; use a proper form post.
        assert_eq!(resp.status(), 403);
        let page = get_html(&app.client, &app.url("/login")).await.1;
        let token = csrf_token(&page).unwrap();
        let resp = app
            .client
            .post(app.url("/login"))
            .header("x-forwarded-for", "203.0.113.5, 198.51.100.23")
            .form(&[
                ("email", ADMIN_EMAIL),
                ("password", "wrong password!"),
                ("csrf_token", &token),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401);
    }
    let ip_of = |app: &TestApp| {
        audit_json(app, &[])
            .into_iter()
            .find(|e| e["event"] == "sign_in_failed")
            .unwrap()["ip"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(ip_of(&trusted), "198.51.100.23");
    assert_eq!(ip_of(&untrusted), "127.0.0.1");
}

/// An app that keeps its audit trail for a day and prunes every 50 ms.
async fn pruning_every_50ms() -> TestApp {
    TestApp::with_admin_in(|data| {
        let mut c = config(data);
        c.audit_retention = Duration::from_secs(86400);
        c.prune_interval = Duration::from_millis(50);
        c
    })
    .await
}

/// The count of `sql` once it is `want`, or as it stands after 5 s of waiting for it.
async fn count_settling_at(app: &TestApp, sql: &str, want: i64) -> i64 {
    let mut count = app.db_i64(sql).await;
    for _ in 0..100 {
        if count == want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        count = app.db_i64(sql).await;
    }
    count
}

#[tokio::test]
async fn old_events_and_ended_sessions_are_pruned_in_the_background() {
    let app = pruning_every_50ms().await;
    assert!(app.db_i64("SELECT COUNT(*) FROM audit_events").await > 0);
    assert!(app.db_i64("SELECT COUNT(*) FROM sessions").await > 0);
    // Two days on: older than the retention, and every session long idle.
    app.clock.advance(2 * 86400);
    let left = (
        count_settling_at(&app, "SELECT COUNT(*) FROM audit_events", 0).await,
        count_settling_at(&app, "SELECT COUNT(*) FROM sessions", 0).await,
    );
    assert_eq!(left, (0, 0));
    // The account itself stays.
    assert_eq!(app.db_i64("SELECT COUNT(*) FROM users").await, 1);
}

#[tokio::test]
async fn devices_in_use_are_kept_and_unused_ones_forgotten() {
    let app = pruning_every_50ms().await;
    let (kept, unused) = (browser_with("kept"), browser_with("unused"));
    for browser in [&kept, &unused] {
        assert_is_redirect_to(&sign_in(&app, browser, PASSWORD).await, "/");
    }
    let devices = "SELECT COUNT(*) FROM known_devices";
    assert!(app.db_i64(devices).await >= 2);
    // 20 hours on, one browser is used again; 20 more, the other was last used 40 hours
    // ago (past the 24-hour retention) and the first only 20.
    app.clock.advance(20 * 3600);
    assert_is_redirect_to(&sign_in(&app, &kept, PASSWORD).await, "/");
    app.clock.advance(20 * 3600);
    assert_eq!(
        count_settling_at(&app, devices, 1).await,
        1,
        "only the device in use is still known"
    );
    app.clock.advance(2 * 86400);
    assert_eq!(count_settling_at(&app, devices, 0).await, 0);
}
