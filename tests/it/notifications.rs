//! Security notices by email, received by an SMTP sink started here, checked for
//! recipient and body (Japanese and English).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use crate::common::*;

#[derive(Debug, Clone)]
struct Mail {
    to: Vec<String>,
    body: String,
}

/// Just enough SMTP to take mail: every command gets a yes, DATA is kept.
async fn smtp_sink() -> (String, Arc<Mutex<Vec<Mail>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("smtp://{}", listener.local_addr().unwrap());
    let inbox = Arc::new(Mutex::new(Vec::new()));
    let sink = inbox.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let inbox = sink.clone();
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read).lines();
                write.write_all(b"220 sink\r\n").await.unwrap();
                let mut to = Vec::new();
                while let Ok(Some(line)) = lines.next_line().await {
                    let upper = line.to_ascii_uppercase();
                    let reply: &[u8] = if upper.starts_with("RCPT TO:") {
                        to.push(line[8..].trim().trim_matches(['<', '>']).to_owned());
                        b"250 ok\r\n"
                    } else if upper == "DATA" {
                        write.write_all(b"354 go on\r\n").await.unwrap();
                        let mut data = Vec::new();
                        while let Ok(Some(l)) = lines.next_line().await {
                            if l == "." {
                                break;
                            }
                            data.push(l);
                        }
                        inbox.lock().unwrap().push(Mail {
                            to: std::mem::take(&mut to),
                            body: decode_body(&data),
                        });
                        b"250 kept\r\n"
                    } else if upper == "QUIT" {
                        let _ = write.write_all(b"221 bye\r\n").await;
                        break;
                    } else {
                        b"250 ok\r\n"
                    };
                    if write.write_all(reply).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    (url, inbox)
}

/// The body after the headers, base64 as nidan sends it.
fn decode_body(lines: &[String]) -> String {
    let start = lines.iter().position(|l| l.is_empty()).unwrap_or(0);
    let joined: String = lines[start..].concat();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(joined.trim())
        .unwrap_or_default();
    String::from_utf8(bytes).unwrap_or_default()
}

async fn wait_for(inbox: &Arc<Mutex<Vec<Mail>>>, needle: &str) -> Mail {
    for _ in 0..100 {
        if let Some(m) = inbox
            .lock()
            .unwrap()
            .iter()
            .find(|m| m.body.contains(needle))
        {
            return m.clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no mail with {needle:?}: {:?}", inbox.lock().unwrap());
}

#[tokio::test]
async fn the_owner_hears_of_changes_backup_codes_passwords_locks_and_new_devices() {
    let (url, inbox) = smtp_sink().await;
    let app = TestApp::with_admin_in(|data| {
        let mut c = config(data);
        c.smtp_url = Some(url.clone().into());
        c.smtp_from = "nidan <nidan@example.jp>".to_owned();
        c
    })
    .await;
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
