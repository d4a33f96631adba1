use crate::common::*;

#[tokio::test]
async fn first_start_offers_a_setup_link_that_creates_the_admin_once() {
    let app = spawn_app().await;
    let setup = app
        .setup_url
        .clone()
        .expect("no account yet, so a setup link");
    assert!(setup.starts_with(&app.url("/setup/")), "{setup}");

    let (status, page) = get_html(&app.client, &setup).await;
    assert_eq!(status, 200);
    assert_eq!(text(&page, "h1"), "管理者アカウントの作成");

    let resp = post_form(
        &app.client,
        &setup,
        &setup,
        &[
            ("email", " Admin@Example.JP "),
            ("password", PASSWORD),
            ("password_confirm", PASSWORD),
        ],
    )
    .await;
    assert_is_redirect_to(&resp, "/mypage");
    // Signed in straight away, with the normalised address.
    let (status, page) = app.get_html("/mypage").await;
    assert_eq!(status, 200);
    assert_eq!(text(&page, "#account-email"), ADMIN_EMAIL);

    // The link is spent.
    let (status, page) = get_html(&client(), &setup).await;
    assert_eq!(status, 404);
    assert!(text(&page, ".error").contains("このURLは無効です"));
    let other = client();
    let resp = post_form(
        &other,
        &app.url("/login"),
        &setup,
        &[
            ("email", "second@example.jp"),
            ("password", PASSWORD),
            ("password_confirm", PASSWORD),
        ],
    )
    .await;
    assert_eq!(resp.status(), 404);
    let listed = stdout(&app.cli(&["user", "list"], None));
    assert!(!listed.contains("second@example.jp"), "{listed}");
    assert!(listed.contains("admin@example.jp"), "{listed}");
}

#[tokio::test]
async fn bad_input_keeps_the_link_usable() {
    let app = spawn_app().await;
    let setup = app.setup_url.clone().unwrap();
    let cases: [(&str, &str, &str, u16, &str); 5] = [
        (
            ADMIN_EMAIL,
            PASSWORD,
            "different password",
            400,
            "パスワードが一致しません。",
        ),
        (
            ADMIN_EMAIL,
            "short",
            "short",
            400,
            "パスワードは12文字以上で入力してください。",
        ),
        (
            ADMIN_EMAIL,
            "password1234",
            "password1234",
            400,
            "よく使われるパスワードです。推測されにくい、別のパスワードにしてください（メールアドレスや名前を含まないもの）。",
        ),
        (
            "not-an-email",
            PASSWORD,
            PASSWORD,
            400,
            "メールアドレスの形式が正しくありません。",
        ),
        (
            "",
            PASSWORD,
            PASSWORD,
            400,
            "メールアドレスの形式が正しくありません。",
        ),
    ];
    for (email, password, confirm, status, message) in cases {
        let resp = post_form(
            &app.client,
            &setup,
            &setup,
            &[
                ("email", email),
                ("password", password),
                ("password_confirm", confirm),
            ],
        )
        .await;
        assert_eq!(resp.status(), status, "{email:?} {password:?}");
        let page = scraper::Html::parse_document(&resp.text().await.unwrap());
        assert_eq!(text(&page, ".error"), message);
    }
    assert!(
        stdout(&app.cli(&["user", "list"], None)).lines().count() == 1,
        "no account made"
    );
    let (status, _) = app.get_html(setup.trim_start_matches(&app.base)).await;
    assert_eq!(status, 200, "link still valid");
}

#[tokio::test]
async fn restart_with_an_account_offers_no_link_and_kills_the_old_one() {
    let app = spawn_app().await;
    let old_link = app.setup_url.clone().unwrap();
    let out = app.cli(
        &["user", "add", "cli@example.jp", "--password-stdin"],
        Some(PASSWORD),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let data = app.stop().await;

    let app = spawn_in(data, config).await;
    assert_eq!(app.setup_url, None);
    let path = old_link.split_once("/setup/").unwrap().1;
    let (status, _) = app.get_html(&format!("/setup/{path}")).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn restart_without_an_account_replaces_the_link() {
    let app = spawn_app().await;
    let first = app.setup_url.clone().unwrap();
    let data = app.stop().await;
    let app = spawn_in(data, config).await;
    let second = app.setup_url.clone().unwrap();
    assert_ne!(first, second);
    let token = |url: &str| url.split_once("/setup/").unwrap().1.to_owned();
    assert_eq!(
        app.get_html(&format!("/setup/{}", token(&first))).await.0,
        404
    );
    assert_eq!(
        app.get_html(&format!("/setup/{}", token(&second))).await.0,
        200
    );
}

#[tokio::test]
async fn a_different_server_key_is_refused_at_start() {
    let app = spawn_app().await;
    let data = app.stop().await;
    std::fs::write(
        data.dir.path().join("secret.key"),
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
    )
    .unwrap();
    let err = nidan::App::spawn(
        config(&data),
        std::sync::Arc::new(nidan::clock::SystemClock),
    )
    .await
    .err()
    .expect("refuses the other key");
    assert!(
        err.to_string().contains("server key does not match"),
        "{err}"
    );
}

#[tokio::test]
async fn a_set_up_that_fails_half_way_leaves_the_link_usable() {
    let app = spawn_app().await;
    let setup = app.setup_url.clone().unwrap();
    let form = [
        ("email", ADMIN_EMAIL),
        ("password", PASSWORD),
        ("password_confirm", PASSWORD),
    ];
    refuse_audit_events(&app, "account_created", true).await;
    let resp = post_form(&app.client, &setup, &setup, &form).await;
    assert_eq!(resp.status(), 500);
    refuse_audit_events(&app, "account_created", false).await;
    assert_eq!(app.db_i64("SELECT COUNT(*) FROM users").await, 0);
    assert_eq!(app.db_i64("SELECT COUNT(*) FROM sessions").await, 0);
    assert_eq!(app.db_i64("SELECT COUNT(*) FROM setup_tokens").await, 1);
    // The same link then creates the account and signs in.
    let resp = post_form(&app.client, &setup, &setup, &form).await;
    assert_is_redirect_to(&resp, "/mypage");
    assert_eq!(app.db_i64("SELECT COUNT(*) FROM users").await, 1);
    let events =
        "SELECT COUNT(*) FROM audit_events WHERE kind = 'account_created' AND user_id IS NOT NULL";
    assert_eq!(
        app.db_i64(events).await,
        1,
        "the event names the new account"
    );
}
