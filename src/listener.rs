//! The HTTP/1.1 listener. hyper with a timer, so that a request's header must arrive within
//! `header_read_timeout` (the same deadline closes a kept-alive connection that waits that
//! long for its next request), and at most `max_connections` open at once: beyond that, new
//! connections wait in the kernel's backlog until one closes; one client address may hold at
//! most `max_per_client` of them. Graceful shutdown: stop
//! accepting, let every connection finish the request it is serving, then return.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tower::ServiceExt;

#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    pub header_read_timeout: Duration,
    pub max_connections: usize,
    /// Connections one client address (IPv6: its /64) may hold at once, so that one client
    /// cannot take every slot (slow uploads, idle tunnels). Not applied to `exempt`.
    pub max_per_client: usize,
    /// Loopback and the reverse proxies in front of nidan: every client arrives through
    /// them, and they limit their clients themselves.
    pub exempt: Vec<ipnet::IpNet>,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            // Under the usual limit of 1,024 open files even when every connection also holds
            // one to an app behind the built-in proxy, with room left for the database.
            max_connections: 384,
            max_per_client: 96,
            exempt: ["127.0.0.0/8", "::1/128"]
                .iter()
                .filter_map(|net| net.parse().ok())
                .collect(),
        }
    }
}

/// What a connection holds while it is open, handed to the requests it carries so that a
/// connection upgraded into a tunnel (WebSocket) keeps holding it: its slot among
/// `max_connections`, its client's count, and the signal to stop at shutdown.
#[derive(Clone)]
pub struct ConnectionSlot {
    _held: Arc<(OwnedSemaphorePermit, Option<ClientCount>, Open)>,
    stopping: watch::Receiver<()>,
}

impl ConnectionSlot {
    /// Resolves when the server shuts down.
    pub async fn stopping(mut self) {
        let _ = self.stopping.changed().await;
    }
}

/// One client's open connections; the count goes down when this is dropped.
struct ClientCount {
    client: IpAddr,
    counts: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl ClientCount {
    fn take(
        counts: &Arc<Mutex<HashMap<IpAddr, usize>>>,
        client: IpAddr,
        max: usize,
    ) -> Option<Self> {
        let mut map = counts.lock().unwrap_or_else(|e| e.into_inner());
        let count = map.entry(client).or_insert(0);
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(Self {
            client,
            counts: counts.clone(),
        })
    }
}

impl Drop for ClientCount {
    fn drop(&mut self) {
        let mut map = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = map.get_mut(&self.client) {
            *count -= 1;
            if *count == 0 {
                map.remove(&self.client);
            }
        }
    }
}

/// How many connections are open (each serving a request, a stream or a tunnel, or
/// waiting for the next request): what a shutdown deadline would cut.
#[derive(Clone, Default)]
pub struct OpenConnections {
    count: Arc<std::sync::atomic::AtomicUsize>,
}

impl OpenConnections {
    pub fn count(&self) -> usize {
        self.count.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// One open connection, counted until dropped.
struct Open(Arc<std::sync::atomic::AtomicUsize>);

impl Open {
    fn new(count: &Arc<std::sync::atomic::AtomicUsize>) -> Self {
        count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Self(count.clone())
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    open: OpenConnections,
    shutdown: impl Future<Output = ()>,
) {
    let max = limits.max_connections.clamp(1, 1_000_000) as u32;
    let slots = Arc::new(Semaphore::new(max as usize));
    let (stop, stopping) = watch::channel(());
    let clients = Arc::new(Mutex::new(HashMap::new()));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    tokio::pin!(shutdown);
    let mut last_said = None;
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors or the like: wait instead of spinning, and say so
                    // once in a while rather than ten times a second.
                    if last_said.is_none_or(|at: std::time::Instant| at.elapsed() >= Duration::from_secs(10)) {
                        tracing::warn!(error = %e, "accept failed (said at most every 10 s)");
                        last_said = Some(std::time::Instant::now());
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Dual-stack listeners see IPv4 clients as ::ffff:a.b.c.d: one spelling per client,
        // for the exemptions, the counts and everything downstream (trusted proxies).
        let peer = std::net::SocketAddr::new(peer.ip().to_canonical(), peer.port());
        let client = (!limits.exempt.iter().any(|net| net.contains(&peer.ip())))
            .then(|| crate::auth::client::subscriber(peer.ip()));
        let count = match client {
            Some(client) => match ClientCount::take(&clients, client, limits.max_per_client) {
                Some(count) => Some(count),
                // Closed at once: the client holds its share already.
                None => continue,
            },
            None => None,
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let held = ConnectionSlot {
            _held: Arc::new((slot, count, Open::new(&open.count))),
            stopping: stopping.clone(),
        };
        let for_requests = held.clone();
        let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            req.extensions_mut().insert(for_requests.clone());
            let response = router.clone().oneshot(req.map(Body::new));
            async move { Ok::<_, Infallible>(response.await.unwrap_or_else(|e| match e {})) }
        });
        let connection = http
            .serve_connection(TokioIo::new(stream), service)
            .with_upgrades();
        let mut stopping = stopping.clone();
        tokio::spawn(async move {
            let mut connection = std::pin::pin!(connection);
            // Timeouts and clients that go away end here; there is nothing to answer.
            tokio::select! {
                _ = connection.as_mut() => {}
                _ = stopping.changed() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
            drop(held);
        });
    }
    drop(listener);
    let _ = stop.send(());
    // Every connection (and every tunnel it became) holds a slot until it is done: all of
    // them back means all done. Tunnels end when they see `stop`.
    let _ = slots.acquire_many(max).await;
}
