//! Builds the state and the router, binds the listener and serves.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

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
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(
        "no nidan database at {0}: give the --data-dir (or --database-url) of an installation, or start one with `nidan migrate`"
    )]
    NoDatabase(std::path::PathBuf),
    #[error(
        "no server key at {0} and no NIDAN_SECRET_KEY: restore the key that belongs to this database (a new one cannot read it)"
    )]
    NoKey(std::path::PathBuf),
    #[error(transparent)]
    Mail(#[from] crate::mail::MailSetupError),
}

pub struct App;

/// A server serving in a background task.
pub struct RunningApp {
    pub addr: SocketAddr,
    pub public_url: String,
    /// The first-start link, when no account exists yet.
    pub setup_url: Option<String>,
    /// Where `/metrics` is served when it has its own listener.
    pub metrics_addr: Option<SocketAddr>,
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
    background: Vec<JoinHandle<()>>,
    open: crate::listener::OpenConnections,
}

/// Whether a command may start a new installation (`serve`, `migrate`) or works on an
/// existing one only (every other command): run in the wrong directory, or against a restored
/// database without its key, it must change nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Installation {
    CreateIfMissing,
    Existing,
}

/// Data directory, server key, database (migrated, key checked): what `serve` and the
/// CLI's commands both start from.
pub async fn prepare(
    config: &Config,
    clock: Arc<dyn Clock>,
    installation: Installation,
) -> Result<(AuthService, ServerKey), AppError> {
    if installation == Installation::Existing {
        check_existing(config)?;
    }
    create_data_dir(&config.data_dir)?;
    let key = ServerKey::load(
        config.secret_key.as_ref().map(|s| s.expose_secret()),
        &config.data_dir,
    )?;
    let store = store::open(&config.database_url(), &config.db).await?;
    store.check_key_fingerprint(&key.fingerprint()).await?;
    let mut auth = AuthService::new(store, clock, config.policy.clone(), &key);
    if let Some(url) = &config.smtp_url {
        let mailer = crate::mail::SmtpNotifier::new(url.expose_secret(), &config.smtp_from)?;
        auth = auth.with_notifier(Arc::new(mailer));
    }
    Ok((auth, key))
}

impl App {
    /// Prepares everything, binds `config.listen` (port 0 picks a free one) and serves.
    pub async fn spawn(config: Config, clock: Arc<dyn Clock>) -> Result<RunningApp, AppError> {
        config.check()?;
        let (auth, key) = prepare(&config, clock, Installation::CreateIfMissing).await?;
        let setup_token = auth.prepare_setup().await?;

        let (listener, addr) = bind(config.listen).await?;
        let metrics_listener = match config.metrics_listen {
            Some(at) => Some(bind(at).await?),
            None => None,
        };
        let public_url = match &config.public_url {
            Some(url) if url.starts_with("http://") || url.starts_with("https://") => {
                url.trim_end_matches('/').to_owned()
            }
            Some(url) => {
                return Err(crate::config::ConfigError::PublicUrlScheme(url.clone()).into());
            }
            None => format!("http://{addr}"),
        };
        let prefix = config.pages_prefix.as_str();
        let setup_url = setup_token.map(|t| format!("{public_url}{prefix}/setup/{t}"));
        let auth = auth.with_link_base(&format!("{public_url}{prefix}"));

        let settings = web::WebSettings {
            public_url: public_url.clone(),
            cookie_domain: config.cookie_domain.clone(),
            allowed_redirect_domains: config.allowed_redirect_domains.clone(),
            access: config.access.clone(),
            app_at_root: config.upstreams.iter().any(|u| u.host.is_none()),
            trusted_proxies: config.trusted_proxies.clone(),
            metrics_on_main_listener: metrics_listener.is_none(),
            pages_prefix: config.pages_prefix.as_str().into(),
        };
        let closer = auth.clone();
        let mut background = vec![tokio::spawn(prune_forever(
            auth.clone(),
            config.audit_retention,
            config.prune_interval,
        ))];
        let metrics_addr = metrics_listener.as_ref().map(|(_, a)| *a);
        if let Some((listener, _)) = metrics_listener {
            let router = web::metrics_router(auth.clone());
            background.push(tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, router).await {
                    tracing::error!(error = %e, "the metrics listener stopped");
                }
            }));
        }
        let state = web::WebState::new(auth, &key, settings);
        let gateway = (!config.upstreams.is_empty())
            .then(|| Arc::new(crate::gateway::Gateway::new(config.upstreams.clone())));
        if let Some(gateway) = &gateway {
            background.push(tokio::spawn(crate::gateway::watch_open_streams(
                gateway.open_streams().clone(),
                state.auth().clone(),
                config.stream_check_interval,
            )));
        }
        let router = web::router(
            state,
            api::router(),
            api::forward_auth_router(),
            config.request_timeout,
            |routes, state, own| match &gateway {
                Some(gateway) => gateway.in_front_of(routes, state, own),
                None => routes,
            },
        );
        let (shutdown, on_shutdown) = oneshot::channel::<()>();
        let mut limits = config.connections.clone();
        limits.exempt.extend(config.trusted_proxies.iter().copied());
        if let Some((soft, _)) = crate::fd_limit::current() {
            let per_connection = if config.upstreams.is_empty() { 1 } else { 2 };
            let db = config.db.connections_for(&config.database_url()) as usize;
            let fit = crate::fd_limit::connections_within(soft, db, per_connection);
            if fit < limits.max_connections {
                tracing::warn!(
                    open_file_limit = soft,
                    max_connections = fit,
                    "the open-file limit allows only this many connections (the rest of it is kept for the database); raise it (LimitNOFILE) to serve more"
                );
                limits.max_connections = fit;
            }
        }
        let open = crate::listener::OpenConnections::default();
        let open_to_serve = open.clone();
        let task = tokio::spawn(async move {
            crate::listener::serve(listener, router, limits, open_to_serve, async {
                let _ = on_shutdown.await;
            })
            .await;
            closer.close().await;
            Ok(())
        });
        Ok(RunningApp {
            addr,
            public_url,
            setup_url,
            metrics_addr,
            shutdown,
            task,
            background,
            open,
        })
    }
}

impl RunningApp {
    /// Connections still open: during a shutdown, the requests (streams, tunnels) that
    /// are still running.
    pub fn open_connections(&self) -> crate::listener::OpenConnections {
        self.open.clone()
    }

    /// Stops accepting, lets requests in flight finish, closes the pool, and returns.
    pub async fn stop(self) -> std::io::Result<()> {
        for task in &self.background {
            task.abort();
        }
        let _ = self.shutdown.send(());
        self.task.await.unwrap_or(Ok(()))
    }
}

async fn bind(addr: SocketAddr) -> Result<(TcpListener, SocketAddr), AppError> {
    let err = |source| AppError::Bind { addr, source };
    let listener = TcpListener::bind(addr).await.map_err(err)?;
    let bound = listener.local_addr().map_err(err)?;
    Ok((listener, bound))
}

/// Old audit events, ended sessions and expired sign-ins go, at start and then regularly.
async fn prune_forever(auth: AuthService, retention: Duration, every: Duration) {
    let retention = i64::try_from(retention.as_secs()).unwrap_or(i64::MAX);
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match auth.prune(retention).await {
            Ok(p) if p.events + p.devices + p.sessions + p.links > 0 => {
                tracing::info!(
                    events = p.events,
                    devices = p.devices,
                    sessions = p.sessions,
                    links = p.links,
                    "pruned old audit events, unused devices, ended sessions, expired links and invitations"
                );
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "pruning failed; will try again"),
        }
    }
}

/// The database and its key are there: nothing is created in their place.
fn check_existing(config: &Config) -> Result<(), AppError> {
    let url = config.database_url();
    if let Some(rest) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    {
        let file = std::path::Path::new(rest.split('?').next().unwrap_or(rest));
        if !file.exists() {
            return Err(AppError::NoDatabase(file.to_owned()));
        }
    } else if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(StoreError::UnsupportedUrl(url).into());
    }
    let key = config.data_dir.join(crate::crypto::KEY_FILE_NAME);
    if config.secret_key.is_none() && !key.exists() {
        return Err(AppError::NoKey(key));
    }
    Ok(())
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
