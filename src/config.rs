//! One `Config` for the server, built from flags and `NIDAN_*` variables by `cli`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::SecretString;

use crate::auth::AuthPolicy;
use crate::auth::access::AccessRules;
use crate::store::DbSettings;

#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// `None`: SQLite in the data directory.
    pub database_url: Option<String>,
    /// The address people use (e.g. `https://login.example.home`); cookies are
    /// `Secure` when it is https. `None`: `http://<listen address>`.
    pub public_url: Option<String>,
    /// From `NIDAN_SECRET_KEY`; `None`: the key file in the data directory.
    pub secret_key: Option<SecretString>,
    pub policy: AuthPolicy,
    pub db: DbSettings,
    /// Domain attribute of the session cookie, so one sign-in covers `*.example.home`.
    pub cookie_domain: Option<String>,
    /// Hosts (and their subdomains) that `rd` may send people back to after sign-in.
    pub allowed_redirect_domains: Vec<String>,
    /// Forward-auth rules (also for the built-in proxy).
    pub access: AccessRules,
    /// Apps that the built-in proxy serves to signed-in people.
    pub upstreams: Vec<crate::gateway::Upstream>,
    pub request_timeout: Duration,
    /// Header-read deadline and the cap on open connections.
    pub connections: crate::listener::ConnectionLimits,
    /// Reverse proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Audit events older than this are deleted in the background.
    pub audit_retention: Duration,
    /// How often the background pruning runs.
    pub prune_interval: Duration,
    /// Security notices by email; off when `None`.
    pub smtp_url: Option<SecretString>,
    pub smtp_from: String,
    /// Serve `/metrics` here instead of on the main listener.
    pub metrics_listen: Option<SocketAddr>,
}

impl Config {
    /// Defaults for everything but the data directory.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: data_dir.into(),
            database_url: None,
            public_url: None,
            secret_key: None,
            policy: AuthPolicy::default(),
            db: DbSettings::default(),
            cookie_domain: None,
            allowed_redirect_domains: Vec::new(),
            access: AccessRules::default(),
            upstreams: Vec::new(),
            request_timeout: Duration::from_secs(30),
            connections: crate::listener::ConnectionLimits::default(),
            trusted_proxies: Vec::new(),
            audit_retention: Duration::from_secs(180 * 86400),
            prune_interval: Duration::from_secs(3600),
            smtp_url: None,
            smtp_from: "nidan <nidan@localhost>".to_owned(),
            metrics_listen: None,
        }
    }

    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| default_database_url(&self.data_dir))
    }
}

pub fn default_database_url(data_dir: &Path) -> String {
    format!("sqlite://{}", data_dir.join("nidan.db").display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_in_the_data_dir_by_default() {
        let config = Config::new("/var/lib/nidan");
        assert_eq!(config.database_url(), "sqlite:///var/lib/nidan/nidan.db");
        let relative = Config::new("nidan-data");
        assert_eq!(relative.database_url(), "sqlite://nidan-data/nidan.db");
    }
}
