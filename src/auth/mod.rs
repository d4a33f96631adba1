//! The use-cases. Every security decision is made here; `web` and the CLI only translate.

pub mod access;
mod accounts;
pub mod audit;
pub mod client;
mod code_again;
mod email;
mod email_change;
mod error;
mod invitations;
mod login;
pub mod notify;
mod own_account;
mod password_policy;
mod password_reset;
pub mod redirect;
mod session;
mod session_cache;
mod setup;
pub mod target;
mod throttle;
mod two_step;

use std::sync::Arc;

use crate::clock::Clock;
use crate::crypto::{PasswordHasher, Sealer, ServerKey};
use crate::store::{Store, ThrottleRule};

pub use accounts::UserSummary;
pub use audit::{EventDetail, EventKind, SessionView};
pub use client::Client;
pub use email::normalise_email;
pub use email_change::{EMAIL_CHANGE_LIFETIME_SECS, EmailChangeSent, EmailChangeView};
pub use error::AuthError;
pub use invitations::{INVITATION_LIFETIME_SECS, Invited};
pub use login::{LoginAttempt, LoginOutcome};
pub use notify::{Notice, Notifier};
pub use password_policy::{
    DEFAULT_MIN_PASSWORD_CHARS, LOWEST_MIN_PASSWORD_CHARS, MAX_PASSWORD_CHARS,
};
pub use password_reset::{RESET_LIFETIME_SECS, ResetView};
pub use session::{NewSession, SignedIn};
pub use two_step::{
    PENDING_LIFETIME_SECS, PENDING_MAX_FAILURES, SecondFactor, SecondStepDone, TotpSetup,
    TwoStepStatus,
};

use two_step::TwoStepKeys;

pub type AuthResult<T> = Result<T, AuthError>;

/// Tunables of the policy; defaults follow the issue and NIST SP 800-63B.
#[derive(Debug, Clone)]
pub struct AuthPolicy {
    /// Seconds without a request after which a session ends.
    pub session_idle_timeout: i64,
    /// Seconds after sign-in after which a session ends, however busy.
    pub session_lifetime: i64,
    /// Failed sign-ins per email address.
    pub account_throttle: ThrottleRule,
    /// Failed sign-ins per client address (looser: many people may share one).
    pub ip_throttle: ThrottleRule,
    /// Wrong second-step codes per account, across all its pending sign-ins.
    pub second_step_throttle: ThrottleRule,
    /// The issuer name authenticator apps show next to the account.
    pub totp_issuer: String,
    /// How long a session read from the database is trusted without asking again: the
    /// longest a session ended on another instance (or by the CLI) keeps working here.
    pub session_cache_ttl: std::time::Duration,
    /// Password hashes computed at once (19 MiB each); `None` is one per core.
    pub hash_concurrency: Option<usize>,
    /// The shortest new password, in characters (never below `LOWEST_MIN_PASSWORD_CHARS`).
    pub min_password_chars: usize,
    /// A forgotten-password request's lookup and mail wait a random time up to this: the
    /// extra work for an address with an account must not show in the requests after it.
    pub reset_mail_delay: std::time::Duration,
}

impl Default for AuthPolicy {
    fn default() -> Self {
        Self {
            session_idle_timeout: 12 * 3600,
            session_lifetime: 7 * 24 * 3600,
            account_throttle: ThrottleRule {
                limit: 10,
                window: 15 * 60,
                lock_for: 15 * 60,
            },
            ip_throttle: ThrottleRule {
                limit: 50,
                window: 15 * 60,
                lock_for: 15 * 60,
            },
            second_step_throttle: ThrottleRule {
                limit: 10,
                window: 15 * 60,
                lock_for: 15 * 60,
            },
            totp_issuer: "nidan".to_owned(),
            min_password_chars: DEFAULT_MIN_PASSWORD_CHARS,
            reset_mail_delay: std::time::Duration::from_secs(3),
            session_cache_ttl: std::time::Duration::from_secs(1),
            hash_concurrency: None,
        }
    }
}

#[derive(Clone)]
pub struct AuthService {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    hasher: PasswordHasher,
    policy: AuthPolicy,
    keys: Arc<TwoStepKeys>,
    metrics: Arc<crate::metrics::Metrics>,
    notifier: Arc<dyn Notifier>,
    sessions: Arc<session_cache::SessionCache>,
    /// Where links in emails point (`with_link_base`); empty: no links.
    link_base: Arc<str>,
}

impl AuthService {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        policy: AuthPolicy,
        key: &ServerKey,
    ) -> Self {
        let sessions = session_cache::SessionCache::new(policy.session_cache_ttl, clock.clone());
        Self {
            store,
            clock,
            hasher: policy
                .hash_concurrency
                .map_or_else(PasswordHasher::new, PasswordHasher::with_concurrency),
            keys: Arc::new(TwoStepKeys {
                sealer: Sealer::new(&key.derive("totp-secrets")),
                backup_code_key: key.derive("backup-codes"),
            }),
            metrics: Arc::new(crate::metrics::Metrics::default()),
            notifier: Arc::new(notify::NoNotifier),
            sessions: Arc::new(sessions),
            link_base: "".into(),
            policy,
        }
    }

    /// Security notices go out through `notifier` (email when SMTP is configured).
    pub fn with_notifier(mut self, notifier: Arc<dyn Notifier>) -> Self {
        self.notifier = notifier;
        self
    }

    /// The device cookie's value is a token; only its hash is kept.
    fn device_hash(device: &str) -> [u8; 32] {
        crate::crypto::token_hash(device)
    }

    /// Closes the database pool (at shutdown, after the last request).
    pub async fn close(&self) {
        self.store.close().await;
    }

    /// Ready to serve: the database answers, its schema is current and it takes a write.
    pub async fn ready(&self) -> bool {
        matches!(self.store.schema_current().await, Ok(true))
            && self.store.can_write().await.is_ok()
    }

    /// A consistent copy of the database (SQLite) in `path`, which must not exist yet.
    pub async fn backup(&self, path: &std::path::Path) -> AuthResult<()> {
        Ok(self.store.backup_to(path).await?)
    }

    pub fn policy(&self) -> &AuthPolicy {
        &self.policy
    }

    /// The time as the policy sees it (the settable clock in tests).
    pub fn now(&self) -> i64 {
        self.clock.now()
    }
}
