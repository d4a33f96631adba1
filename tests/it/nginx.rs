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
    /// The self-signed certificate for both names, as PEM.
    certificate: String,
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

/// How the documented file runs here: as written, TLS and all (ports and certificate paths
/// aside; both names resolve to 127.0.0.1 in the client), or with TLS taken off the viewer's
/// server for the raw attack set, which speaks plain HTTP.
#[derive(PartialEq)]
enum Run {
    AsWritten,
    PlainViewer,
}

/// The documented site, pointed at this test's nidan and viewer, run in a private prefix.
/// Returns nginx and the viewer's base URL, or `None` when a port was taken between
/// choosing it and nginx binding it (other tests bind ports too): choose again.
async fn start_nginx(
    nidan: &str,
    viewer: SocketAddr,
    run: Run,
    ports: (u16, u16),
) -> Option<(Nginx, String)> {
    let (tls, plain) = ports;
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().display();
    let certified =
        rcgen::generate_simple_self_signed(vec![LOGIN_HOST.into(), CAM_HOST.into()]).unwrap();
    std::fs::write(dir.path().join("tls.crt"), certified.cert.pem()).unwrap();
    std::fs::write(
        dir.path().join("tls.key"),
        certified.signing_key.serialize_pem(),
    )
    .unwrap();
    let mut site = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/proxy/nginx.conf"
    ))
    .unwrap()
    .replace("/etc/nginx/tls/example.home.crt", &format!("{p}/tls.crt"))
    .replace("/etc/nginx/tls/example.home.key", &format!("{p}/tls.key"))
    .replace("127.0.0.1:8080", nidan.trim_start_matches("http://"))
    .replace("127.0.0.1:5000", &viewer.to_string())
    .replace("listen 80;", &format!("listen 127.0.0.1:{plain};"));
    let base = if run == Run::AsWritten {
        site = site
            .replace("listen 443 ssl", &format!("listen 127.0.0.1:{tls} ssl"))
            // As the file says to do on another port than 443.
            .replace(
                "$server_name$request_uri",
                &format!("$server_name:{tls}$request_uri"),
            );
        format!("https://{CAM_HOST}:{tls}")
    } else {
        site = site
            .replace("listen 443 ssl;", &format!("listen 127.0.0.1:{tls};"))
            .replace(
                "listen 443 ssl default_server;",
                &format!("listen 127.0.0.1:{tls} default_server;"),
            );
        format!("http://127.0.0.1:{tls}")
    };
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
    let mut nginx = Nginx {
        child,
        _dir: dir,
        certificate: certified.cert.pem(),
    };
    // nginx writes its pid file once every port is bound: only then is a connection to the
    // port surely one to this nginx (a taken port makes it log and retry, then exit).
    let pid_file = nginx._dir.path().join("nginx.pid");
    let log_file = nginx._dir.path().join("error.log");
    let pid = nginx.child.id().to_string();
    for _ in 0..100 {
        let log = std::fs::read_to_string(&log_file).unwrap_or_default();
        if log.contains("bind()") {
            return None;
        }
        if std::fs::read_to_string(&pid_file).is_ok_and(|p| p.trim() == pid) {
            return Some((nginx, base));
        }
        if let Some(exit) = nginx.child.try_wait().unwrap() {
            panic!("nginx stopped ({exit}): {log}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let log = std::fs::read_to_string(log_file).unwrap_or_default();
    panic!("nginx did not start: {log}");
}

const LOGIN_HOST: &str = "login.example.home";
const CAM_HOST: &str = "cam.example.home";

/// A browser that trusts this nginx's certificate and finds both names on 127.0.0.1.
fn browser_for(nginx: &Nginx, tls: u16) -> reqwest::Client {
    let here = SocketAddr::from(([127, 0, 0, 1], tls));
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .add_root_certificate(reqwest::Certificate::from_pem(nginx.certificate.as_bytes()).unwrap())
        .resolve(LOGIN_HOST, here)
        .resolve(CAM_HOST, here)
        .build()
        .unwrap()
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
async fn sign_in_through_nginx_with_tls_password_and_code() {
    let viewer = start_viewer().await;
    let mut started = None;
    for _ in 0..5 {
        let ports = (free_port(), free_port());
        let login = format!("https://{LOGIN_HOST}:{}", ports.0);
        let app = TestApp::with_admin_in(|d| {
            let mut c = config(d);
            // As the file's comment says to start nidan.
            c.public_url = Some(login.clone());
            c.cookie_domain = Some("example.home".into());
            c.allowed_redirect_domains = vec!["example.home".into()];
            c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
            c
        })
        .await;
        if let Some((nginx, cam)) = start_nginx(&app.base, viewer, Run::AsWritten, ports).await {
            started = Some((ports, login, app, nginx, cam));
            break;
        }
    }
    let (ports, login, app, nginx, cam) = started.expect("nginx bound its ports");
    let browser = browser_for(&nginx, ports.0);
    let at = |path: &str| format!("{login}{path}");

    // nidan's pages over TLS on the login host, with HSTS; plain HTTP is sent to HTTPS.
    let resp = browser.get(at("/login")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["strict-transport-security"],
        "max-age=31536000"
    );
    let plain = format!("http://{LOGIN_HOST}:{}/login?x=1", ports.1);
    let resp = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .resolve(LOGIN_HOST, SocketAddr::from(([127, 0, 0, 1], ports.1)))
        .build()
        .unwrap()
        .get(plain)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 301);
    assert_eq!(
        location(resp.headers()),
        format!("https://{LOGIN_HOST}/login?x=1")
    );

    // A name this nginx does not serve gets no TLS handshake at all.
    let other = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(nginx.certificate.as_bytes()).unwrap())
        .resolve(
            "other.example.home",
            SocketAddr::from(([127, 0, 0, 1], ports.0)),
        )
        .build()
        .unwrap();
    let refused = other
        .get(format!("https://other.example.home:{}/", ports.0))
        .send()
        .await;
    assert!(refused.is_err(), "{refused:?}");

    // Two-step verification turned on through the login host, as on マイページ.
    let resp = post_form(
        &browser,
        &at("/login"),
        &at("/login"),
        &[("email", ADMIN_EMAIL), ("password", PASSWORD)],
    )
    .await;
    assert_is_redirect_to(&resp, "/");
    let setup = at("/mypage/2fa/setup");
    let page = setup_key_page(&browser, &setup).await;
    let secret = nidan::otp::secret_from_base32(&text(&page, "#totp-key")).unwrap();
    let resp = post_form(
        &browser,
        &setup,
        &setup,
        &[("step", "code"), ("code", &app.code_now(&secret))],
    )
    .await;
    assert_eq!(resp.status(), 200);
    post_form(&browser, &at("/mypage"), &at("/logout"), &[]).await;

    // Signed out: nginx sends the browser to nidan's sign-in, with the whole way back
    // (nidan encodes it: nginx cannot, and a raw `&` would cut the query short).
    let back = format!("{cam}/live?x=1&y=2");
    let resp = browser.get(&back).send().await.unwrap();
    assert_eq!(resp.status(), 302);
    let to_login = location(resp.headers()).to_owned();
    let encoded = percent_encoding::utf8_percent_encode(&back, percent_encoding::NON_ALPHANUMERIC);
    assert_eq!(to_login, format!("{login}/login?rd={encoded}"));

    // Password, then the code, then back to the viewer.
    let resp = post_form(
        &browser,
        &to_login,
        &at("/login"),
        &[
            ("email", ADMIN_EMAIL),
            ("password", PASSWORD),
            ("rd", &back),
        ],
    )
    .await;
    assert_is_redirect_to(&resp, "/login/2fa");
    app.clock.advance(30);
    let code = app.code_now(&secret);
    let resp = post_form(
        &browser,
        &at("/login"),
        &at("/login/2fa"),
        &[("code", &code)],
    )
    .await;
    assert_is_redirect_to(&resp, &back);
    let resp = browser.get(format!("{cam}/live")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["strict-transport-security"],
        "max-age=31536000"
    );
    assert_eq!(
        resp.text().await.unwrap(),
        format!("viewer for {ADMIN_EMAIL}")
    );

    // Signing out at nidan closes the viewer again.
    post_form(&browser, &at("/mypage"), &at("/logout"), &[]).await;
    let resp = browser.get(format!("{cam}/live")).send().await.unwrap();
    assert_eq!(resp.status(), 302);

    // rd bent to another site leads home instead.
    let evil = "https://evil.example/";
    let resp = post_form(
        &browser,
        &at(&format!("/login?rd={evil}")),
        &at("/login"),
        &[("email", ADMIN_EMAIL), ("password", PASSWORD), ("rd", evil)],
    )
    .await;
    assert_is_redirect_to(&resp, "/login/2fa");
    app.clock.advance(30);
    let code = app.code_now(&secret);
    let resp = post_form(
        &browser,
        &at("/login"),
        &at("/login/2fa"),
        &[("code", &code)],
    )
    .await;
    assert_is_redirect_to(&resp, "/");
}

#[tokio::test]
async fn forged_headers_paths_and_cookies_do_not_get_through_nginx() {
    let (app, viewer) = crate::guard::app_for_a_proxy().await;
    let mut started = None;
    for _ in 0..5 {
        let ports = (free_port(), free_port());
        started = start_nginx(&app.base, viewer, Run::PlainViewer, ports).await;
        if started.is_some() {
            break;
        }
    }
    let (_nginx, cam) = started.expect("nginx bound its ports");
    crate::guard::attack_through_proxy(&app, cam.trim_start_matches("http://"), &app.base).await;
}
