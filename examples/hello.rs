//! The load scripts' baseline: the barest axum server, on the same runtime and HTTP stack
//! as nidan. `hello [ADDR]` prints `listening on http://ADDR` and answers `GET /` with "hello"
//! and `GET /auth/verify` with an empty 200 (the bare auth route behind nginx).

use axum::Router;
use axum::routing::get;

#[tokio::main]
async fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".to_owned());
    let listener = tokio::net::TcpListener::bind(&addr).await.expect("bind");
    println!(
        "listening on http://{}",
        listener.local_addr().expect("address")
    );
    let app = Router::new()
        .route("/", get(|| async { "hello" }))
        .route("/auth/verify", get(|| async {}));
    axum::serve(listener, app).await.expect("serve");
}
