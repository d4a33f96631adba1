//! The command line: `serve`, `migrate` and `user ...`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::auth::access::AccessRule;

#[derive(Debug, Parser)]
#[command(
    name = "nidan",
    version,
    about = "Sign-in with two-step verification for your web viewer"
)]
pub struct Cli {
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Where the data lives; accepted before or after the subcommand.
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// Directory for the SQLite database and the server key.
    #[arg(
        long,
        global = true,
        env = "NIDAN_DATA_DIR",
        default_value = "nidan-data"
    )]
    pub data_dir: PathBuf,
    /// `sqlite://PATH` (default: nidan.db in the data directory).
    #[arg(
        long,
        global = true,
        env = "NIDAN_DATABASE_URL",
        hide_env_values = true
    )]
    pub database_url: Option<String>,
    /// A TOML file whose keys are the flags of `serve` (a flag beats its variable, which beats the file).
    #[arg(long, global = true, env = "NIDAN_CONFIG")]
    pub config: Option<PathBuf>,
    /// The shortest password that set-up and `user add` / `set-password` accept, in characters (8 to 128).
    #[arg(long, global = true, env = "NIDAN_MIN_PASSWORD_LENGTH", value_name = "N", default_value_t = 12, value_parser = clap::value_parser!(u16).range(8..=128))]
    pub min_password_length: u16,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (migrates the database first).
    Serve(ServeArgs),
    /// Bring the database schema up to date and exit.
    Migrate,
    /// Write a consistent copy of the live SQLite database to FILE (PostgreSQL: use pg_dump).
    Backup { file: PathBuf },
    /// Check the configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Print the audit trail, newest first.
    Audit(AuditArgs),
    /// Manage accounts (works while the server runs).
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[arg(long, env = "NIDAN_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// The URL people open, e.g. https://login.example.home (cookies are Secure when https).
    #[arg(long, env = "NIDAN_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// A session ends after this long without a request.
    #[arg(long, env = "NIDAN_SESSION_IDLE_TIMEOUT", default_value = "12h", value_parser = humantime::parse_duration)]
    pub session_idle_timeout: Duration,
    /// A session ends this long after sign-in, however busy.
    #[arg(long, env = "NIDAN_SESSION_LIFETIME", default_value = "7days", value_parser = humantime::parse_duration)]
    pub session_lifetime: Duration,
    /// The name authenticator apps show next to the account.
    #[arg(long, env = "NIDAN_TOTP_ISSUER", default_value = "nidan")]
    pub totp_issuer: String,
    /// Database connections per instance (SQLite: readers, beside its one writer).
    #[arg(long, env = "NIDAN_DB_MAX_CONNECTIONS", default_value_t = 8)]
    pub db_max_connections: u32,
    /// Password hashes computed at once, 19 MiB each [default: one per core]. Fewer than
    /// the cores keeps pages quick during a storm of sign-ins, which then goes slower.
    #[arg(long, env = "NIDAN_HASH_CONCURRENCY", value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub hash_concurrency: Option<u16>,
    /// Domain for the session cookie, so one sign-in covers its subdomains (e.g. example.home).
    #[arg(long, env = "NIDAN_COOKIE_DOMAIN")]
    pub cookie_domain: Option<String>,
    /// After sign-in, `rd` may send people only to this host or its subdomains (repeatable).
    #[arg(
        long = "allowed-redirect-domain",
        env = "NIDAN_ALLOWED_REDIRECT_DOMAIN",
        value_delimiter = ','
    )]
    pub allowed_redirect_domains: Vec<String>,
    /// Forward-auth rule HOST[/PATH]=bypass|signed-in|two-step (repeatable; `*` is any host).
    #[arg(long = "access-rule", env = "NIDAN_ACCESS_RULE", value_delimiter = ',')]
    pub access_rules: Vec<AccessRule>,
    /// Serve an app to signed-in people: `http://ADDR` for every path that is not nidan's own,
    /// or `HOST=http://ADDR` for one host (repeatable).
    #[arg(long = "upstream", env = "NIDAN_UPSTREAM", value_delimiter = ',')]
    pub upstreams: Vec<crate::gateway::Upstream>,
    /// Every guarded app needs two-step verification; accounts without it are sent to set it up.
    #[arg(long = "require-2fa", env = "NIDAN_REQUIRE_2FA")]
    pub require_two_step: bool,
    /// Log lines as text for people or JSON for log shippers.
    #[arg(long, env = "NIDAN_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// A request's header must arrive within this; a kept-alive connection that waits this
    /// long for its next request is closed.
    #[arg(long, env = "NIDAN_HEADER_READ_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub header_read_timeout: Duration,
    /// Connections open at once; more wait until one closes.
    #[arg(long, env = "NIDAN_MAX_CONNECTIONS", default_value_t = 384, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections: u32,
    /// Connections one client address (IPv6: its /64) may hold at once; loopback and
    /// --trusted-proxy addresses are exempt.
    #[arg(long, env = "NIDAN_MAX_CONNECTIONS_PER_CLIENT", default_value_t = 96, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections_per_client: u32,
    /// On SIGTERM/SIGINT, how long requests in flight may take to finish.
    #[arg(long, env = "NIDAN_SHUTDOWN_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub shutdown_timeout: Duration,
    /// PostgreSQL: the longest one statement may run.
    #[arg(long, env = "NIDAN_DB_STATEMENT_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration)]
    pub db_statement_timeout: Duration,
    /// A reverse proxy (address or CIDR) whose X-Forwarded-For names the client (repeatable).
    #[arg(
        long = "trusted-proxy",
        env = "NIDAN_TRUSTED_PROXY",
        value_delimiter = ',',
        value_parser = parse_net
    )]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Audit events older than this are deleted.
    #[arg(long, env = "NIDAN_AUDIT_RETENTION", default_value = "180days", value_parser = humantime::parse_duration)]
    pub audit_retention: Duration,
    #[command(flatten)]
    pub mail: MailArgs,
    /// Put all of nidan's own paths (pages, static files, API, forward-auth, health, metrics)
    /// under this prefix, e.g. /.nidan, so that a catch-all --upstream gets every other path.
    #[arg(long, env = "NIDAN_PAGES_PREFIX", value_name = "PATH")]
    pub pages_prefix: Option<String>,
    /// Serve /metrics on this address only, instead of on the main listener.
    #[arg(long, env = "NIDAN_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
}

/// An address is a one-address network.
fn parse_net(value: &str) -> Result<ipnet::IpNet, String> {
    value
        .parse::<ipnet::IpNet>()
        .or_else(|_| value.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("{value:?} is not an IP address or CIDR network"))
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Only this account's events.
    #[arg(long = "user")]
    pub user: Option<String>,
    /// Only events this recent (e.g. 1h, 7days).
    #[arg(long, default_value = "7days", value_parser = humantime::parse_duration)]
    pub since: Duration,
    /// At most this many events.
    #[arg(long, default_value_t = 1000)]
    pub limit: u32,
    /// One JSON object per line.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the file, variables and flags together and print what `serve` would use
    /// (secrets masked). Takes the same flags as `serve`.
    Check(ServeArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account; the password is asked twice on the terminal (not shown).
    Add {
        email: String,
        /// Read the password from standard input instead (for scripts).
        #[arg(long)]
        password_stdin: bool,
        /// Make the account an administrator.
        #[arg(long)]
        admin: bool,
    },
    /// List accounts: email, administrator, two-step verification, locked.
    List,
    /// Set a new password (asked twice on the terminal) and end the account's sessions.
    SetPassword {
        email: String,
        /// Read the password from standard input instead (for scripts).
        #[arg(long)]
        password_stdin: bool,
    },
    /// Lift the sign-in lock after too many failed attempts.
    Unlock { email: String },
    /// Delete an account and its sessions.
    Delete { email: String },
    /// Turn off two-step verification (lost phone, no backup code) and end every session.
    #[command(name = "reset-2fa")]
    Reset2fa { email: String },
    /// Invite someone: prints a link (valid 7 days, once) where they choose their own
    /// password; emails it too when SMTP is set. Inviting the address again replaces the link.
    Invite(InviteArgs),
    /// List invitations: email, administrator, until when the link works.
    Invites,
    /// Revoke the invitation of an address: its link stops working.
    RevokeInvite { email: String },
}

/// `user invite`: the address, and what the link and its email need (the keys of the same
/// name in the configuration file apply too).
#[derive(Debug, Args)]
pub struct InviteArgs {
    pub email: String,
    /// Make the account an administrator.
    #[arg(long)]
    pub admin: bool,
    /// The address people open nidan at; the link starts with it.
    #[arg(long, env = "NIDAN_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// nidan's paths prefix, when `serve` has one (e.g. /.nidan).
    #[arg(long, env = "NIDAN_PAGES_PREFIX", value_name = "PATH")]
    pub pages_prefix: Option<String>,
    #[command(flatten)]
    pub mail: MailArgs,
}

/// Where nidan's emails go (security notices, links), for `serve` and `user invite`.
#[derive(Debug, Args)]
pub struct MailArgs {
    /// Emails through this server: smtp://HOST:PORT, smtp://USER:PASS@HOST?tls=required,
    /// smtps://...
    #[arg(long, env = "NIDAN_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// The sender of those emails.
    #[arg(
        long,
        env = "NIDAN_SMTP_FROM",
        default_value = "nidan <nidan@localhost>"
    )]
    pub smtp_from: String,
}

/// Variables renamed to match their flags (`--upstream` ↔ `NIDAN_UPSTREAM`): the old name
/// is still read, so that a deployment that sets it keeps its rules.
pub const RENAMED_VARIABLES: [(&str, &str); 4] = [
    (
        "NIDAN_ALLOWED_REDIRECT_DOMAINS",
        "NIDAN_ALLOWED_REDIRECT_DOMAIN",
    ),
    ("NIDAN_ACCESS_RULES", "NIDAN_ACCESS_RULE"),
    ("NIDAN_UPSTREAMS", "NIDAN_UPSTREAM"),
    ("NIDAN_TRUSTED_PROXIES", "NIDAN_TRUSTED_PROXY"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn every_variable_is_its_flag_in_capitals() {
        let cli = Cli::command();
        let serve = cli.find_subcommand("serve").unwrap();
        let mut checked = 0;
        for arg in cli.get_arguments().chain(serve.get_arguments()) {
            let (Some(long), Some(env)) = (arg.get_long(), arg.get_env()) else {
                continue;
            };
            let expected = format!("NIDAN_{}", long.to_uppercase().replace('-', "_"));
            assert_eq!(env.to_str(), Some(expected.as_str()), "--{long}");
            checked += 1;
        }
        assert!(checked > 20, "{checked}");
    }

    #[test]
    fn store_flags_go_before_or_after_the_subcommand() {
        let after = Cli::try_parse_from(["nidan", "user", "list", "--data-dir", "/d"]).unwrap();
        let before = Cli::try_parse_from(["nidan", "--data-dir", "/d", "user", "list"]).unwrap();
        assert_eq!(after.store.data_dir, PathBuf::from("/d"));
        assert_eq!(before.store.data_dir, PathBuf::from("/d"));
    }

    #[test]
    fn durations_parse_in_human_form() {
        let cli = Cli::try_parse_from(["nidan", "serve", "--session-idle-timeout", "30m"]).unwrap();
        let Command::Serve(args) = cli.command else {
            panic!("serve expected")
        };
        assert_eq!(args.session_idle_timeout, Duration::from_secs(1800));
        assert_eq!(args.session_lifetime, Duration::from_secs(7 * 86400));
    }
}
