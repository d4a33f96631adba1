//! Security notices by email, received by the harness's SMTP sink, checked for recipient
//! and body (Japanese and English).

use crate::common::*;

#[tokio::test]
async fn the_owner_hears_of_changes_backup_codes_passwords_locks_and_new_devices() {
    let (app, inbox) = TestApp::with_admin_and_mail().await;
    // The admin's first browser is the account's first device: no notice for it.
    let enrolled = app.sign_in_and_enable_2fa().await;
    let on = wait_for(&inbox, "2段階認証が有効になりました").await;
    assert_eq!(on.to, vec![ADMIN_EMAIL.to_owned()]);
    assert!(on.body.contains("Two-step verification was turned on"));
    // app.client signed in without a device cookie of this account: a new device.
    let new_device = wait_for(&inbox, "新しい端末からログインしました").await;
    assert!(
        new_device.body.contains("IP address: 127.0.0.1"),
        "{}",
        new_device.body
    );

    let browser = app.password_step().await;
    let resp = app
        .send_code(&browser, "/login/backup", &enrolled.backup_codes[0])
        .await;
    assert_is_redirect_to(&resp, "/mypage?notice=backup_used");
    let used = wait_for(&inbox, "残りのバックアップコードは 9 個").await;
    assert!(used.body.contains("9 backup codes are left"));

    // The same browser again (it keeps its device cookie) is no new device.
    let out = post_form(&browser, &app.url("/mypage"), &app.url("/logout"), &[]).await;
    assert_is_redirect_to(&out, "/login?signed_out=1");
    let resp = post_form(
        &browser,
        &app.url("/login"),
        &app.url("/login"),
        &[("email", ADMIN_EMAIL), ("password", PASSWORD)],
    )
    .await;
    assert_is_redirect_to(&resp, "/login/2fa");
    let resp = app
        .send_code(&browser, "/login/backup", &enrolled.backup_codes[1])
        .await;
    assert_is_redirect_to(&resp, "/mypage?notice=backup_used");
    wait_for(&inbox, "残りのバックアップコードは 8 個").await;

    // New backup codes (someone holding a session and the password could mint their own).
    let resp = browser
        .post(app.url("/api/v1/2fa/backup-codes"))
        .header("x-requested-with", "test")
        .json(&serde_json::json!({"password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let fresh = wait_for(&inbox, "新しいバックアップコードが発行されました").await;
    assert!(
        fresh.body.contains("New backup codes were issued"),
        "{}",
        fresh.body
    );

    // A new password, from マイページ.
    let page = "/mypage/password";
    let new = "violet harbour lantern 42";
    let fields = [
        ("current_password", PASSWORD),
        ("new_password", new),
        ("new_password_confirm", new),
    ];
    let resp = post_form(&browser, &app.url(page), &app.url(page), &fields).await;
    assert_is_redirect_to(&resp, "/mypage?notice=password_changed");
    let changed = wait_for(&inbox, "パスワードが変更されました").await;
    assert!(
        changed
            .body
            .contains("The password of your account was changed"),
        "{}",
        changed.body
    );

    // Ten wrong passwords lock the account, and its owner hears of it.
    for _ in 0..10 {
        let stranger = client();
        let form = [("email", ADMIN_EMAIL), ("password", "wrong password!")];
        post_form(&stranger, &app.url("/login"), &app.url("/login"), &form).await;
    }
    let locked = wait_for(&inbox, "ログインできません").await.body;
    assert!(locked.contains("sign-in is locked until"), "{locked}");
    let mails = inbox.lock().unwrap().clone();
    let new_devices = mails
        .iter()
        .filter(|m| m.body.contains("新しい端末"))
        .count();
    assert_eq!(
        new_devices, 2,
        "app.client and the backup-code browser, once each: {mails:?}"
    );
    for m in &mails {
        assert_eq!(m.to, vec![ADMIN_EMAIL.to_owned()]);
        assert!(!m.body.contains(PASSWORD) && !m.body.contains(&enrolled.backup_codes[0]));
        assert!(!m.body.contains(new));
    }
}
