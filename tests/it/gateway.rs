//! The built-in proxy: plain HTTP, a stream passed on as it comes, and a WebSocket echo.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::WebSocketUpgrade;
use axum::extract::ws::Message;
use axum::http::HeaderMap;
use axum::routing::get;
use futures_util::{SinkExt, StreamExt};
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::common::*;

/// The guarded app. `/stream` sends one chunk, then waits for `go` before the last.
async fn start_upstream(go: Arc<Notify>) -> SocketAddr {
    let echo_headers = |headers: HeaderMap| async move {
        let h = |n: &str| {
            headers
                .get(n)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-")
                .to_owned()
        };
        format!("user={} cookies={}", h("remote-user"), h("cookie"))
    };
    let app = Router::new()
        .route("/", get(echo_headers))
        .route("/hello", get(echo_headers))
        .route(
            "/plant",
            get(|| async {
                (
                    axum::response::AppendHeaders([
                        (
                            "set-cookie",
                            "nidan_device=PLANTEDPLANTEDPLANTEDPLANTEDPLANTEDPLANTED123; Path=/",
                        ),
                        ("set-cookie", "NIDAN_session=x; Path=/"),
                        // An empty name: browsers send this back as `nidan_session=S`.
                        ("set-cookie", "=nidan_session=S; Path=/"),
                        ("set-cookie", "theme=dark; Path=/"),
                    ]),
                    "planted",
                )
            }),
        )
        .route(
            "/stream",
            get(move || {
                let go = go.clone();
                async move {
                    let chunks = futures_util::stream::unfold(0, move |i| {
                        let go = go.clone();
                        async move {
                            match i {
                                0 => Some((Ok::<_, std::io::Error>("first;"), 1)),
                                1 => {
                                    go.notified().await;
                                    Some((Ok("last"), 2))
                                }
                                _ => None,
                            }
                        }
                    });
                    Body::from_stream(chunks)
                }
            }),
        )
        // A camera's live view: a frame every 100 ms, for ever.
        .route(
            "/live",
            get(|| async {
                let frames = futures_util::stream::unfold((), |()| async {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    Some((Ok::<_, std::io::Error>("frame;"), ()))
                });
                Body::from_stream(frames)
            }),
        )
        .route(
            "/ws",
            get(|ws: WebSocketUpgrade| async move {
                ws.on_upgrade(|mut socket| async move {
                    while let Some(Ok(Message::Text(t))) = socket.recv().await {
                        if socket
                            .send(Message::Text(format!("echo {t}").into()))
                            .await
                            .is_err()
                        {
                            break;
                        }
                    }
                })
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

#[tokio::test]
async fn signed_in_people_reach_the_app_through_nidan() {
    let go = Arc::new(Notify::new());
    let upstream = start_upstream(go.clone()).await;
    let app = TestApp::with_admin_in(move |d| {
        let mut c = config(d);
        c.upstreams = vec![format!("http://{upstream}").parse().unwrap()];
        c
    })
    .await;

    // Signed out: to sign-in, and back afterwards.
    assert_is_redirect_to(&app.get("/hello").await, "/login?next=%2Fhello");
    let resp = app.login(ADMIN_EMAIL, PASSWORD).await;
    let session = session_pair(&resp);

    // The app sees who it is, and never nidan's session cookie.
    let resp = client()
        .get(app.url("/hello"))
        .header("cookie", format!("theme=dark; {session}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body = resp.text().await.unwrap();
    assert!(
        body.starts_with(&format!("user={ADMIN_EMAIL} cookies=")),
        "{body}"
    );
    assert!(
        body.contains("theme=dark") && !body.contains("nidan_session"),
        "{body}"
    );
    // `/` is the app's now; nidan keeps its own pages.
    assert!(
        app.get("/")
            .await
            .text()
            .await
            .unwrap()
            .starts_with("user=")
    );
    let (status, my) = app.get_html("/mypage").await;
    assert_eq!(
        (status.as_u16(), text(&my, "h1")),
        (200, "マイページ".to_owned())
    );

    // A stream is passed on as it comes: the first chunk arrives before the app sends the last.
    let mut stream = app.get("/stream").await;
    let first = tokio::time::timeout(Duration::from_secs(5), stream.chunk())
        .await
        .expect("first chunk before the end: not buffered")
        .unwrap()
        .unwrap();
    assert_eq!(&first[..], b"first;");
    go.notify_one();
    assert_eq!(&stream.chunk().await.unwrap().unwrap()[..], b"last");

    // A WebSocket goes through, for the signed-in only.
    let ws_url = format!("ws://{}/ws", app.base.trim_start_matches("http://"));
    let mut request = ws_url.as_str().into_client_request().unwrap();
    request
        .headers_mut()
        .insert("cookie", session.parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("upgrade through nidan");
    socket
        .send(tokio_tungstenite::tungstenite::Message::text("ping"))
        .await
        .unwrap();
    let reply = tokio::time::timeout(Duration::from_secs(5), socket.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(reply.into_text().unwrap().as_str(), "echo ping");
    let refused = tokio_tungstenite::connect_async(ws_url.as_str()).await;
    assert!(refused.is_err(), "no upgrade without a session");
}

#[tokio::test]
async fn a_host_upstream_sends_strangers_to_sign_in_with_the_way_back() {
    let upstream = start_upstream(Arc::new(Notify::new())).await;
    let app = spawn_in(AppData::new().await, move |d| {
        let mut c = config(d);
        c.public_url = Some("http://login.example.home".into());
        c.cookie_domain = Some("example.home".into());
        c.upstreams = vec![
            format!("cam.example.home=http://{upstream}")
                .parse()
                .unwrap(),
        ];
        c
    })
    .await;
    let resp = app
        .client
        .get(app.url("/live?cam=1"))
        .header("host", "cam.example.home")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    assert_eq!(
        location(resp.headers()),
        "http://login.example.home/login?rd=http%3A%2F%2Fcam.example.home%2Flive%3Fcam%3D1"
    );
    // Other hosts are nidan's own.
    assert_eq!(app.get("/login").await.status(), 200);
}

#[tokio::test]
async fn the_app_cannot_set_nidans_cookies() {
    let upstream = start_upstream(Arc::new(Notify::new())).await;
    let app = TestApp::with_admin_in(move |d| {
        let mut c = config(d);
        c.upstreams = vec![format!("http://{upstream}").parse().unwrap()];
        c.access.rules = vec!["*/plant=bypass".parse().unwrap()];
        c
    })
    .await;
    let resp = client().get(app.url("/plant")).send().await.unwrap();
    let set: Vec<&str> = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(set, ["theme=dark; Path=/"]);
}

#[tokio::test]
async fn websocket_tunnels_count_against_the_connection_limit() {
    let upstream = start_upstream(Arc::new(Notify::new())).await;
    let app = TestApp::with_admin_in(move |d| {
        let mut c = config(d);
        c.upstreams = vec![format!("http://{upstream}").parse().unwrap()];
        c.connections.max_connections = 6;
        c.connections.header_read_timeout = Duration::from_secs(60);
        c
    })
    .await;
    let session = session_pair(&app.login(ADMIN_EMAIL, PASSWORD).await);
    let ws_url = format!("ws://{}/ws", app.base.trim_start_matches("http://"));
    let open = || async {
        let mut request = ws_url.as_str().into_client_request().unwrap();
        request
            .headers_mut()
            .insert("cookie", session.parse().unwrap());
        tokio::time::timeout(
            Duration::from_secs(2),
            tokio_tungstenite::connect_async(request),
        )
        .await
    };
    // Tunnels until one cannot get a connection: never more than the limit.
    let mut tunnels = Vec::new();
    for _ in 0..12 {
        match open().await {
            Ok(Ok((socket, _))) => tunnels.push(socket),
            _ => break,
        }
    }
    assert!(
        (1..=6).contains(&tunnels.len()),
        "{} tunnels open under a limit of 6 connections",
        tunnels.len()
    );
    // Closed tunnels give their connections back.
    drop(tunnels);
    let resp = tokio::time::timeout(
        Duration::from_secs(10),
        client().get(app.url("/healthz")).send(),
    )
    .await
    .expect("served once the tunnels closed")
    .unwrap();
    assert_eq!(resp.status(), 200);
}

/// A new browser signed in with the password; the browser and its session cookie.
async fn signed_in_browser(app: &TestApp) -> (reqwest::Client, String) {
    let browser = client();
    let resp = app.login_in(&browser).await;
    assert_is_redirect_to(&resp, "/");
    let session = session_pair(&resp);
    (browser, session)
}

/// The live view at `url`, once its first frame has come.
async fn open_live_view(browser: &reqwest::Client, url: String) -> reqwest::Response {
    let mut live = browser.get(url).send().await.unwrap();
    assert_eq!(live.status(), 200);
    let first = tokio::time::timeout(Duration::from_secs(5), live.chunk()).await;
    assert!(matches!(first, Ok(Ok(Some(_)))), "{first:?}");
    live
}

/// How a live view ends within `limit`: "cut" (the connection broke off), "ended" (a
/// clean end, which a cut must not look like), or "still open".
async fn how_it_ends(live: &mut reqwest::Response, limit: Duration) -> &'static str {
    let ended = tokio::time::timeout(limit, async {
        loop {
            match live.chunk().await {
                Ok(Some(_)) => continue,
                Ok(None) => return "ended",
                Err(_) => return "cut",
            }
        }
    })
    .await;
    ended.unwrap_or("still open")
}

async fn open_websocket(
    base: &str,
    session: &str,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let ws_url = format!("ws://{}/ws", base.trim_start_matches("http://"));
    let mut request = ws_url.as_str().into_client_request().unwrap();
    request
        .headers_mut()
        .insert("cookie", session.parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    socket
        .send(tokio_tungstenite::tungstenite::Message::text("ping"))
        .await
        .unwrap();
    let reply = tokio::time::timeout(Duration::from_secs(5), socket.next()).await;
    assert!(matches!(reply, Ok(Some(Ok(_)))), "{reply:?}");
    socket
}

#[tokio::test]
async fn open_streams_and_websockets_end_with_their_session_on_every_instance() {
    let upstream = start_upstream(Arc::new(Notify::new())).await;
    let with_upstream = move |d: &AppData| {
        let mut c = config(d);
        c.upstreams = vec![format!("http://{upstream}").parse().unwrap()];
        c
    };
    let app = TestApp::with_admin_in(with_upstream).await;
    let other = app.another_instance(with_upstream).await;
    let limit = Duration::from_secs(5);

    // Three browsers of one account, watching through both instances.
    let (leaving, leaving_session) = signed_in_browser(&app).await;
    let (staying, staying_session) = signed_in_browser(&app).await;
    let mut here = open_live_view(&leaving, app.url("/live")).await;
    let mut there = open_live_view(&leaving, other.url("/live")).await;
    let mut socket_there = open_websocket(&other.base, &leaving_session).await;
    let mut staying_view = open_live_view(&staying, other.url("/live")).await;

    // Sign-out on this instance ends that browser's view here and there, and its WebSocket
    // on the other instance; the other browser keeps watching.
    let resp = post_form(&leaving, &app.url("/mypage"), &app.url("/logout"), &[]).await;
    assert_is_redirect_to(&resp, "/login?signed_out=1");
    // The other instance's copy of the session lives 1 s by the (shared) clock.
    app.clock.advance(1);
    let (here_ends, there_ends, socket_ends) = tokio::join!(
        how_it_ends(&mut here, limit),
        how_it_ends(&mut there, limit),
        tokio::time::timeout(limit, async {
            loop {
                match socket_there.next().await {
                    Some(Ok(tokio_tungstenite::tungstenite::Message::Close(_)))
                    | None
                    | Some(Err(_)) => return,
                    Some(Ok(_)) => continue,
                }
            }
        }),
    );
    assert_eq!((here_ends, there_ends), ("cut", "cut"));
    assert!(socket_ends.is_ok(), "the WebSocket outlived its session");
    assert_eq!(
        how_it_ends(&mut staying_view, Duration::from_millis(500)).await,
        "still open"
    );

    // A password change from the command line ends every session, and with them the rest.
    let out = app.cli(
        &["user", "set-password", ADMIN_EMAIL, "--password-stdin"],
        Some("a new long password"),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    app.clock.advance(1);
    assert_eq!(how_it_ends(&mut staying_view, limit).await, "cut");
    // And the ended session opens nothing new.
    let again = client()
        .get(other.url("/live"))
        .header("cookie", &staying_session)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 303);
    other.stop().await;
}

#[tokio::test]
async fn an_upload_through_the_proxy_is_cut_when_its_session_ends() {
    // The app reads an upload (a camera's talk-back audio, a file) and says when it stopped.
    let (stopped_tx, stopped) = tokio::sync::oneshot::channel::<&'static str>();
    let stopped_tx = Arc::new(std::sync::Mutex::new(Some(stopped_tx)));
    let app = Router::new().route(
        "/upload",
        axum::routing::post(move |body: Body| {
            let stopped_tx = stopped_tx.clone();
            async move {
                let mut stream = body.into_data_stream();
                let how = loop {
                    match stream.next().await {
                        Some(Ok(_)) => continue,
                        Some(Err(_)) => break "cut",
                        None => break "ended",
                    }
                };
                if let Some(tx) = stopped_tx.lock().unwrap().take() {
                    let _ = tx.send(how);
                }
                "done"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let app = TestApp::with_admin_in(move |d| {
        let mut c = config(d);
        c.upstreams = vec![format!("http://{upstream}").parse().unwrap()];
        c
    })
    .await;
    let (browser, session) = signed_in_browser(&app).await;

    // A chunk every 100 ms, for ever.
    let chunks = futures_util::stream::unfold((), |()| async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        Some((Ok::<_, std::io::Error>(vec![0u8; 512]), ()))
    });
    let upload = tokio::spawn(
        client()
            .post(app.url("/upload"))
            .header("cookie", &session)
            .body(reqwest::Body::wrap_stream(chunks))
            .send(),
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let resp = post_form(&browser, &app.url("/mypage"), &app.url("/logout"), &[]).await;
    assert_is_redirect_to(&resp, "/login?signed_out=1");
    let how = tokio::time::timeout(Duration::from_secs(5), stopped)
        .await
        .expect("the upload was still flowing 5 s after sign-out")
        .unwrap();
    assert_eq!(how, "cut");
    upload.abort();
}
