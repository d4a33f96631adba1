//! The database goes away and comes back: pages answer 503 meanwhile (never a half-done
//! change), /readyz says so, and the instance recovers by itself. Always on PostgreSQL,
//! behind a proxy that the test cuts and restores.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use crate::common::*;

/// Forwards 127.0.0.1:port to PostgreSQL until cut; restores on the same port. While
/// partitioned it keeps every connection and accepts new ones, and drops every byte both
/// ways: the far end answers nothing, and nothing closes.
struct Cable {
    port: u16,
    upstream: SocketAddr,
    tasks: Option<JoinSet<()>>,
    partitioned: tokio::sync::watch::Sender<bool>,
}

/// Copies `from` to `to`, or drops what comes while `partitioned` says so.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    partitioned: tokio::sync::watch::Receiver<bool>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if !*partitioned.borrow() && to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
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
            partitioned: tokio::sync::watch::channel(false).0,
        };
        cable.restore().await;
        cable
    }

    async fn restore(&mut self) {
        self.partitioned.send_replace(false);
        if self.tasks.is_some() {
            return;
        }
        let listener = TcpListener::bind(("127.0.0.1", self.port)).await.unwrap();
        let upstream = self.upstream;
        let partitioned = self.partitioned.subscribe();
        let mut tasks = JoinSet::new();
        tasks.spawn(async move {
            let mut links = JoinSet::new();
            while let Ok((client, _)) = listener.accept().await {
                let partitioned = partitioned.clone();
                links.spawn(async move {
                    let Ok(server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let (client_in, client_out) = client.into_split();
                    let (server_in, server_out) = server.into_split();
                    tokio::join!(
                        pump(client_in, server_out, partitioned.clone()),
                        pump(server_in, client_out, partitioned),
                    );
                });
            }
        });
        self.tasks = Some(tasks);
    }

    /// Closes the listener and every open connection (dropping the JoinSets aborts them).
    fn cut(&mut self) {
        self.tasks = None;
    }

    /// Everything stays open and nothing gets through.
    fn partition(&mut self) {
        self.partitioned.send_replace(true);
    }
}

/// nidan on a fresh PostgreSQL database reached through a cable, with an account whose
/// browser (the app's client) is signed in.
async fn signed_in_through_a_cable() -> (TestApp, Cable) {
    let db = TestDb::postgres().await;
    let upstream: SocketAddr = "127.0.0.1:5432".parse().unwrap();
    let cable = Cable::connect(upstream).await;
    let name = db.url.rsplit('/').next().unwrap().to_owned();
    let through_cable = format!("postgres://postgres@127.0.0.1:{}/{name}", cable.port);
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_in(AppData { dir, db }, |d| {
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
    (app, cable)
}

#[tokio::test]
async fn database_outage_gives_503_and_the_instance_recovers_alone() {
    let (app, mut cable) = signed_in_through_a_cable().await;

    let session = app.client.get(app.url("/api/v1/me")).send().await.unwrap();
    assert_eq!(session.status(), 200);

    cable.cut();
    // A stopped server: once the probe has seen it (half a second), requests answer at once
    // instead of retrying a connection until the pool's timeout.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, _, took) = timed(
        app.client.get(app.url("/api/v1/me")),
        Duration::from_secs(6),
    )
    .await;
    assert_eq!(status, 503);
    assert!(took < Duration::from_millis(500), "{took:?}");
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
    assert!(app.ready_within(50).await, "ready again without a restart");
    assert_eq!(
        app.get("/mypage").await.status(),
        200,
        "the session survived the outage"
    );
}

/// How long `request` takes, bounded by `limit`.
async fn timed(
    request: reqwest::RequestBuilder,
    limit: Duration,
) -> (reqwest::StatusCode, reqwest::header::HeaderMap, Duration) {
    let started = std::time::Instant::now();
    let resp = tokio::time::timeout(limit, request.send())
        .await
        .unwrap_or_else(|_| panic!("no answer within {limit:?}"))
        .unwrap();
    (resp.status(), resp.headers().clone(), started.elapsed())
}

#[tokio::test]
async fn through_a_partition_readiness_answers_within_a_second_and_requests_fail_fast() {
    let (app, mut cable) = signed_in_through_a_cable().await;

    cable.partition();
    // A load balancer's probe with a short timeout gets its answer.
    let (status, headers, took) =
        timed(app.client.get(app.url("/readyz")), Duration::from_secs(2)).await;
    assert_eq!(status, 503);
    assert_eq!(headers["retry-after"], "5");
    assert!(took < Duration::from_millis(1500), "{took:?}");
    // Once the probe has seen it (within 1.5 s), requests fail at once.
    tokio::time::sleep(Duration::from_millis(1600)).await;
    for _ in 0..3 {
        let api = app
            .client
            .post(app.url("/api/v1/login"))
            .header("x-requested-with", "test")
            .json(&serde_json::json!({"email": ADMIN_EMAIL, "password": PASSWORD}));
        let (status, headers, took) = timed(api, Duration::from_secs(2)).await;
        assert_eq!(status, 503);
        assert_eq!(headers["retry-after"], "5");
        assert!(took < Duration::from_millis(500), "{took:?}");
        let check = client()
            .get(app.url("/auth/verify"))
            .header("x-original-url", "http://cam.example.home/live")
            .header("cookie", format!("nidan_session={}", "B".repeat(43)));
        let (status, _, took) = timed(check, Duration::from_secs(2)).await;
        assert_eq!(status, 503);
        assert!(took < Duration::from_millis(500), "{took:?}");
    }

    cable.restore().await;
    assert!(
        app.ready_within(30).await,
        "ready again within 3 s of the partition healing"
    );
    assert_eq!(
        app.get("/mypage").await.status(),
        200,
        "the session survived"
    );
}
