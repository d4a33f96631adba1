//! The real `nidan serve` process: JSON logs with request ids and never a secret in them,
//! and SIGTERM during a request lets that request finish.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::routing::get;

use crate::common::*;

async fn slow_upstream() -> std::net::SocketAddr {
    let app = Router::new().route(
        "/slow",
        get(|| async {
            tokio::time::sleep(Duration::from_millis(800)).await;
            "finished"
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

#[tokio::test]
async fn json_logs_hold_no_secret_and_sigterm_lets_a_request_finish() {
    let upstream = slow_upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_nidan"))
        .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
        .args(["--data-dir", dir.path().to_str().unwrap()])
        .args(["--upstream", &format!("http://{upstream}")])
        .env("RUST_LOG", "debug")
        .env_remove("NIDAN_DATABASE_URL")
        .env_remove("NIDAN_SECRET_KEY")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let reader = {
        let lines = lines.clone();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
        })
    };
    // The setup link is the one URL on stderr that is not a log line.
    let find_setup_link = || {
        lines.lock().unwrap().iter().find_map(|l| {
            let url = l.trim();
            (url.starts_with("http://127.0.0.1") && url.contains("/setup/")).then(|| url.to_owned())
        })
    };
    let mut setup = None;
    for _ in 0..100 {
        setup = find_setup_link();
        if setup.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let setup = setup.expect("setup link printed");
    let base = setup.split("/setup/").next().unwrap().to_owned();
    let setup_token = setup.split("/setup/").nth(1).unwrap().to_owned();

    // A whole flow, collecting every secret it uses.
    let browser = client();
    let url = |p: &str| format!("{base}{p}");
    post_form(
        &browser,
        &setup,
        &setup,
        &[
            ("email", ADMIN_EMAIL),
            ("password", PASSWORD),
            ("password_confirm", PASSWORD),
        ],
    )
    .await;
    let resp = post_form(
        &browser,
        &url("/mypage/2fa/setup"),
        &url("/mypage/2fa/setup"),
        &[("step", "password"), ("password", PASSWORD)],
    )
    .await;
    assert_is_redirect_to(&resp, "/mypage/2fa/setup");
    let (_, page) = get_html(&browser, &url("/mypage/2fa/setup")).await;
    let key_grouped = text(&page, "#totp-key");
    let secret = nidan::otp::secret_from_base32(&key_grouped).unwrap();
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    };
    let first_code = nidan::otp::totp::code_at(&secret, now());
    let resp = post_form(
        &browser,
        &url("/mypage/2fa/setup"),
        &url("/mypage/2fa/setup"),
        &[("step", "code"), ("code", &first_code)],
    )
    .await;
    let codes = select(&page_of(resp).await, "#backup-codes li");
    assert_eq!(codes.len(), 10);
    let signed_in = client();
    let resp = post_form(
        &signed_in,
        &url("/login"),
        &url("/login"),
        &[("email", ADMIN_EMAIL), ("password", PASSWORD)],
    )
    .await;
    assert_is_redirect_to(&resp, "/login/2fa");
    let resp = post_form(
        &signed_in,
        &url("/login"),
        &url("/login/backup"),
        &[("code", &codes[0])],
    )
    .await;
    let cookie = |name: &str| {
        resp.headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|c| c.strip_prefix(&format!("{name}=")).map(str::to_owned))
            .map(|c| c.split(';').next().unwrap().to_owned())
    };
    let session = cookie("nidan_session").expect("signed in with a backup code");
    let device = cookie("nidan_device").expect("a new browser gets a device cookie");

    // A request in flight when SIGTERM comes still finishes.
    let slow = tokio::spawn({
        let signed_in = signed_in.clone();
        let url = url("/slow");
        async move {
            signed_in
                .get(url)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    });
    tokio::time::sleep(Duration::from_millis(250)).await;
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(slow.await.unwrap(), "finished");
    let exit = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(exit.success(), "{exit:?}");
    reader.join().unwrap();

    let lines = lines.lock().unwrap();
    let log: Vec<&String> = lines.iter().filter(|l| l.starts_with('{')).collect();
    assert!(log.len() > 10, "{lines:?}");
    for line in &log {
        serde_json::from_str::<serde_json::Value>(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    }
    assert!(
        log.iter().any(|l| l.contains("\"request_id\"")),
        "request ids in the log"
    );
    assert!(
        log.iter()
            .any(|l| l.contains("finishing requests in flight"))
    );
    // Timestamps, request ids and timings are digits of chance: a 6-digit code may turn up in them.
    let all = log
        .iter()
        .map(|l| scrub(serde_json::from_str(l).unwrap()).to_string())
        .collect::<Vec<_>>()
        .join("\n");
    let key_plain = key_grouped.replace(' ', "");
    let mut secrets = vec![
        PASSWORD,
        &setup_token,
        &session,
        &device,
        &key_plain,
        &key_grouped,
        &first_code,
    ];
    secrets.extend(codes.iter().map(String::as_str));
    for secret in secrets {
        assert!(!all.contains(secret), "a secret reached the log: {secret}");
    }
}

fn scrub(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => map
            .into_iter()
            .filter(|(k, _)| {
                !["timestamp", "request_id", "elapsed", "elapsed_secs"].contains(&k.as_str())
            })
            .map(|(k, v)| (k, scrub(v)))
            .collect(),
        serde_json::Value::Array(items) => items.into_iter().map(scrub).collect(),
        other => other,
    }
}

async fn page_of(resp: reqwest::Response) -> scraper::Html {
    scraper::Html::parse_document(&resp.text().await.unwrap())
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = spawn_app().await;
    let id = app.get("/login").await.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(id.len(), 25, "{id}");
    let next = app.get("/login").await.headers()["x-request-id"].clone();
    assert_ne!(next.to_str().unwrap(), id);
    // Forward-auth answers carry one too.
    assert!(
        app.get("/auth/verify")
            .await
            .headers()
            .contains_key("x-request-id")
    );
    let mine = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "trace-123")
        .send()
        .await
        .unwrap();
    assert_eq!(mine.headers()["x-request-id"], "trace-123");
}
