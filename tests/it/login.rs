use crate::common::*;

#[tokio::test]
async fn sign_in_shows_the_viewer_and_my_page_then_sign_out() {
    let app = TestApp::with_admin().await;
    let browser = client();
    let resp = post_form(
        &browser,
        &app.url("/login"),
        &app.url("/login"),
        &[("email", "ADMIN@example.jp"), ("password", PASSWORD)],
    )
    .await;
    assert_is_redirect_to(&resp, "/");

    let (status, page) = get_html(&browser, &app.url("/")).await;
    assert_eq!(status, 200);
    assert_eq!(text(&page, "#signed-in-email"), ADMIN_EMAIL);
    assert!(select(&page, "a").contains(&"マイページ".to_owned()));

    let (status, page) = get_html(&browser, &app.url("/mypage")).await;
    assert_eq!(status, 200);
    assert_eq!(text(&page, "h1"), "マイページ");
    assert_eq!(text(&page, "#two-step-heading"), "2段階認証");
    assert_eq!(text(&page, "#two-step-state"), "無効");
    assert!(select(&page, "button").contains(&"ログアウト".to_owned()));

    let resp = post_form(&browser, &app.url("/mypage"), &app.url("/logout"), &[]).await;
    assert_is_redirect_to(&resp, "/login?signed_out=1");
    let (_, page) = get_html(&browser, &app.url("/login?signed_out=1")).await;
    assert_eq!(text(&page, ".notice"), "ログアウトしました。");
    let resp = browser.get(app.url("/")).send().await.unwrap();
    assert_is_redirect_to(&resp, "/login");
}

#[tokio::test]
async fn unknown_email_and_wrong_password_get_the_same_answer() {
    let app = TestApp::with_admin().await;
    let mut answers = Vec::new();
    for (email, password) in [
        (ADMIN_EMAIL, "wrong password"),
        ("nobody@example.jp", PASSWORD),
    ] {
        let resp = app.login(email, password).await;
        assert_eq!(resp.status(), 401);
        assert!(
            resp.headers()
                .get("set-cookie")
                .is_none_or(|c| { !c.to_str().unwrap().contains("nidan_session") })
        );
        let page = scraper::Html::parse_document(&resp.text().await.unwrap());
        answers.push(text(&page, "[role=alert]"));
    }
    assert_eq!(
        answers[0],
        "メールアドレスまたはパスワードが正しくありません。"
    );
    assert_eq!(answers[0], answers[1]);
    assert_eq!(app.get("/").await.status(), 303, "still signed out");
}

#[tokio::test]
async fn empty_or_malformed_fields_get_a_message() {
    let app = TestApp::with_admin().await;
    let resp = app.login("", "").await;
    assert_eq!(resp.status(), 400);
    let page = scraper::Html::parse_document(&resp.text().await.unwrap());
    assert_eq!(
        text(&page, "[role=alert]"),
        "メールアドレスとパスワードを入力してください。"
    );
    let resp = app.login("admin", PASSWORD).await;
    assert_eq!(resp.status(), 400);
    let page = scraper::Html::parse_document(&resp.text().await.unwrap());
    assert_eq!(
        text(&page, "[role=alert]"),
        "メールアドレスの形式が正しくありません。"
    );
    assert_eq!(
        attr(&page, "input[name=email]", "value").as_deref(),
        Some("admin")
    );
}

#[tokio::test]
async fn next_is_followed_only_to_local_paths() {
    let app = TestApp::with_admin().await;
    let resp = app.get("/mypage").await;
    assert_is_redirect_to(&resp, "/login?next=%2Fmypage");
    let (_, page) = app.get_html("/login?next=%2Fmypage").await;
    assert_eq!(
        attr(&page, "input[name=next]", "value").as_deref(),
        Some("/mypage")
    );

    for (next, expected) in [
        ("/mypage", "/mypage"),
        ("//evil.example/", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("", "/"),
    ] {
        let browser = client();
        let resp = post_form(
            &browser,
            &app.url("/login"),
            &app.url("/login"),
            &[
                ("email", ADMIN_EMAIL),
                ("password", PASSWORD),
                ("next", next),
            ],
        )
        .await;
        assert_is_redirect_to(&resp, expected);
    }
    // A signed-in visitor to /login is sent on, again only locally.
    let resp = app.login(ADMIN_EMAIL, PASSWORD).await;
    assert_is_redirect_to(&resp, "/");
    assert_is_redirect_to(&app.get("/login?next=//evil.example").await, "/");
    assert_is_redirect_to(&app.get("/login?next=/mypage").await, "/mypage");
}

#[tokio::test]
async fn a_sign_in_that_fails_half_way_leaves_no_session() {
    let app = TestApp::with_admin().await;
    let sessions = app.db_i64("SELECT COUNT(*) FROM sessions").await;
    // The right password, and the database fails at the sign-in's last write.
    refuse_audit_events(&app, "sign_in_ok", true).await;
    let resp = app.login_in(&client()).await;
    assert_eq!(resp.status(), 500);
    refuse_audit_events(&app, "sign_in_ok", false).await;
    assert_eq!(
        app.db_i64("SELECT COUNT(*) FROM sessions").await,
        sessions,
        "no session without its audit event"
    );
    assert_is_redirect_to(&app.login_in(&client()).await, "/");
    assert_eq!(
        app.db_i64("SELECT COUNT(*) FROM sessions").await,
        sessions + 1
    );
}
