use crate::common::*;

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let app = TestApp::with_admin().await;
    app.login(ADMIN_EMAIL, PASSWORD).await;
    for path in [
        "/login",
        "/",
        "/mypage",
        "/no-such-page",
        "/static/style.css",
    ] {
        let resp = app.get(path).await;
        let h = resp.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
            "{path}"
        );
        assert!(!csp.contains("script-src"), "no script may run: {path}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
    }
    assert_eq!(
        app.get("/mypage").await.headers()["cache-control"],
        "no-store"
    );
    assert_eq!(
        app.get("/static/style.css").await.headers()["content-type"],
        "text/css; charset=utf-8"
    );
}

#[tokio::test]
async fn bad_requests_get_a_clear_status_never_a_server_error() {
    let app = TestApp::with_admin().await;
    let (_, page) = app.get_html("/login").await;
    let token = csrf_token(&page).unwrap();

    // Oversized body.
    let big = "a".repeat(20 * 1024);
    let resp = app
        .client
        .post(app.url("/login"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("email", big.as_str()),
            ("password", "x"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);

    // Over-long fields within the body limit: a message, not a crash.
    let long_email = format!("{}@example.jp", "a".repeat(300));
    let long_password = "p".repeat(5000);
    let resp = app
        .client
        .post(app.url("/login"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("email", long_email.as_str()),
            ("password", "x"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let resp = app
        .client
        .post(app.url("/login"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("email", ADMIN_EMAIL),
            ("password", long_password.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);

    // Invalid UTF-8 and missing fields.
    let body = format!("csrf_token={token}&email=%FF%FE&password=%C3%28");
    let resp = app
        .client
        .post(app.url("/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_client_error(), "{}", resp.status());
    let resp = app
        .client
        .post(app.url("/login"))
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);

    // A body that is not a form at all.
    let resp = app
        .client
        .post(app.url("/login"))
        .header("content-type", "application/json")
        .body(format!("csrf_token={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);

    // Wrong method, unknown path.
    let resp = app.client.put(app.url("/login")).send().await.unwrap();
    assert!(
        resp.status() == 405 || resp.status() == 403,
        "{}",
        resp.status()
    );
    let resp = app.client.delete(app.url("/mypage")).send().await.unwrap();
    assert!(
        resp.status() == 405 || resp.status() == 403,
        "{}",
        resp.status()
    );
    let resp = app.get("/no-such-page").await;
    assert_eq!(resp.status(), 404);
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("ページが見つかりません")
    );

    assert_is_redirect_to(&app.login(ADMIN_EMAIL, PASSWORD).await, "/");
}
