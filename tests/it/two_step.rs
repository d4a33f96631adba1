//! Every flow of the manual, and the protections around the codes.

use nidan::clock::Clock;
use nidan::otp::totp;

use crate::common::*;

async fn count(app: &TestApp, sql: &str) -> i64 {
    app.db_i64(sql).await
}

#[tokio::test]
async fn turning_it_on_follows_the_manual() {
    let app = TestApp::with_admin().await;
    app.login(ADMIN_EMAIL, PASSWORD).await;
    // マイページ → 2段階認証 → 設定
    let (_, my) = app.get_html("/mypage").await;
    assert_eq!(text(&my, "#two-step-state"), "無効");
    assert_eq!(
        attr(&my, "a.button", "href").as_deref(),
        Some("/mypage/2fa/setup")
    );
    assert_eq!(text(&my, "a.button"), "設定");

    // Step 1: the password again, 「送信」.
    let (status, step1) = app.get_html("/mypage/2fa/setup").await;
    assert_eq!(status, 200);
    assert_eq!(text(&step1, "main button[type=submit]"), "送信");
    let resp = app.setup_step("password", "wrong password").await;
    assert_eq!(resp.status(), 401);
    assert_eq!(
        text(&page(resp).await, "[role=alert]"),
        "パスワードが正しくありません。"
    );
    let resp = app.setup_step("password", PASSWORD).await;
    assert_is_redirect_to(&resp, "/mypage/2fa/setup");

    // Step 2: the QR code (inline SVG), the key in groups of 4, the code field.
    let (_, step2) = app.get_html("/mypage/2fa/setup").await;
    assert_eq!(select(&step2, ".qr svg").len(), 1);
    let key = text(&step2, "#totp-key");
    assert!(key.split(' ').all(|g| g.len() == 4), "{key}");
    assert_eq!(key.replace(' ', "").len(), 32, "160 bits in base32");
    assert_eq!(
        attr(&step2, "input[name=code]", "inputmode").as_deref(),
        Some("numeric")
    );
    let secret = app.setup_key().await;
    assert_eq!(secret.len(), 20);

    // Wrong code: a message, still step 2, still off.
    let wrong = if app.code_now(&secret) == "000000" {
        "111111"
    } else {
        "000000"
    };
    let resp = app.setup_step("code", wrong).await;
    assert_eq!(resp.status(), 401);
    let again = page(resp).await;
    assert_eq!(
        text(&again, "[role=alert]"),
        "確認コードが正しくありません。"
    );
    assert_eq!(text(&again, "#totp-key"), key, "same key, same step");
    let resp = app.setup_step("code", "12").await;
    assert_eq!(
        text(&page(resp).await, "[role=alert]"),
        "6桁の確認コードを入力してください。"
    );
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM totp_credentials").await,
        0
    );

    // Step 3: the right code → on, with 10 backup codes to keep.
    let code = app.code_now(&secret);
    let resp = app.setup_step("code", &code).await;
    assert_eq!(resp.status(), 200);
    let done = page(resp).await;
    assert_eq!(text(&done, "h1"), "2段階認証の設定が完了しました");
    let codes = select(&done, "#backup-codes li");
    assert_eq!(codes.len(), 10);
    for c in &codes {
        assert_eq!(c.len(), 11, "{c}");
        assert_eq!(c.as_bytes()[5], b'-', "{c}");
    }
    let download = attr(&done, "a[download]", "href").unwrap();
    assert!(download.starts_with("data:text/plain;charset=utf-8,"));
    assert!(
        download.contains(&codes[0].replace('-', "%2D")),
        "the file holds the codes"
    );

    let (_, my) = app.get_html("/mypage").await;
    assert_eq!(text(&my, "#two-step-state"), "有効");
    assert_eq!(text(&my, "#backup-codes-left"), "10");
    assert_eq!(text(&my, "a.button"), "解除");
    let listed = stdout(&app.cli(&["user", "list"], None));
    assert!(
        listed
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == [ADMIN_EMAIL, "yes", "on", "no"]),
        "{listed}"
    );
}

#[tokio::test]
async fn leaving_halfway_leaves_it_off() {
    let app = TestApp::with_admin().await;
    app.login(ADMIN_EMAIL, PASSWORD).await;
    app.setup_step("password", PASSWORD).await;
    app.setup_key().await;
    let (_, my) = app.get_html("/mypage").await;
    assert_eq!(text(&my, "#two-step-state"), "無効");
    // Signing in still needs no code.
    assert_is_redirect_to(&app.logout().await, "/login?signed_out=1");
    assert_is_redirect_to(&app.login(ADMIN_EMAIL, PASSWORD).await, "/");
    // And an abandoned set-up expires: after 10 minutes step 2 is gone.
    app.setup_step("password", PASSWORD).await;
    let secret = app.setup_key().await;
    app.clock.advance(11 * 60);
    let (_, step) = app.get_html("/mypage/2fa/setup").await;
    assert_eq!(select(&step, "#totp-key").len(), 0, "back to step 1");
    let code = app.code_now(&secret);
    let resp = app.setup_step("code", &code).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(
        text(&page(resp).await, "[role=alert]"),
        "設定の有効期限が切れました。最初からやり直してください。"
    );
}

#[tokio::test]
async fn sign_in_with_a_code_from_the_app() {
    let app = TestApp::with_admin().await;
    let enrolled = app.sign_in_and_enable_2fa().await;
    let browser = app.password_step().await;

    let (status, code_page) = get_html(&browser, &app.url("/login/2fa")).await;
    assert_eq!(status, 200);
    assert_eq!(text(&code_page, "main button[type=submit]"), "認証する");
    assert!(select(&code_page, "a").contains(&"バックアップコードを使用してログイン".to_owned()));
    assert!(text(&code_page, "p.hint").contains("30秒"));
    assert!(text(&code_page, "p.hint").contains("時刻"));
    let input = |name: &str| attr(&code_page, "input[name=code]", name);
    assert_eq!(input("autocomplete").as_deref(), Some("one-time-code"));
    assert_eq!(input("inputmode").as_deref(), Some("numeric"));

    // The pending sign-in is not a session.
    assert_is_redirect_to(&browser.get(app.url("/")).send().await.unwrap(), "/login");
    assert_is_redirect_to(
        &browser.get(app.url("/mypage")).send().await.unwrap(),
        "/login?next=%2Fmypage",
    );

    app.clock.advance(30);
    let code = app.code_now(&enrolled.secret);
    let resp = app.send_code(&browser, "/login/2fa", &code).await;
    assert_is_redirect_to(&resp, "/");
    let (status, home) = get_html(&browser, &app.url("/")).await;
    assert_eq!(status, 200);
    assert_eq!(text(&home, "#signed-in-email"), ADMIN_EMAIL);
    // The pending cookie is gone with its use.
    let resp = browser.get(app.url("/login/2fa")).send().await.unwrap();
    assert_is_redirect_to(&resp, "/login?reason=expired");
}

#[tokio::test]
async fn input_tolerates_spaces_and_full_width_digits_but_not_other_text() {
    let app = TestApp::with_admin().await;
    let enrolled = app.sign_in_and_enable_2fa().await;
    let browser = app.password_step().await;
    for junk in ["12345", "abcdef", "1234567", ""] {
        let resp = app.send_code(&browser, "/login/2fa", junk).await;
        assert_eq!(resp.status(), 400, "{junk:?}");
        assert_eq!(
            text(&page(resp).await, "[role=alert]"),
            "6桁の確認コードを入力してください。"
        );
    }
    // Those were not counted: five format errors, and the pending sign-in still lives.
    app.send_code(&browser, "/login/2fa", "x").await;
    app.clock.advance(30);
    let code = app.code_now(&enrolled.secret);
    let wide: String = code
        .chars()
        .map(|c| char::from_u32(c as u32 - '0' as u32 + '０' as u32).unwrap())
        .collect();
    let typed = format!("{} {}", &wide[..9], &wide[9..]);
    assert_is_redirect_to(&app.send_code(&browser, "/login/2fa", &typed).await, "/");
}

#[tokio::test]
async fn a_used_code_never_works_again_and_old_codes_fail() {
    let app = TestApp::with_admin().await;
    let enrolled = app.sign_in_and_enable_2fa().await;
    // The code used to turn it on is spent already.
    let setup_code = app.code_now(&enrolled.secret);
    let browser = app.password_step().await;
    let resp = app.send_code(&browser, "/login/2fa", &setup_code).await;
    assert_eq!(resp.status(), 401);

    app.clock.advance(30);
    let code = app.code_now(&enrolled.secret);
    assert_is_redirect_to(&app.send_code(&browser, "/login/2fa", &code).await, "/");
    // Replay of the same code in another sign-in, within its window.
    let other = app.password_step().await;
    let resp = app.send_code(&other, "/login/2fa", &code).await;
    assert_eq!(resp.status(), 401);
    assert!(text(&page(resp).await, "[role=alert]").starts_with("確認コードが正しくありません。"));

    // One step late still works; two steps late does not.
    app.clock.advance(60);
    let two_ago = totp::code_at(&enrolled.secret, app.clock.now() - 60);
    let one_ago = totp::code_at(&enrolled.secret, app.clock.now() - 30);
    let resp = app.send_code(&other, "/login/2fa", &two_ago).await;
    assert_eq!(resp.status(), 401);
    assert_is_redirect_to(&app.send_code(&other, "/login/2fa", &one_ago).await, "/");
}

fn wrong_code(secret: &[u8], app: &TestApp) -> String {
    let now = app.clock.now();
    let window: Vec<String> = (-1..=1)
        .map(|d| totp::code_at(secret, now + 30 * d))
        .collect();
    (0..)
        .map(|n| format!("{:06}", 100_000 + n))
        .find(|c| !window.contains(c))
        .unwrap()
}

#[tokio::test]
async fn five_wrong_codes_end_the_pending_sign_in() {
    let app = TestApp::with_admin().await;
    let enrolled = app.sign_in_and_enable_2fa().await;
    let browser = app.password_step().await;
    let wrong = wrong_code(&enrolled.secret, &app);
    for left in (1..=4).rev() {
        let resp = app.send_code(&browser, "/login/2fa", &wrong).await;
        assert_eq!(resp.status(), 401);
        let message = text(&page(resp).await, "[role=alert]");
        assert_eq!(
            message,
            format!("確認コードが正しくありません。 あと{left}回入力できます。")
        );
    }
    let resp = app.send_code(&browser, "/login/2fa", &wrong).await;
    assert_is_redirect_to(&resp, "/login?reason=too_many_codes");
    let (_, login) = get_html(&browser, &app.url("/login?reason=too_many_codes")).await;
    assert_eq!(
        text(&login, "[role=alert]"),
        "誤ったコードの入力が続いたため、もう一度ログインしてください。"
    );
    // Even the right code cannot revive it.
    app.clock.advance(30);
    let code = app.code_now(&enrolled.secret);
    assert_is_redirect_to(
        &app.send_code(&browser, "/login/2fa", &code).await,
        "/login?reason=expired",
    );
    assert_eq!(count(&app, "SELECT COUNT(*) FROM pending_logins").await, 0);
}

#[tokio::test]
async fn ten_wrong_codes_lock_the_second_step_for_15_minutes() {
    let app = TestApp::with_admin().await;
    let enrolled = app.sign_in_and_enable_2fa().await;
    let wrong = wrong_code(&enrolled.secret, &app);
    let first = app.password_step().await;
    for _ in 0..5 {
        app.send_code(&first, "/login/2fa", &wrong).await;
    }
    let second = app.password_step().await;
    for _ in 0..4 {
        assert_eq!(
            app.send_code(&second, "/login/2fa", &wrong).await.status(),
            401
        );
    }
    let resp = app.send_code(&second, "/login/2fa", &wrong).await;
    assert_eq!(resp.status(), 429, "the 10th wrong code locks");
    assert!(text(&page(resp).await, "[role=alert]").contains("15分"));

    // The right code waits too, from any pending sign-in, and backup codes as well.
    let third = app.password_step().await;
    app.clock.advance(30);
    let resp = app
        .send_code(&third, "/login/2fa", &app.code_now(&enrolled.secret))
        .await;
    assert_eq!(resp.status(), 429);
    let resp = app
        .send_code(&third, "/login/backup", &enrolled.backup_codes[0])
        .await;
    assert_eq!(resp.status(), 429);
    let listed = stdout(&app.cli(&["user", "list"], None));
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with(ADMIN_EMAIL) && l.trim_end().ends_with("yes")),
        "{listed}"
    );

    // 15 minutes on, it works again.
    app.clock.advance(15 * 60);
    let fresh = app.password_step().await;
    let code = app.code_now(&enrolled.secret);
    assert_is_redirect_to(&app.send_code(&fresh, "/login/2fa", &code).await, "/");
}

#[tokio::test]
async fn unlock_lifts_the_second_step_lock() {
    let app = TestApp::with_admin().await;
    let enrolled = app.sign_in_and_enable_2fa().await;
    let wrong = wrong_code(&enrolled.secret, &app);
    for _ in 0..2 {
        let b = app.password_step().await;
        for _ in 0..5 {
            app.send_code(&b, "/login/2fa", &wrong).await;
        }
    }
    let b = app.password_step().await;
    app.clock.advance(30);
    assert_eq!(
        app.send_code(&b, "/login/2fa", &app.code_now(&enrolled.secret))
            .await
            .status(),
        429
    );
    let out = app.cli(&["user", "unlock", ADMIN_EMAIL], None);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_is_redirect_to(
        &app.send_code(&b, "/login/2fa", &app.code_now(&enrolled.secret))
            .await,
        "/",
    );
}

#[tokio::test]
async fn the_pending_sign_in_lives_five_minutes() {
    let app = TestApp::with_admin().await;
    let enrolled = app.sign_in_and_enable_2fa().await;
    let browser = app.password_step().await;
    app.clock.advance(5 * 60 + 1);
    let code = app.code_now(&enrolled.secret);
    assert_is_redirect_to(
        &app.send_code(&browser, "/login/2fa", &code).await,
        "/login?reason=expired",
    );
    let (_, login) = get_html(&browser, &app.url("/login?reason=expired")).await;
    assert_eq!(
        text(&login, "[role=alert]"),
        "ログインの有効期限が切れました。もう一度ログインしてください。"
    );
    assert_is_redirect_to(
        &browser.get(app.url("/login/2fa")).send().await.unwrap(),
        "/login?reason=expired",
    );
}

#[tokio::test]
async fn sign_in_with_a_backup_code_once() {
    let app = TestApp::with_admin().await;
    let enrolled = app.sign_in_and_enable_2fa().await;
    let browser = app.password_step().await;
    // 「バックアップコードを使用してログイン」
    let (_, code_page) = get_html(&browser, &app.url("/login/2fa")).await;
    assert_eq!(
        attr(&code_page, "a[href='/login/backup']", "href").as_deref(),
        Some("/login/backup")
    );
    let (status, backup_page) = get_html(&browser, &app.url("/login/backup")).await;
    assert_eq!(status, 200);
    assert_eq!(text(&backup_page, "main button[type=submit]"), "認証する");

    // Typed loosely: upper case, a space instead of the hyphen.
    let typed = enrolled.backup_codes[3].to_uppercase().replace('-', " ");
    let resp = app.send_code(&browser, "/login/backup", &typed).await;
    assert_is_redirect_to(&resp, "/mypage?notice=backup_used");
    let (_, my) = get_html(&browser, &app.url("/mypage?notice=backup_used")).await;
    assert_eq!(
        text(&my, "[role=status]"),
        "バックアップコードでログインしました。残りのバックアップコードは9個です。"
    );
    assert_eq!(text(&my, "#backup-codes-left"), "9");

    // The same code never works again.
    let again = app.password_step().await;
    let resp = app
        .send_code(&again, "/login/backup", &enrolled.backup_codes[3])
        .await;
    assert_eq!(resp.status(), 401);
    assert_eq!(
        text(&page(resp).await, "[role=alert]"),
        "バックアップコードが正しくないか、既に使用されています。"
    );
    let resp = app.send_code(&again, "/login/backup", "not a code!").await;
    assert_eq!(resp.status(), 400);
    assert_is_redirect_to(
        &app.send_code(&again, "/login/backup", &enrolled.backup_codes[4])
            .await,
        "/mypage?notice=backup_used",
    );
    // Only keyed hashes are stored.
    let stored = app.db_bytes("SELECT code_hash FROM backup_codes").await;
    assert_eq!(stored.len(), 10);
    for code in &enrolled.backup_codes {
        let bare = code.replace('-', "");
        assert!(
            stored
                .iter()
                .all(|h| h.as_slice() != bare.as_bytes() && h.len() == 32)
        );
    }
}

#[tokio::test]
async fn lost_phone_backup_code_then_turn_it_off() {
    let app = TestApp::with_admin().await;
    let enrolled = app.sign_in_and_enable_2fa().await;
    let browser = app.password_step().await;
    let resp = app
        .send_code(&browser, "/login/backup", &enrolled.backup_codes[0])
        .await;
    assert_is_redirect_to(&resp, "/mypage?notice=backup_used");

    // マイページ → 2段階認証 → 解除 → password → 解除
    let (_, my) = get_html(&browser, &app.url("/mypage")).await;
    assert_eq!(
        attr(&my, "a.button", "href").as_deref(),
        Some("/mypage/2fa/disable")
    );
    let (_, off_page) = get_html(&browser, &app.url("/mypage/2fa/disable")).await;
    assert_eq!(text(&off_page, "main button[type=submit]"), "解除");
    let resp = post_form(
        &browser,
        &app.url("/mypage/2fa/disable"),
        &app.url("/mypage/2fa/disable"),
        &[("password", "wrong password")],
    )
    .await;
    assert_eq!(resp.status(), 401);
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM totp_credentials").await,
        1,
        "still on"
    );
    let resp = post_form(
        &browser,
        &app.url("/mypage/2fa/disable"),
        &app.url("/mypage/2fa/disable"),
        &[("password", PASSWORD)],
    )
    .await;
    assert_is_redirect_to(&resp, "/mypage?notice=disabled");
    let (_, my) = get_html(&browser, &app.url("/mypage?notice=disabled")).await;
    assert_eq!(text(&my, "#two-step-state"), "無効");
    assert_eq!(text(&my, "[role=status]"), "2段階認証を解除しました。");

    // Secret and backup codes are gone; sign-in asks for no code.
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM totp_credentials").await,
        0
    );
    assert_eq!(count(&app, "SELECT COUNT(*) FROM backup_codes").await, 0);
    let fresh = client();
    let resp = post_form(
        &fresh,
        &app.url("/login"),
        &app.url("/login"),
        &[("email", ADMIN_EMAIL), ("password", PASSWORD)],
    )
    .await;
    assert_is_redirect_to(&resp, "/");
}

#[tokio::test]
async fn new_backup_codes_replace_the_old_set() {
    let app = TestApp::with_admin().await;
    let enrolled = app.sign_in_and_enable_2fa().await;
    let resp = app
        .post(
            "/mypage/2fa/backup-codes",
            "/mypage/2fa/backup-codes",
            &[("password", PASSWORD)],
        )
        .await;
    assert_eq!(resp.status(), 200);
    let fresh = page(resp).await;
    let new_codes = select(&fresh, "#backup-codes li");
    assert_eq!(new_codes.len(), 10);
    assert!(new_codes.iter().all(|c| !enrolled.backup_codes.contains(c)));
    // The page's own forms work with the rotated session.
    let token = csrf_token(&fresh).unwrap();
    let resp = app
        .client
        .post(app.url("/logout"))
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_is_redirect_to(&resp, "/login?signed_out=1");

    let b = app.password_step().await;
    assert_eq!(
        app.send_code(&b, "/login/backup", &enrolled.backup_codes[0])
            .await
            .status(),
        401
    );
    assert_is_redirect_to(
        &app.send_code(&b, "/login/backup", &new_codes[0]).await,
        "/mypage?notice=backup_used",
    );
}

#[tokio::test]
async fn changes_end_every_other_session_and_renew_this_one() {
    let app = TestApp::with_admin().await;
    let other = client();
    post_form(
        &other,
        &app.url("/login"),
        &app.url("/login"),
        &[("email", ADMIN_EMAIL), ("password", PASSWORD)],
    )
    .await;
    assert_eq!(
        other.get(app.url("/mypage")).send().await.unwrap().status(),
        200
    );
    app.login(ADMIN_EMAIL, PASSWORD).await;
    // The set-up browser's, the other browser's and this one's.
    assert_eq!(count(&app, "SELECT COUNT(*) FROM sessions").await, 3);
    app.enable_2fa().await;
    // The session made before 2FA was on reaches nothing now.
    assert_is_redirect_to(
        &other.get(app.url("/mypage")).send().await.unwrap(),
        "/login?next=%2Fmypage",
    );
    assert_eq!(
        app.get("/mypage").await.status(),
        200,
        "this browser goes on, with a new token"
    );
    assert_eq!(count(&app, "SELECT COUNT(*) FROM sessions").await, 1);
}

#[tokio::test]
async fn twenty_simultaneous_uses_of_one_code_sign_in_exactly_once() {
    let app = TestApp::with_admin().await;
    let enrolled = app.sign_in_and_enable_2fa().await;
    let mut browsers = Vec::new();
    for _ in 0..20 {
        browsers.push(app.password_step().await);
    }
    app.clock.advance(30);
    let code = app.code_now(&enrolled.secret);
    let results = codes_at_once(&app, &code, browsers).await;
    let wins = results
        .iter()
        .filter(|(s, l)| *s == 303 && l == "/")
        .count();
    assert_eq!(wins, 1, "{results:?}");
    assert!(
        results
            .iter()
            .all(|(s, l)| (*s == 303 && l == "/") || *s == 401 || *s == 429),
        "{results:?}"
    );
}

#[tokio::test]
async fn an_administrator_can_reset_it_from_the_command_line() {
    let app = TestApp::with_admin().await;
    app.sign_in_and_enable_2fa().await;
    let out = app.cli(&["user", "reset-2fa", ADMIN_EMAIL], None);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(app.get("/mypage").await.status(), 303, "sessions ended");
    assert_is_redirect_to(&app.login(ADMIN_EMAIL, PASSWORD).await, "/");
    let (_, my) = app.get_html("/mypage").await;
    assert_eq!(text(&my, "#two-step-state"), "無効");
    assert_cli_fails(
        &app.cli(&["user", "reset-2fa", ADMIN_EMAIL], None),
        "not on",
    );
    assert_cli_fails(
        &app.cli(&["user", "reset-2fa", "nobody@example.jp"], None),
        "no account",
    );
}

#[tokio::test]
async fn code_pages_need_a_pending_sign_in() {
    let app = TestApp::with_admin().await;
    assert_is_redirect_to(&app.get("/login/2fa").await, "/login?reason=expired");
    assert_is_redirect_to(&app.get("/login/backup").await, "/login?reason=expired");
    // A signed-in session is not a pending sign-in either.
    app.login(ADMIN_EMAIL, PASSWORD).await;
    assert_is_redirect_to(&app.get("/login/2fa").await, "/login?reason=expired");
}

#[tokio::test]
async fn a_second_step_that_fails_half_way_leaves_everything_as_it_was() {
    let app = TestApp::with_admin().await;
    let enrolled = app.sign_in_and_enable_2fa().await;
    for (path, code, signed_in) in [
        ("/login/2fa", None, "/"),
        (
            "/login/backup",
            Some(enrolled.backup_codes[0].clone()),
            "/mypage?notice=backup_used",
        ),
    ] {
        let browser = app.password_step().await;
        app.clock.advance(30);
        let code = code.unwrap_or_else(|| app.code_now(&enrolled.secret));
        let sessions = count(&app, "SELECT COUNT(*) FROM sessions").await;
        let codes_left = count(
            &app,
            "SELECT COUNT(*) FROM backup_codes WHERE used_at IS NULL",
        )
        .await;
        let step = count(&app, "SELECT MAX(last_used_step) FROM totp_credentials").await;

        // The right code, and the database fails at the sign-in's last write.
        refuse_audit_events(&app, "second_step_ok", true).await;
        let resp = app.send_code(&browser, path, &code).await;
        assert_eq!(resp.status(), 500, "{path}");
        refuse_audit_events(&app, "second_step_ok", false).await;

        // Nothing of it stayed: no session, the code not spent, the sign-in still waiting.
        assert_eq!(
            count(&app, "SELECT COUNT(*) FROM sessions").await,
            sessions,
            "{path}"
        );
        assert_eq!(
            count(
                &app,
                "SELECT COUNT(*) FROM backup_codes WHERE used_at IS NULL"
            )
            .await,
            codes_left,
            "{path}"
        );
        assert_eq!(
            count(&app, "SELECT MAX(last_used_step) FROM totp_credentials").await,
            step,
            "{path}"
        );
        assert_eq!(
            count(&app, "SELECT COUNT(*) FROM pending_logins").await,
            1,
            "{path}"
        );
        // So the same code, sent again, signs in.
        let resp = app.send_code(&browser, path, &code).await;
        assert_is_redirect_to(&resp, signed_in);
        assert_eq!(count(&app, "SELECT COUNT(*) FROM pending_logins").await, 0);
    }
}

#[tokio::test]
async fn a_two_step_change_that_fails_half_way_changes_nothing() {
    let app = TestApp::with_admin().await;
    assert_is_redirect_to(&app.login(ADMIN_EMAIL, PASSWORD).await, "/");
    let hashes = "SELECT code_hash FROM backup_codes WHERE used_at IS NULL ORDER BY code_hash";

    // Turning it on, refused at its audit event: still off, this session still good.
    assert_is_redirect_to(
        &app.setup_step("password", PASSWORD).await,
        "/mypage/2fa/setup",
    );
    let secret = app.setup_key().await;
    refuse_audit_events(&app, "two_factor_enabled", true).await;
    let resp = app.setup_step("code", &app.code_now(&secret)).await;
    assert_eq!(resp.status(), 500);
    refuse_audit_events(&app, "two_factor_enabled", false).await;
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM totp_credentials").await,
        0
    );
    assert_eq!(count(&app, "SELECT COUNT(*) FROM backup_codes").await, 0);
    assert_eq!(app.get("/mypage").await.status(), 200, "the session lives");
    app.clock.advance(30);
    let resp = app.setup_step("code", &app.code_now(&secret)).await;
    assert_eq!(resp.status(), 200, "the set-up goes on afterwards");
    let codes = app.data.db.bytes(hashes).await;
    assert_eq!(codes.len(), 10);

    // New backup codes, refused: the old set stays, so does the session.
    let backup = "/mypage/2fa/backup-codes";
    refuse_audit_events(&app, "backup_codes_regenerated", true).await;
    let resp = app.post(backup, backup, &[("password", PASSWORD)]).await;
    assert_eq!(resp.status(), 500);
    refuse_audit_events(&app, "backup_codes_regenerated", false).await;
    assert_eq!(app.data.db.bytes(hashes).await, codes);
    assert_eq!(app.get("/mypage").await.status(), 200, "the session lives");

    // Turning it off, refused: still on, the codes still there.
    let off = "/mypage/2fa/disable";
    refuse_audit_events(&app, "two_factor_disabled", true).await;
    let resp = app.post(off, off, &[("password", PASSWORD)]).await;
    assert_eq!(resp.status(), 500);
    refuse_audit_events(&app, "two_factor_disabled", false).await;
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM totp_credentials").await,
        1
    );
    assert_eq!(app.data.db.bytes(hashes).await, codes);
    assert_eq!(app.get("/mypage").await.status(), 200, "the session lives");
    let resp = app.post(off, off, &[("password", PASSWORD)]).await;
    assert_is_redirect_to(&resp, "/mypage?notice=disabled");
}

#[tokio::test]
async fn an_administrators_reset_that_fails_half_way_changes_nothing() {
    let app = TestApp::with_admin().await;
    app.sign_in_and_enable_2fa().await;
    refuse_audit_events(&app, "two_factor_reset", true).await;
    let out = app.cli(&["user", "reset-2fa", ADMIN_EMAIL], None);
    assert!(!out.status.success());
    refuse_audit_events(&app, "two_factor_reset", false).await;
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM totp_credentials").await,
        1
    );
    assert_eq!(count(&app, "SELECT COUNT(*) FROM backup_codes").await, 10);
    assert_eq!(app.get("/mypage").await.status(), 200, "the session lives");
    let out = app.cli(&["user", "reset-2fa", ADMIN_EMAIL], None);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM totp_credentials").await,
        0
    );
}

#[tokio::test]
async fn a_sign_in_waiting_for_its_code_proved_only_the_password_it_was_checked_with() {
    let app = TestApp::with_admin().await;
    let enrolled = app.sign_in_and_enable_2fa().await;
    let browser = app.password_step().await;
    // The password changes after this sign-in's password step and its pending sign-in
    // survives (a change that raced it): the code alone must not finish it.
    let old = app.db_i64("SELECT COUNT(*) FROM pending_logins").await;
    assert_eq!(old, 1);
    app.data
        .db
        .exec("UPDATE users SET password_hash = '$argon2id$v=19$m=19456,t=2,p=1$changed$changed'")
        .await;
    app.clock.advance(30);
    let resp = app
        .send_code(&browser, "/login/2fa", &app.code_now(&enrolled.secret))
        .await;
    assert!(
        !resp.headers().get_all("set-cookie").iter().any(|c| c
            .to_str()
            .unwrap()
            .starts_with("nidan_session=")
            && !c.to_str().unwrap().starts_with("nidan_session=;")),
        "no session from a password that changed"
    );
    assert_eq!(
        app.db_i64("SELECT COUNT(*) FROM sessions").await,
        1,
        "only the first browser's"
    );
}

#[tokio::test]
async fn a_two_step_change_from_a_session_ended_meanwhile_changes_nothing() {
    let app = TestApp::with_admin().await;
    let enrolled = app.sign_in_and_enable_2fa().await;
    let hashes = "SELECT code_hash FROM backup_codes WHERE used_at IS NULL ORDER BY code_hash";
    let codes = app.data.db.bytes(hashes).await;
    for (page, still) in [
        ("/mypage/2fa/backup-codes", "the old backup codes"),
        ("/mypage/2fa/disable", "two-step verification"),
    ] {
        // This instance still holds its copy of the session (younger than 1 s) when it is
        // ended elsewhere (another instance, a password reset): the change must not bring a
        // session back.
        assert_eq!(app.get("/mypage").await.status(), 200);
        app.data.db.exec("DELETE FROM sessions").await;
        let resp = app.post(page, page, &[("password", PASSWORD)]).await;
        assert_is_redirect_to(&resp, "/login");
        assert_eq!(
            app.db_i64("SELECT COUNT(*) FROM sessions").await,
            0,
            "{page}"
        );
        assert_eq!(app.data.db.bytes(hashes).await, codes, "{still} stay");
        assert_eq!(
            count(&app, "SELECT COUNT(*) FROM totp_credentials").await,
            1
        );
        // Signed in again, for the next page.
        let browser = app.password_step().await;
        app.clock.advance(30);
        let code = app.code_now(&enrolled.secret);
        assert_is_redirect_to(&app.send_code(&browser, "/login/2fa", &code).await, "/");
        assert_is_redirect_to(&app.login(ADMIN_EMAIL, PASSWORD).await, "/login/2fa");
        app.clock.advance(30);
        let code = app.code_now(&enrolled.secret);
        assert_is_redirect_to(&app.send_code(&app.client, "/login/2fa", &code).await, "/");
    }
}

#[tokio::test]
async fn a_right_code_sent_twice_at_once_is_no_wrong_guess() {
    let app = TestApp::with_admin().await;
    let enrolled = app.sign_in_and_enable_2fa().await;
    // Three double-clicks of five: twelve late copies, more than the ten wrong codes that
    // lock the account's second step.
    for _ in 0..3 {
        let browser = app.password_step().await;
        app.clock.advance(30);
        let code = app.code_now(&enrolled.secret);
        let results = codes_at_once(&app, &code, vec![browser; 5]).await;
        let wins = results
            .iter()
            .filter(|(s, l)| *s == 303 && l == "/")
            .count();
        assert_eq!(wins, 1, "{results:?}");
    }
    // None of the late copies counted as a guess: the next sign-in is not locked.
    let browser = app.password_step().await;
    app.clock.advance(30);
    let code = app.code_now(&enrolled.secret);
    assert_is_redirect_to(&app.send_code(&browser, "/login/2fa", &code).await, "/");
}

/// Each browser (waiting for its second step) sends `code` on the code page, all at once:
/// every answer's status and `Location`.
async fn codes_at_once(
    app: &TestApp,
    code: &str,
    browsers: Vec<reqwest::Client>,
) -> Vec<(u16, String)> {
    let url = app.url("/login/2fa");
    let mut tokens = Vec::new();
    for b in &browsers {
        let (_, page) = get_html(b, &url).await;
        tokens.push(csrf_token(&page).unwrap());
    }
    let tasks: Vec<_> = browsers
        .into_iter()
        .zip(tokens)
        .map(|(b, token)| {
            let (url, code) = (url.clone(), code.to_owned());
            tokio::spawn(async move {
                let resp = b
                    .post(url)
                    .form(&[("code", code.as_str()), ("csrf_token", token.as_str())])
                    .send()
                    .await
                    .unwrap();
                (resp.status().as_u16(), location(resp.headers()).to_owned())
            })
        })
        .collect();
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap());
    }
    results
}
