//! Builds the state and the router, binds the listener and serves.

use std::net::SocketAddr;
use std::sync::Arc;

use secrecy::ExposeSecret;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::auth::{AuthError, AuthService};
use crate::clock::Clock;
use crate::config::Config;
use crate::crypto::{KeyError, ServerKey};
use crate::store::{self, StoreError};
use crate::{api, web};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("invalid public URL {0:?}: it must start with http:// or https://")]
    PublicUrl(String),
}

pub struct App;

/// A server serving in a background task.
pub struct RunningApp {
    pub addr: SocketAddr,
    pub public_url: String,
    /// The first-start link, when no account exists yet.
    pub setup_url: Option<String>,
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

/// Data directory, server key, database (migrated, key checked): what `serve` and the
/// CLI's commands both start from.
pub async fn prepare(
    config: &Config,
    clock: Arc<dyn Clock>,
) -> Result<(AuthService, ServerKey), AppError> {
    create_data_dir(&config.data_dir)?;
    let key = ServerKey::load(
        config.secret_key.as_ref().map(|s| s.expose_secret()),
        &config.data_dir,
    )?;
    let store = store::open(&config.database_url(), &config.db).await?;
    store.check_key_fingerprint(&key.fingerprint()).await?;
    let auth = AuthService::new(store, clock, config.policy.clone(), &key);
    Ok((auth, key))
}

impl App {
    /// Prepares everything, binds `config.listen` (port 0 picks a free one) and serves.
    pub async fn spawn(config: Config, clock: Arc<dyn Clock>) -> Result<RunningApp, AppError> {
        let (auth, key) = prepare(&config, clock).await?;
        let setup_token = auth.prepare_setup().await?;

        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|source| AppError::Bind {
                addr: config.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| AppError::Bind {
            addr: config.listen,
            source,
        })?;
        let public_url = match &config.public_url {
            Some(url) if url.starts_with("http://") || url.starts_with("https://") => {
                url.trim_end_matches('/').to_owned()
            }
            Some(url) => return Err(AppError::PublicUrl(url.clone())),
            None => format!("http://{addr}"),
        };
        let setup_url = setup_token.map(|t| format!("{public_url}/setup/{t}"));

        let settings = web::WebSettings {
            public_url: public_url.clone(),
            cookie_domain: config.cookie_domain.clone(),
            allowed_redirect_domains: config.allowed_redirect_domains.clone(),
            access: config.access.clone(),
            upstreams: config.upstreams.clone(),
        };
        let closer = auth.clone();
        let state = web::WebState::new(auth, &key, settings);
        let router = web::router(state, api::router(), config.request_timeout);
        let (shutdown, on_shutdown) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let served = axum::serve(
                listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(async {
                let _ = on_shutdown.await;
            })
            .await;
            closer.close().await;
            served
        });
        Ok(RunningApp {
            addr,
            public_url,
            setup_url,
            shutdown,
            task,
        })
    }
}

impl RunningApp {
    /// Stops accepting, lets requests in flight finish, closes the pool, and returns.
    pub async fn stop(self) -> std::io::Result<()> {
        let _ = self.shutdown.send(());
        self.task.await.unwrap_or(Ok(()))
    }
}

pub fn create_data_dir(path: &std::path::Path) -> Result<(), AppError> {
    let err = |source| AppError::DataDir {
        path: path.to_owned(),
        source,
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(path)
            .map_err(err)
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(path).map_err(err)
}
