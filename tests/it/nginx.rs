//! Debian's nginx with docs/proxy/nginx.conf in front of a small viewer: signed-out requests go
//! to sign-in, the person signs in with password and code and comes back, the viewer sees
//! Remote-User, and rd cannot be bent to another site.

use std::net::SocketAddr;
use std::process::{Child, Command};
// One process (master_process off), so that killing it leaves nothing behind.
use std::time::Duration;

use axum::Router;
use axum::http::HeaderMap;
use axum::routing::get;

use crate::common::*;

struct Nginx {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The documented site, pointed at this test's nidan and viewer, run in a private prefix.
async fn start_nginx(nidan: &str, viewer: SocketAddr) -> (Nginx, String) {
    let port = free_port();
    let site = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/proxy/nginx.conf"
    ))
    .unwrap()
    .replace("https://login.example.home", nidan)
    .replace("127.0.0.1:8080", nidan.trim_start_matches("http://"))
    .replace("127.0.0.1:5000", &viewer.to_string())
    .replace("listen 80;", &format!("listen 127.0.0.1:{port};"))
    // The documented file names its own site; here the site is this port.
    .replace(
        "$scheme://$server_name",
        &format!("http://127.0.0.1:{port}"),
    );
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().display();
    std::fs::write(dir.path().join("site.conf"), site).unwrap();
    std::fs::write(
        dir.path().join("nginx.conf"),
        format!(
            "master_process off; pid {p}/nginx.pid; error_log {p}/error.log;\n\
             events {{ worker_connections 64; }}\n\
             http {{ access_log off; client_body_temp_path {p}/body; proxy_temp_path {p}/proxy;\n\
             fastcgi_temp_path {p}/fastcgi; uwsgi_temp_path {p}/uwsgi; scgi_temp_path {p}/scgi;\n\
             include {p}/site.conf; }}\n"
        ),
    )
    .unwrap();
    let child = Command::new("nginx")
        .args([
            "-p",
            &p.to_string(),
            "-c",
            &format!("{p}/nginx.conf"),
            "-g",
            "daemon off;",
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("nginx (Debian package nginx) is installed");
    let nginx = Nginx { child, _dir: dir };
    let base = format!("http://127.0.0.1:{port}");
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return (nginx, base);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let log = std::fs::read_to_string(nginx._dir.path().join("error.log")).unwrap_or_default();
    panic!("nginx did not start: {log}");
}

/// The guarded app: says whom nginx said the person is.
async fn start_viewer() -> SocketAddr {
    let app = Router::new().fallback(get(|headers: HeaderMap| async move {
        let user = headers
            .get("remote-user")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-");
        format!("viewer for {user}")
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

#[tokio::test]
async fn sign_in_through_nginx_with_password_and_code() {
    let app = TestApp::with_admin_in(|d| {
        let mut c = config(d);
        c.allowed_redirect_domains = vec!["127.0.0.1".into()];
        c
    })
    .await;
    let enrolled = app.sign_in_and_enable_2fa().await;
    let viewer = start_viewer().await;
    let (_nginx, cam) = start_nginx(&app.base, viewer).await;

    // Signed out: nginx sends the browser to nidan's sign-in, with the whole way back
    // (nidan encodes it: nginx cannot, and a raw `&` would cut the query short).
    let browser = client();
    let back = format!("{cam}/live?x=1&y=2");
    let resp = browser.get(&back).send().await.unwrap();
    assert_eq!(resp.status(), 302);
    let to_login = location(resp.headers()).to_owned();
    let encoded = percent_encoding::utf8_percent_encode(&back, percent_encoding::NON_ALPHANUMERIC);
    assert_eq!(to_login, format!("{}/login?rd={encoded}", app.base));

    // Password, then the code, then back to the viewer.
    let resp = post_form(
        &browser,
        &to_login,
        &app.url("/login"),
        &[
            ("email", ADMIN_EMAIL),
            ("password", PASSWORD),
            ("rd", &back),
        ],
    )
    .await;
    assert_is_redirect_to(&resp, "/login/2fa");
    app.clock.advance(30);
    let resp = app
        .send_code(&browser, "/login/2fa", &app.code_now(&enrolled.secret))
        .await;
    assert_is_redirect_to(&resp, &back);
    let resp = browser.get(format!("{cam}/live")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.text().await.unwrap(),
        format!("viewer for {ADMIN_EMAIL}")
    );

    // Signing out at nidan closes the viewer again.
    post_form(&browser, &app.url("/mypage"), &app.url("/logout"), &[]).await;
    assert_eq!(
        browser
            .get(format!("{cam}/live"))
            .send()
            .await
            .unwrap()
            .status(),
        302
    );

    // rd bent to another site leads home instead.
    let other = client();
    let evil = "https://evil.example/";
    let resp = post_form(
        &other,
        &app.url(&format!("/login?rd={evil}")),
        &app.url("/login"),
        &[("email", ADMIN_EMAIL), ("password", PASSWORD), ("rd", evil)],
    )
    .await;
    assert_is_redirect_to(&resp, "/login/2fa");
    app.clock.advance(30);
    let resp = app
        .send_code(&other, "/login/2fa", &app.code_now(&enrolled.secret))
        .await;
    assert_is_redirect_to(&resp, "/");
}

#[tokio::test]
async fn forged_headers_paths_and_cookies_do_not_get_through_nginx() {
    let (app, viewer) = crate::guard::app_for_a_proxy().await;
    let (_nginx, cam) = start_nginx(&app.base, viewer).await;
    crate::guard::attack_through_proxy(&app, cam.trim_start_matches("http://"), &app.base).await;
}
