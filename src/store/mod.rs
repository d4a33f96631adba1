//! Storage: the traits `auth` speaks to, and one module per backend. All SQL lives below here.

mod email_changes;
pub mod event;
mod invitations;
mod password_resets;
mod postgres;
mod reachability;
mod sql;
mod sqlite;
mod two_step;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::clock::UnixTime;
use crate::crypto::TokenHash;

pub use email_changes::{EmailChange, EmailChangeAsk, EmailChangeAsked, EmailChangeStore};
pub use invitations::{Invitation, InvitationStore};
pub use password_resets::{PasswordReset, PasswordResetStore, ResetFinish, ResetFinished};
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;
pub use two_step::{
    AccountChange, Enrollment, FactorClaim, PendingLogin, SecondStepBasis, SecondStepFinish,
    SecondStepFinished, SessionRotation, TotpCredential, TwoStepStore,
};

pub type UserId = i64;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("an account with this email address already exists")]
    Duplicate,
    #[error("the server key does not match the one this database was created with")]
    KeyMismatch,
    #[error("unsupported database URL {0:?}: use sqlite://PATH or postgres://...")]
    UnsupportedUrl(String),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("the database cannot be reached: {0}")]
    Unavailable(sqlx::Error),
    #[error("the database's file system is (nearly) full: {free} bytes free")]
    Full { free: u64 },
    #[error("{path}: {source}")]
    File {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("online backup is for SQLite; back up PostgreSQL with pg_dump")]
    BackupUnsupported,
    #[error("database error: {0}")]
    Database(sqlx::Error),
}

/// A database error that means "nothing can be written now": disk full, a read-only file
/// or server, an I/O error. Like an outage it answers 503 (and `/readyz` fails its write
/// probe) until writes work again.
fn cannot_write(db: &(dyn sqlx::error::DatabaseError + 'static)) -> bool {
    if let Some(code) = sqlite_code(db) {
        // SQLITE_READONLY 8, SQLITE_IOERR 10, SQLITE_FULL 13.
        return matches!(code, 8 | 10 | 13);
    }
    // SQLSTATE: disk full, out of resources, I/O error, a read-only transaction (standby).
    db.code()
        .is_some_and(|c| matches!(c.as_ref(), "53100" | "53000" | "58030" | "25006"))
}

/// SQLite's write lock held past the busy timeout (another process, such as a long
/// `nidan backup` or a hand-run `sqlite3`): busy now, not broken.
fn busy(db: &(dyn sqlx::error::DatabaseError + 'static)) -> bool {
    // SQLITE_BUSY 5, SQLITE_LOCKED 6.
    sqlite_code(db).is_some_and(|code| matches!(code, 5 | 6))
}

/// SQLite's primary result code (the extended code's low byte), for a SQLite error.
fn sqlite_code(db: &(dyn sqlx::error::DatabaseError + 'static)) -> Option<i32> {
    db.try_downcast_ref::<sqlx::sqlite::SqliteError>()?;
    let code = db.code()?.parse::<i32>().ok()?;
    Some(code & 0xff)
}

/// Said at most every 10 s: a full disk fails every write, and every write would say so.
fn say_cannot_write(error: &sqlx::Error) {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST_SAID: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let last = LAST_SAID.load(Ordering::Relaxed);
    if now >= last + 10
        && LAST_SAID
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        tracing::error!(
            %error,
            "the database cannot be written (disk full, read-only or an I/O error): answering 503 until a write works again"
        );
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Duplicate,
            sqlx::Error::Database(db) if cannot_write(db.as_ref()) => {
                say_cannot_write(&e);
                StoreError::Unavailable(e)
            }
            sqlx::Error::Database(db) if busy(db.as_ref()) => StoreError::Unavailable(e),
            // SQLSTATE class 08 (connection exception) and 57P (the server shut the session).
            sqlx::Error::Database(db)
                if db
                    .code()
                    .is_some_and(|c| c.starts_with("08") || c.starts_with("57P")) =>
            {
                StoreError::Unavailable(e)
            }
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable(e),
            _ => StoreError::Database(e),
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub email: String,
    pub password_hash: String,
    pub is_admin: bool,
    pub created_at: UnixTime,
    pub totp_enabled: bool,
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("password_hash", &"<redacted>")
            .field("is_admin", &self.is_admin)
            .field("totp_enabled", &self.totp_enabled)
            .finish()
    }
}

pub struct NewUser {
    pub email: String,
    pub password_hash: String,
    pub is_admin: bool,
    pub now: UnixTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub user_id: UserId,
    pub email: String,
    pub is_admin: bool,
    pub two_step: bool,
    pub created_at: UnixTime,
    pub last_seen_at: UnixTime,
    pub expires_at: UnixTime,
}

/// What a throttle looks like right after an attempt was counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleState {
    pub failures: i64,
    pub locked_until: UnixTime,
}

/// How a throttle counts: `limit` failures within `window` seconds lock for `lock_for` seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleRule {
    pub limit: i64,
    pub window: i64,
    pub lock_for: i64,
}

#[async_trait]
pub trait UserStore {
    /// Creates the account and stores the audit events (the new account's id filled in
    /// where an event has none) in one transaction.
    async fn create_user(&self, user: NewUser, events: &[AuditRecord]) -> StoreResult<User>;
    async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>>;
    async fn user_by_id(&self, user_id: UserId) -> StoreResult<Option<User>>;
    async fn list_users(&self) -> StoreResult<Vec<User>>;
    async fn count_users(&self) -> StoreResult<i64>;
    /// Sets the password and ends every session, pending sign-in and reset link of the
    /// account, with the audit events, in one transaction; with a rotation, only while the
    /// asking session and the checked password hold, and the rotation's session is the one
    /// left.
    /// `SessionEnded` (and nothing changed) when they do not, or the account is gone.
    async fn set_password(
        &self,
        user_id: UserId,
        password_hash: &str,
        now: UnixTime,
        rotation: Option<&SessionRotation>,
        events: &[AuditRecord],
    ) -> StoreResult<AccountChange>;
    /// Deletes the account with its sessions and stores the audit events, in one
    /// transaction; `false` (and nothing changed) when there was none.
    async fn delete_user(&self, user_id: UserId, events: &[AuditRecord]) -> StoreResult<bool>;
}

/// Where a request came from, as stored: the client address and its User-Agent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    pub ip: String,
    pub user_agent: String,
}

/// A live session as its owner sees it on マイページ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    pub token_hash: TokenHash,
    pub created_at: UnixTime,
    pub last_seen_at: UnixTime,
    pub origin: Origin,
}

/// What a sign-in was checked against: the session is stored only while the account still
/// has this password and this state of two-step verification. A password change or 2FA
/// turned on while the password was being checked would otherwise end every other session
/// and miss this one.
#[derive(Debug, Clone, Copy)]
pub struct SessionBasis<'a> {
    pub password_hash: &'a str,
    pub two_step: bool,
}

#[async_trait]
pub trait SessionStore {
    /// Stores the session when `basis` still holds, with `events` (the sign-in's audit
    /// events) in the same transaction: both or neither. `false` (nothing stored) when
    /// `basis` no longer holds.
    #[allow(clippy::too_many_arguments)] // one row's columns, and the events that go with it
    async fn insert_session(
        &self,
        token: &TokenHash,
        user_id: UserId,
        now: UnixTime,
        expires_at: UnixTime,
        origin: &Origin,
        basis: SessionBasis<'_>,
        events: &[AuditRecord],
    ) -> StoreResult<bool>;
    async fn session(&self, token: &TokenHash) -> StoreResult<Option<SessionRecord>>;
    async fn touch_session(&self, token: &TokenHash, now: UnixTime) -> StoreResult<()>;
    /// Ends the session and stores the audit events in one transaction; `false` (and no
    /// event) when it had ended already.
    async fn delete_session(&self, token: &TokenHash, events: &[AuditRecord]) -> StoreResult<bool>;
    /// The account's sessions that are neither expired nor idle since `seen_after`, newest first.
    async fn sessions_of(
        &self,
        user_id: UserId,
        now: UnixTime,
        seen_after: UnixTime,
    ) -> StoreResult<Vec<SessionInfo>>;
    /// Ends one session of this account and stores the audit events, in one transaction;
    /// `false` (and no event) when it has no such session.
    async fn end_session_of(
        &self,
        user_id: UserId,
        token: &TokenHash,
        events: &[AuditRecord],
    ) -> StoreResult<bool>;
    /// Sessions neither expired nor idle since `seen_after`.
    async fn count_live_sessions(&self, now: UnixTime, seen_after: UnixTime) -> StoreResult<i64>;
    /// Deletes expired and idle sessions and expired pending sign-ins; returns how many.
    async fn prune_sessions(&self, now: UnixTime, seen_after: UnixTime) -> StoreResult<u64>;
}

/// One security event of the audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub at: UnixTime,
    /// `None` when no account matched (a sign-in with an unknown address).
    pub user_id: Option<UserId>,
    pub email: String,
    /// `None` for a kind stored by another version and unknown to this one: its name and
    /// detail are then in `EventDetail::Other`.
    pub kind: Option<event::EventKind>,
    pub detail: event::EventDetail,
    pub origin: Origin,
}

/// Which events to read, newest first.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub user_id: Option<UserId>,
    pub email: Option<String>,
    pub since: UnixTime,
    pub limit: i64,
}

/// The throttles of some keys at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleCheck {
    /// The latest time until which one of the keys is locked, when one is.
    pub locked_until: Option<UnixTime>,
    /// Whether any of the keys has failures counted, locked or not (a success need not
    /// clear anything when none has).
    pub counted: bool,
}

/// What a sign-in's device was to the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceSeen {
    /// Signed in on it before.
    Known,
    /// New to an account that has signed in on other devices.
    New,
    /// The account's first device.
    First,
}

#[async_trait]
pub trait AuditStore {
    async fn append_audit(&self, record: &AuditRecord) -> StoreResult<()>;
    async fn audit_events(&self, query: &AuditQuery) -> StoreResult<Vec<AuditRecord>>;
    /// Deletes events older than `before`; returns how many.
    async fn prune_audit(&self, before: UnixTime) -> StoreResult<u64>;
    /// Forgets devices not used since `before`; returns how many.
    async fn prune_devices(&self, before: UnixTime) -> StoreResult<u64>;
    /// Whether the account has signed in on this device before.
    async fn device_known(&self, user_id: UserId, device_hash: &[u8; 32]) -> StoreResult<bool>;
    /// Records that the account signed in on this device.
    async fn remember_device(
        &self,
        user_id: UserId,
        device_hash: &[u8; 32],
        now: UnixTime,
    ) -> StoreResult<DeviceSeen>;
}

/// Attempt limits. An attempt is reserved before the password or code is checked, so that
/// any number of tries at once evaluate at most the limit; one that turns out right gives its
/// reservation back. The counting arithmetic lives in SQL on purpose: one atomic statement
/// per counter is what makes the limit hold across requests and instances.
#[async_trait]
pub trait ThrottleStore {
    /// Counts one attempt atomically and returns the state after it; `None` (nothing
    /// counted) while the key is locked or its window already holds `rule.limit` attempts.
    async fn reserve_attempt(
        &self,
        key: &str,
        now: UnixTime,
        rule: ThrottleRule,
    ) -> StoreResult<Option<ThrottleState>>;
    /// Gives back one reserved attempt (it was right), with any lock it set.
    async fn release_attempt(&self, key: &str, rule: ThrottleRule) -> StoreResult<()>;
    /// What the throttles of `keys` say at `now`, in one query for all of them.
    async fn check_throttles(&self, keys: &[&str], now: UnixTime) -> StoreResult<ThrottleCheck>;
    async fn clear_throttle(&self, key: &str) -> StoreResult<()>;
    /// Deletes `key` and the keys of its family (`key#…`).
    async fn clear_throttle_family(&self, key: &str) -> StoreResult<()>;
}

#[async_trait]
pub trait SetupStore {
    /// Drops any earlier setup token and keeps only this one.
    async fn replace_setup_token(&self, token: &TokenHash, now: UnixTime) -> StoreResult<()>;
    async fn clear_setup_tokens(&self) -> StoreResult<()>;
    async fn setup_token_exists(&self, token: &TokenHash) -> StoreResult<bool>;
    /// In one transaction: spends the token, creates the first administrator, starts
    /// their session and stores the audit events (the new account's id filled in where
    /// an event has none). `None`, and nothing changed, when the token is unknown or an
    /// account already exists.
    async fn create_first_admin(
        &self,
        token: &TokenHash,
        user: NewUser,
        session: &SessionRotation,
        events: &[AuditRecord],
    ) -> StoreResult<Option<User>>;
}

#[async_trait]
pub trait MetaStore {
    async fn migrate(&self) -> StoreResult<()>;
    /// Records the fingerprint on first use; afterwards fails when it differs.
    async fn check_key_fingerprint(&self, fingerprint: &str) -> StoreResult<()>;
    /// Whether the database answers and has every migration this build knows.
    async fn schema_current(&self) -> StoreResult<bool>;
    /// Writes one row as it is: fails while nothing can be written (disk full, read-only).
    async fn can_write(&self) -> StoreResult<()>;
    /// A consistent copy of the live database in a new file.
    async fn backup_to(&self, path: &std::path::Path) -> StoreResult<()>;
    /// Closes the pool: waits for connections in use, then closes them all.
    async fn close(&self);
    fn pool_state(&self) -> PoolState;
}

/// The connection pool right now (for metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolState {
    pub size: u32,
    pub idle: u32,
    pub max: u32,
}

pub trait Store:
    UserStore
    + SessionStore
    + ThrottleStore
    + SetupStore
    + TwoStepStore
    + PasswordResetStore
    + InvitationStore
    + EmailChangeStore
    + AuditStore
    + MetaStore
    + Send
    + Sync
{
}
impl<T> Store for T where
    T: UserStore
        + SessionStore
        + AuditStore
        + ThrottleStore
        + SetupStore
        + TwoStepStore
        + PasswordResetStore
        + InvitationStore
        + EmailChangeStore
        + MetaStore
        + Send
        + Sync
{
}

/// Connection pool settings, for either backend.
#[derive(Debug, Clone)]
pub struct DbSettings {
    pub max_connections: u32,
    /// PostgreSQL: the longest any statement may run.
    pub statement_timeout: Duration,
}

impl Default for DbSettings {
    fn default() -> Self {
        Self {
            max_connections: 8,
            statement_timeout: Duration::from_secs(5),
        }
    }
}

impl DbSettings {
    /// Connections the backend named by `database_url` opens at most: SQLite keeps its one
    /// writer beside `max_connections` readers.
    pub fn connections_for(&self, database_url: &str) -> u32 {
        let writer = u32::from(is_sqlite(database_url));
        self.max_connections.saturating_add(writer)
    }
}

fn is_sqlite(database_url: &str) -> bool {
    database_url.starts_with("sqlite:")
}

/// Opens the backend that the URL names and brings its schema up to date.
pub async fn open(database_url: &str, settings: &DbSettings) -> StoreResult<Arc<dyn Store>> {
    let store: Arc<dyn Store> = if is_sqlite(database_url) {
        Arc::new(SqliteStore::connect(database_url, settings).await?)
    } else if database_url.starts_with("postgres://") || database_url.starts_with("postgresql://") {
        Arc::new(PostgresStore::connect(database_url, settings).await?)
    } else {
        return Err(StoreError::UnsupportedUrl(database_url.to_owned()));
    };
    store.migrate().await?;
    Ok(store)
}
