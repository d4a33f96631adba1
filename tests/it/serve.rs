//! The real `nidan serve` process: JSON logs with request ids and never a secret in them,
//! and SIGTERM during a request lets that request finish.

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
    let upstream = format!("http://{upstream}");
    let mut command = ServeProcess::command(&[
        "--log-format",
        "json",
        "--data-dir",
        dir.path().to_str().unwrap(),
        "--upstream",
        &upstream,
    ]);
    command.env("RUST_LOG", "debug");
    let server = ServeProcess::start(command).await;
    let setup_token = server.setup_token().to_owned();
    // A whole flow, collecting every secret it uses.
    let flow = server.manual_flow().await;

    // A request in flight when SIGTERM comes still finishes.
    let slow = tokio::spawn({
        let signed_in = flow.signed_in.clone();
        let url = server.url("/slow");
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
    server.sigterm();
    assert_eq!(slow.await.unwrap(), "finished");
    let (exit, lines) = server.wait().await;
    assert!(exit.success(), "{exit:?}");
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
    let key_plain = flow.key_grouped.replace(' ', "");
    let mut secrets = vec![
        PASSWORD,
        &setup_token,
        &flow.session,
        &flow.device,
        &key_plain,
        &flow.key_grouped,
        &flow.first_code,
    ];
    secrets.extend(flow.backup_codes.iter().map(String::as_str));
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

#[tokio::test]
async fn a_shutdown_deadline_that_cuts_requests_exits_non_zero_and_says_how_many() {
    let app = Router::new().route(
        "/stuck",
        get(|| async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            "never"
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let dir = tempfile::tempdir().unwrap();
    let command = ServeProcess::command(&[
        "--data-dir",
        dir.path().to_str().unwrap(),
        "--upstream",
        &upstream,
        "--access-rule",
        "*/stuck=bypass",
        "--shutdown-timeout",
        "1s",
    ]);
    let server = ServeProcess::start(command).await;
    let stuck = tokio::spawn(client().get(server.url("/stuck")).send());
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.sigterm();
    let (exit, lines) = server.wait().await;
    assert_eq!(exit.code(), Some(1), "{}", lines.join("\n"));
    assert!(
        lines
            .iter()
            .any(|l| l.contains("the shutdown deadline (1s) cut 1 request still in flight")),
        "{}",
        lines.join("\n")
    );
    assert!(stuck.await.unwrap().is_err(), "the request was cut");
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
    // Too long, or with a space: replaced by one of nidan's, not written to the log.
    for theirs in ["x".repeat(129), "a b".to_owned()] {
        let replaced = app
            .client
            .get(app.url("/healthz"))
            .header("x-request-id", &theirs)
            .send()
            .await
            .unwrap();
        assert_eq!(replaced.headers()["x-request-id"].len(), 25, "{theirs}");
    }
}

/// The QR code on the set-up page, and the key shown beside it, for the administrator of a
/// fresh server.
async fn setup_qr(server: &ServeProcess) -> (String, String) {
    let browser = client();
    post_form(
        &browser,
        &server.setup_link,
        &server.setup_link,
        &[
            ("email", ADMIN_EMAIL),
            ("password", PASSWORD),
            ("password_confirm", PASSWORD),
        ],
    )
    .await;
    let page = setup_key_page(&browser, &server.url("/mypage/2fa/setup")).await;
    let qr = page
        .select(&scraper::Selector::parse(".qr svg").unwrap())
        .next()
        .expect("a QR code")
        .html();
    (qr, text(&page, "#totp-key").replace(' ', ""))
}

#[tokio::test]
async fn the_totp_issuer_flag_and_variable_reach_the_qr_code() {
    for (flag, variable) in [(Some("Camera Cloud"), None), (None, Some("カメラ"))] {
        let dir = tempfile::tempdir().unwrap();
        let mut args = vec!["--data-dir", dir.path().to_str().unwrap()];
        if let Some(issuer) = flag {
            args.extend(["--totp-issuer", issuer]);
        }
        let mut command = ServeProcess::command(&args);
        if let Some(issuer) = variable {
            command.env("NIDAN_TOTP_ISSUER", issuer);
        }
        let server = ServeProcess::start(command).await;
        let (qr, key) = setup_qr(&server).await;
        let issuer = flag.or(variable).unwrap();
        // The same renderer draws the same code: the page's is the one for this URI.
        let drawn_for = |issuer: &str| {
            let uri = nidan::otp::uri::otpauth_uri(issuer, ADMIN_EMAIL, &key);
            let svg = scraper::Html::parse_fragment(&nidan::web::qr::svg(&uri).unwrap());
            svg.select(&scraper::Selector::parse("svg").unwrap())
                .next()
                .unwrap()
                .html()
        };
        assert!(
            qr == drawn_for(issuer),
            "the QR code is not the one for {issuer}"
        );
        assert!(
            qr != drawn_for("nidan"),
            "the QR code is the default issuer's"
        );
    }
}
