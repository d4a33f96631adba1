//! Debian's Caddy with docs/proxy/Caddyfile as written (ports aside) in front of a viewer:
//! the same attacks as through nginx.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Caddy {
    child: Child,
    dir: tempfile::TempDir,
}

impl Drop for Caddy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The documented site on a free port; tried again on another when the port was taken
/// between choosing it and Caddy binding it (other tests bind ports too).
async fn start_caddy(nidan: &str, viewer: SocketAddr) -> (Caddy, String) {
    for _ in 0..5 {
        if let Some(started) = try_caddy(nidan, viewer).await {
            return started;
        }
    }
    panic!("caddy could not bind a port");
}

async fn try_caddy(nidan: &str, viewer: SocketAddr) -> Option<(Caddy, String)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let site =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/proxy/Caddyfile"))
            .unwrap()
            .replace(
                "cam.example.home {",
                &format!("http://cam.example.home:{port} {{"),
            )
            .replace("127.0.0.1:8080", nidan.trim_start_matches("http://"))
            .replace("127.0.0.1:5000", &viewer.to_string());
    // No admin endpoint on :2019 in a test.
    let site = format!("{{\n\tadmin off\n}}\n{site}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("Caddyfile");
    std::fs::write(&file, site).unwrap();
    let child = Command::new("caddy")
        .args(["run", "--adapter", "caddyfile", "--config"])
        .arg(&file)
        .env("HOME", dir.path())
        .env("XDG_DATA_HOME", dir.path())
        .env("XDG_CONFIG_HOME", dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("caddy.log")).unwrap())
        .spawn()
        .expect("caddy (Debian package caddy) is installed");
    let mut caddy = Caddy { child, dir };
    let log_file = caddy.dir.path().join("caddy.log");
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            // Someone answers; make sure it is this Caddy (a taken port makes it stop).
            tokio::time::sleep(Duration::from_millis(200)).await;
            if caddy.child.try_wait().unwrap().is_none() {
                return Some((caddy, format!("127.0.0.1:{port}")));
            }
        }
        if caddy.child.try_wait().unwrap().is_some() {
            let log = std::fs::read_to_string(&log_file).unwrap_or_default();
            if log.contains("address already in use") {
                return None;
            }
            panic!("caddy stopped: {log}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let log = std::fs::read_to_string(caddy.dir.path().join("caddy.log")).unwrap_or_default();
    panic!("caddy did not start: {log}");
}

#[tokio::test]
async fn forged_headers_paths_and_cookies_do_not_get_through_caddy() {
    let (app, viewer) = crate::guard::app_for_a_proxy().await;
    let (_caddy, cam) = start_caddy(&app.base, viewer).await;
    crate::guard::attack_through_proxy(&app, &cam, &app.base).await;

    // Signing in through the viewer's host brings the person back to what they asked for.
    let (status, head, _) = crate::guard::raw_full(&cam, "/live?cam=2", &[]).await;
    assert_eq!(status, 302);
    let to = crate::guard::raw_location(&head);
    assert_eq!(
        to,
        format!(
            "{}/login?rd=http%3A%2F%2Fcam%2Eexample%2Ehome%2Flive%3Fcam%3D2",
            app.base
        )
    );
}
