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
    /// How often the built-in proxy asks whether the sessions of its open streams and
    /// WebSocket tunnels still hold (a stream ends within this and the session cache's 1 s).
    pub stream_check_interval: Duration,
    /// Security notices by email; off when `None`.
    pub smtp_url: Option<SecretString>,
    pub smtp_from: String,
    /// Serve `/metrics` here instead of on the main listener.
    pub metrics_listen: Option<SocketAddr>,
    /// "" or e.g. `/.nidan`: where all of nidan's own paths live.
    pub pages_prefix: String,
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
            stream_check_interval: Duration::from_secs(2),
            smtp_url: None,
            smtp_from: "nidan <nidan@localhost>".to_owned(),
            metrics_listen: None,
            pages_prefix: String::new(),
        }
    }

    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| default_database_url(&self.data_dir))
    }
}

/// A configuration that cannot work, said in one line with the flag to set.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("public-url {0:?} must start with http:// or https://")]
    PublicUrlScheme(String),
    #[error(
        "--listen {0} without --public-url: the setup link and the way back after sign-in would name {0}; set --public-url to the address people open"
    )]
    UnspecifiedListen(SocketAddr),
    #[error(
        "--cookie-domain {domain} does not cover the public URL's host {host}: browsers would refuse the session cookie; set --cookie-domain to a domain {host} is under"
    )]
    CookieDomainMissesPublicUrl { domain: String, host: String },
    #[error(
        "--upstream {upstream} is on another host than the public URL ({host}): the session cookie set there never reaches {upstream}, and people would go round between sign-in and the app; set --cookie-domain to a domain both are under"
    )]
    UpstreamOutsideCookie { upstream: String, host: String },
    #[error("--pages-prefix {0}")]
    PagesPrefix(String),
}

fn under(host: &str, domain: &str) -> bool {
    let domain = domain.trim_start_matches('.').to_ascii_lowercase();
    host == domain || host.ends_with(&format!(".{domain}"))
}

impl Config {
    /// Refuses what cannot work, before anything starts (`serve` and `config check` alike).
    pub fn check(&self) -> Result<(), ConfigError> {
        if !self.pages_prefix.is_empty() {
            crate::web::paths::check_prefix(&self.pages_prefix)
                .map_err(ConfigError::PagesPrefix)?;
        }
        let public_host = match &self.public_url {
            Some(url) => {
                let rest = url
                    .strip_prefix("https://")
                    .or_else(|| url.strip_prefix("http://"))
                    .ok_or_else(|| ConfigError::PublicUrlScheme(url.clone()))?;
                let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
                crate::auth::target::normalise_host(authority)
                    .map_err(|_| ConfigError::PublicUrlScheme(url.clone()))?
            }
            None if self.listen.ip().is_unspecified() => {
                return Err(ConfigError::UnspecifiedListen(self.listen));
            }
            None => self.listen.ip().to_string(),
        };
        if let Some(domain) = &self.cookie_domain
            && !under(&public_host, domain)
        {
            return Err(ConfigError::CookieDomainMissesPublicUrl {
                domain: domain.clone(),
                host: public_host,
            });
        }
        for upstream in &self.upstreams {
            let Some(host) = &upstream.host else { continue };
            let covered = match &self.cookie_domain {
                Some(domain) => under(host, domain),
                None => *host == public_host,
            };
            if !covered {
                return Err(ConfigError::UpstreamOutsideCookie {
                    upstream: host.clone(),
                    host: public_host,
                });
            }
        }
        Ok(())
    }
}

impl Config {
    /// What works but is likely not what the operator wants, one line each; `own_paths`
    /// lists the paths nidan's router answers.
    pub fn warnings(&self, own_paths: &str) -> Vec<String> {
        let catch_all = self.upstreams.iter().any(|u| u.host.is_none());
        if catch_all && self.pages_prefix.is_empty() {
            vec![format!(
                "a catch-all --upstream gets every path but those nidan answers ({own_paths}): the app cannot use those; set --pages-prefix /.nidan to move nidan's under one prefix"
            )]
        } else {
            Vec::new()
        }
    }
}

pub fn default_database_url(data_dir: &Path) -> String {
    format!("sqlite://{}", data_dir.join("nidan.db").display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configurations_that_cannot_work_are_refused() {
        let mut c = Config::new("/d");
        assert_eq!(c.check(), Ok(()));
        c.listen = "0.0.0.0:8080".parse().unwrap();
        assert!(matches!(c.check(), Err(ConfigError::UnspecifiedListen(_))));
        c.public_url = Some("https://login.example.home".into());
        assert_eq!(c.check(), Ok(()));
        c.upstreams = vec!["cam.example.home=http://127.0.0.1:5000".parse().unwrap()];
        assert!(matches!(
            c.check(),
            Err(ConfigError::UpstreamOutsideCookie { .. })
        ));
        c.cookie_domain = Some("example.home".into());
        assert_eq!(c.check(), Ok(()));
        c.cookie_domain = Some("other.home".into());
        assert!(matches!(
            c.check(),
            Err(ConfigError::CookieDomainMissesPublicUrl { .. })
        ));
        c.cookie_domain = Some("login.example.home".into());
        assert!(matches!(
            c.check(),
            Err(ConfigError::UpstreamOutsideCookie { .. })
        ));
        c.public_url = Some("ftp://x".into());
        assert!(matches!(c.check(), Err(ConfigError::PublicUrlScheme(_))));
        let mut same = Config::new("/d");
        same.public_url = Some("https://cam.example.home".into());
        same.upstreams = vec!["cam.example.home=http://127.0.0.1:5000".parse().unwrap()];
        assert_eq!(same.check(), Ok(()), "one host needs no cookie domain");
    }

    #[test]
    fn sqlite_in_the_data_dir_by_default() {
        let config = Config::new("/var/lib/nidan");
        assert_eq!(config.database_url(), "sqlite:///var/lib/nidan/nidan.db");
        let relative = Config::new("nidan-data");
        assert_eq!(relative.database_url(), "sqlite://nidan-data/nidan.db");
    }
}
