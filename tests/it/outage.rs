//! The database goes away and comes back: pages answer 503 meanwhile (never a half-done
//! change), /readyz says so, and the instance recovers by itself. Always on PostgreSQL,
//! behind a proxy that the test cuts and restores.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use crate::common::*;

/// Forwards 127.0.0.1:port to PostgreSQL until cut; restores on the same port.
struct Cable {
    port: u16,
    upstream: SocketAddr,
    tasks: Option<JoinSet<()>>,
}

impl Cable {
    async fn connect(upstream: SocketAddr) -> Cable {
        let port = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut cable = Cable {
            port,
            upstream,
            tasks: None,
        };
        cable.restore().await;
        cable
    }

    async fn restore(&mut self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).await.unwrap();
        let upstream = self.upstream;
        let mut tasks = JoinSet::new();
        tasks.spawn(async move {
            let mut links = JoinSet::new();
            while let Ok((mut client, _)) = listener.accept().await {
                links.spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
        self.tasks = Some(tasks);
    }

    /// Closes the listener and every open connection (dropping the JoinSets aborts them).
    fn cut(&mut self) {
        self.tasks = None;
    }
}

#[tokio::test]
async fn database_outage_gives_503_and_the_instance_recovers_alone() {
    let db = TestDb::postgres().await;
    let upstream: SocketAddr = "127.0.0.1:5432".parse().unwrap();
    let mut cable = Cable::connect(upstream).await;
    let name = db.url.rsplit('/').next().unwrap().to_owned();
    let through_cable = format!("postgres://postgres@127.0.0.1:{}/{name}", cable.port);
    let dir = tempfile::tempdir().unwrap();
    let data = AppData { dir, db };
    let app = spawn_in(data, |d| {
        let mut c = config(d);
        c.database_url = Some(through_cable.clone());
        c
    })
    .await;
    let out = app.cli(
        &["user", "add", ADMIN_EMAIL, "--password-stdin"],
        Some(PASSWORD),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_is_redirect_to(&app.login(ADMIN_EMAIL, PASSWORD).await, "/");

    let session = app.client.get(app.url("/api/v1/me")).send().await.unwrap();
    assert_eq!(session.status(), 200);

    cable.cut();
    // Every 503 says when to come back: readiness, the API, forward-auth, the pages.
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 503);
    assert_eq!(ready.headers()["retry-after"], "5");
    let me = app.get("/api/v1/me").await;
    assert_eq!(me.status(), 503);
    assert_eq!(me.headers()["retry-after"], "5");
    // A session the short-lived cache does not hold, so that the check needs the database.
    let check = client()
        .get(app.url("/auth/verify"))
        .header("x-original-url", "http://cam.example.home/live")
        .header("cookie", format!("nidan_session={}", "A".repeat(43)))
        .send()
        .await
        .unwrap();
    assert_eq!(check.status(), 503);
    assert_eq!(check.headers()["retry-after"], "5");
    let resp = app.get("/mypage").await;
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers()["retry-after"], "5");
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("ただいまサービスを利用できません")
    );
    // A sign-in attempt during the outage changes nothing and says so.
    let resp = client().get(app.url("/login")).send().await.unwrap();
    assert_eq!(
        resp.status(),
        200,
        "the sign-in page itself needs no database"
    );

    cable.restore().await;
    let mut ready = false;
    for _ in 0..50 {
        if app.get("/readyz").await.status() == 200 {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "ready again without a restart");
    assert_eq!(
        app.get("/mypage").await.status(),
        200,
        "the session survived the outage"
    );
}
