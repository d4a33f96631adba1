//! Prometheus metrics: scraped after a flow and parsed; on a listener of their own.

use prometheus_parse::{Scrape, Value};

use crate::common::*;

async fn scrape(url: &str) -> Scrape {
    let resp = reqwest::get(url).await.unwrap();
    assert_eq!(resp.status(), 200);
    let kind = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(kind.starts_with("application/openmetrics-text"), "{kind}");
    let text = resp.text().await.unwrap();
    Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("the exposition parses")
}

fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name)
        .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match &s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
            Value::Histogram(h) => h.iter().map(|b| b.count).fold(0.0, f64::max),
            Value::Summary(_) => 0.0,
        })
        .sum()
}

#[tokio::test]
async fn a_flow_shows_in_the_metrics() {
    let app = TestApp::with_admin().await;
    assert_eq!(
        app.login(ADMIN_EMAIL, "wrong password!").await.status(),
        401
    );
    let enrolled = app.sign_in_and_enable_2fa().await;
    let browser = app.password_step().await;
    app.send_code(&browser, "/login/backup", &enrolled.backup_codes[0])
        .await;
    let wrong = app.password_step().await;
    app.send_code(&wrong, "/login/2fa", "000000").await;

    let m = scrape(&app.url("/metrics")).await;
    assert_eq!(
        value(&m, "nidan_sign_ins_total", &[("result", "wrong_password")]),
        1.0
    );
    assert_eq!(value(&m, "nidan_sign_ins_total", &[("result", "ok")]), 1.0);
    assert_eq!(
        value(&m, "nidan_sign_ins_total", &[("result", "second_step_ok")]),
        1.0
    );
    assert_eq!(
        value(
            &m,
            "nidan_sign_ins_total",
            &[("result", "second_step_failed")]
        ),
        1.0
    );
    assert_eq!(value(&m, "nidan_backup_codes_used_total", &[]), 1.0);
    // app.client (renewed when 2FA went on, which ended the setup browser's) and the
    // backup-code browser.
    assert_eq!(value(&m, "nidan_active_sessions", &[]), 2.0);
    assert!(value(&m, "nidan_db_connections", &[("state", "max")]) >= 1.0);
    assert_eq!(
        value(
            &m,
            "nidan_http_requests_total",
            &[("route", "/login"), ("method", "POST"), ("status", "401")]
        ),
        1.0
    );
    assert!(
        value(
            &m,
            "nidan_http_request_duration_seconds",
            &[("route", "/login")]
        ) >= 1.0
    );
    // Raw paths never become labels: setup links carry tokens.
    let raw = reqwest::get(app.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(raw.contains(r#"route="/setup/{token}""#), "{raw}");
    let token = app
        .setup_url
        .as_deref()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap();
    assert!(!raw.contains(token));

    // Ten wrong codes lock the second step: counted as locked.
    for _ in 0..10 {
        let b = app.password_step().await;
        app.send_code(&b, "/login/2fa", "000000").await;
    }
    let m = scrape(&app.url("/metrics")).await;
    assert_eq!(
        value(&m, "nidan_sign_ins_total", &[("result", "locked")]),
        1.0
    );
    let b = app.password_step().await;
    app.send_code(&b, "/login/2fa", "000000").await;
    let m = scrape(&app.url("/metrics")).await;
    assert!(
        value(
            &m,
            "nidan_sign_ins_total",
            &[("result", "second_step_failed")]
        ) >= 10.0
    );
}

#[tokio::test]
async fn metrics_can_have_a_listener_of_their_own() {
    let app = TestApp::with_admin_in(|data| {
        let mut c = config(data);
        c.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
        c
    })
    .await;
    assert_eq!(app.get("/metrics").await.status(), 404);
    let addr = app.metrics_addr().expect("metrics listener bound");
    let m = scrape(&format!("http://{addr}/metrics")).await;
    assert_eq!(value(&m, "nidan_active_sessions", &[]), 1.0);
}
