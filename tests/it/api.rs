//! /api/v1: every endpoint, its problems, and the OpenAPI document.

use serde_json::{Value, json};

use crate::common::*;

#[tokio::test]
async fn sign_in_turn_on_use_and_turn_off_two_step_verification() {
    let app = TestApp::with_admin().await;
    let api = Api::new(&app);
    let login = json!({"email": ADMIN_EMAIL, "password": PASSWORD});
    assert_eq!(
        api.post("/api/v1/login", login.clone()).await,
        (200, json!({"status": "ok"}))
    );
    let (status, me) = api.me().await;
    assert_eq!(status, 200);
    assert_eq!(
        me,
        json!({"email": ADMIN_EMAIL, "is_admin": true, "two_factor": {"enabled": false, "backup_codes_left": 0}})
    );

    // Turn it on: password, then the first code.
    let (status, p) = api
        .post("/api/v1/2fa/enable", json!({"password": "wrong password"}))
        .await;
    assert_eq!((status, kind(&p)), (401, "wrong-password"));
    let (status, setup) = api
        .post("/api/v1/2fa/enable", json!({"password": PASSWORD}))
        .await;
    assert_eq!(status, 200);
    let uri = setup["otpauth_uri"].as_str().unwrap();
    assert!(
        uri.starts_with("otpauth://totp/nidan:admin%40example.jp?secret="),
        "{uri}"
    );
    let secret = nidan::otp::secret_from_base32(setup["secret"].as_str().unwrap()).unwrap();
    let (status, p) = api.post("/api/v1/2fa/confirm", json!({"code": "12"})).await;
    assert_eq!((status, kind(&p)), (400, "code-format"));
    let (status, codes) = api
        .post(
            "/api/v1/2fa/confirm",
            json!({"code": app.code_now(&secret)}),
        )
        .await;
    assert_eq!(status, 200);
    let codes: Vec<String> = serde_json::from_value(codes["backup_codes"].clone()).unwrap();
    assert_eq!(codes.len(), 10);
    assert_eq!(
        api.me().await.1["two_factor"],
        json!({"enabled": true, "backup_codes_left": 10})
    );

    // Sign out, then in with a code.
    assert_eq!(
        api.post("/api/v1/logout", json!({})).await,
        (200, json!({"status": "ok"}))
    );
    let (status, p) = api.me().await;
    assert_eq!((status, kind(&p)), (401, "not-signed-in"));
    assert_eq!(
        api.post("/api/v1/login", login.clone()).await,
        (200, json!({"status": "second_factor_required"}))
    );
    assert_eq!(api.me().await.0, 401, "pending is not a session");
    let (status, p) = api
        .post("/api/v1/login/totp", json!({"code": "000001"}))
        .await;
    assert_eq!(
        (status, kind(&p), p["attempts_left"].as_i64()),
        (401, "wrong-code", Some(4))
    );
    app.clock.advance(30);
    let (status, _) = api
        .post("/api/v1/login/totp", json!({"code": app.code_now(&secret)}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(api.me().await.0, 200);

    // And with a backup code.
    api.post("/api/v1/logout", json!({})).await;
    api.post("/api/v1/login", login.clone()).await;
    let (status, ok) = api
        .post("/api/v1/login/backup-code", json!({"code": codes[0]}))
        .await;
    assert_eq!(
        (status, ok),
        (200, json!({"status": "ok", "backup_codes_left": 9}))
    );

    // New codes, then off.
    let (status, fresh) = api
        .post("/api/v1/2fa/backup-codes", json!({"password": PASSWORD}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(fresh["backup_codes"].as_array().unwrap().len(), 10);
    let (status, p) = api
        .post("/api/v1/2fa/enable", json!({"password": PASSWORD}))
        .await;
    assert_eq!((status, kind(&p)), (409, "two-factor-already-on"));
    assert_eq!(
        api.post("/api/v1/2fa/disable", json!({"password": PASSWORD}))
            .await,
        (200, json!({"status": "ok"}))
    );
    assert_eq!(api.me().await.1["two_factor"]["enabled"], json!(false));
    let (status, p) = api
        .post("/api/v1/2fa/disable", json!({"password": PASSWORD}))
        .await;
    assert_eq!((status, kind(&p)), (409, "two-factor-off"));
}

#[tokio::test]
async fn writes_need_the_header_and_bad_bodies_are_problems() {
    let app = TestApp::with_admin().await;
    let api = Api::new(&app);
    let resp = api
        .client
        .post(app.url("/api/v1/login"))
        .json(&json!({"email": ADMIN_EMAIL, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    let p: Value = resp.json().await.unwrap();
    assert_eq!(kind(&p), "missing-csrf-header");
    assert_eq!(api.me().await.0, 401, "nothing happened");

    for (content_type, body) in [
        ("application/json", "{not json"),
        ("application/json", r#"{"email": "a@b.jp"}"#),
        ("application/json", r#"{"email": 5, "password": "x"}"#),
        ("text/plain", r#"{"email": "a@b.jp", "password": "x"}"#),
    ] {
        let resp = api
            .client
            .post(app.url("/api/v1/login"))
            .header("x-requested-with", "test")
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{body}");
        let p: Value = resp.json().await.unwrap();
        assert_eq!(kind(&p), "bad-request", "{p}");
        assert!(p["detail"].is_string());
    }
    let (status, p) = api
        .post("/api/v1/login/totp", json!({"code": "123456"}))
        .await;
    assert_eq!((status, kind(&p)), (401, "sign-in-expired"));
    let (status, p) = api
        .post("/api/v1/login", json!({"email": "x", "password": "y"}))
        .await;
    assert_eq!((status, kind(&p)), (400, "invalid-email"));
}

#[tokio::test]
async fn the_api_shares_the_sign_in_throttle() {
    let app = TestApp::with_admin().await;
    let api = Api::new(&app);
    let wrong = json!({"email": ADMIN_EMAIL, "password": "wrong password"});
    for _ in 0..9 {
        assert_eq!(
            kind(&api.post("/api/v1/login", wrong.clone()).await.1),
            "wrong-credentials"
        );
    }
    let resp = api
        .client
        .post(app.url("/api/v1/login"))
        .header("x-requested-with", "test")
        .json(&wrong)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "900");
    let p: Value = resp.json().await.unwrap();
    assert_eq!(
        (kind(&p), p["retry_after"].as_i64()),
        ("throttled", Some(900))
    );
    // The pages see the same lock.
    assert_eq!(app.login(ADMIN_EMAIL, PASSWORD).await.status(), 429);
}

#[tokio::test]
async fn the_openapi_document_describes_every_endpoint() {
    let app = spawn_app().await;
    let resp = app.get("/api/v1/openapi.json").await;
    assert_eq!(resp.status(), 200);
    let doc: Value = resp.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths: Vec<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for path in [
        "/api/v1/login",
        "/api/v1/login/totp",
        "/api/v1/login/backup-code",
        "/api/v1/logout",
        "/api/v1/me",
        "/api/v1/password",
        "/api/v1/password/forgot",
        "/api/v1/password/reset",
        "/api/v1/2fa/enable",
        "/api/v1/2fa/confirm",
        "/api/v1/2fa/disable",
        "/api/v1/2fa/backup-codes",
    ] {
        assert!(paths.contains(&path), "{path} missing from {paths:?}");
    }
    assert!(doc["components"]["schemas"]["Problem"].is_object());
}
