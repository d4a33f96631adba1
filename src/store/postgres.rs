//! PostgreSQL, for many instances on one database. The same statements as SQLite's,
//! in PostgreSQL's dialect; every one-time change is one statement or one transaction.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Connection, FromRow, Row};

use super::reachability::{self, ProbeTask, Reachability};
use super::*;

#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    reachability: Arc<Reachability>,
    _probe: Arc<ProbeTask>,
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("src/store/migrations/postgres");

/// A pooled connection idle this long is pinged before use.
const PING_WHEN_IDLE_FOR: Duration = Duration::from_secs(30);

impl PostgresStore {
    /// The pool, unless the database is known to be away: then at once "unavailable",
    /// rather than a wait for a connection that cannot come.
    fn pool(&self) -> StoreResult<&PgPool> {
        if self.reachability.is_away() {
            return Err(StoreError::Unavailable(sqlx::Error::PoolTimedOut));
        }
        Ok(&self.pool)
    }

    /// Housekeeping: one DELETE with a cut-off time; how many rows went.
    async fn delete_before(&self, sql: &'static str, before: UnixTime) -> StoreResult<u64> {
        let done = sqlx::query(sql).bind(before).execute(self.pool()?).await?;
        Ok(done.rows_affected())
    }

    /// TLS follows `sslmode` in the URL; every statement is bounded by the timeout.
    pub async fn connect(url: &str, settings: &DbSettings) -> StoreResult<Self> {
        let timeout_ms = settings.statement_timeout.as_millis().to_string();
        let options =
            PgConnectOptions::from_str(url)?.options([("statement_timeout", timeout_ms.as_str())]);
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(Duration::from_secs(5))
            // sqlx pings every connection it hands out: a round trip per statement.
            // A connection in steady use is known to be alive; one that sat idle (the
            // server may have restarted, a firewall may have dropped it) is checked.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for > PING_WHEN_IDLE_FOR {
                        conn.ping().await?;
                    }
                    Ok(true)
                })
            })
            .connect_with(options.clone())
            .await?;
        let reachability = Arc::new(Reachability::default());
        let probe = tokio::spawn(reachability::probe(options, reachability.clone()));
        Ok(Self {
            pool,
            reachability,
            _probe: Arc::new(ProbeTask(probe)),
        })
    }
}

#[derive(FromRow)]
struct UserRow {
    id: i64,
    email: String,
    password_hash: String,
    is_admin: bool,
    created_at: i64,
    totp_enabled: bool,
}

impl From<UserRow> for User {
    fn from(r: UserRow) -> Self {
        User {
            id: r.id,
            email: r.email,
            password_hash: r.password_hash,
            is_admin: r.is_admin,
            created_at: r.created_at,
            totp_enabled: r.totp_enabled,
        }
    }
}

const USER_COLUMNS: &str = "id, email, password_hash, is_admin, created_at,
    EXISTS (SELECT 1 FROM totp_credentials t WHERE t.user_id = users.id) AS totp_enabled";

async fn insert_user<'e, E>(executor: E, user: &NewUser) -> StoreResult<User>
where
    E: sqlx::Executor<'e, Database = sqlx::Postgres>,
{
    let row: UserRow = sqlx::query_as(
        "INSERT INTO users (email, password_hash, is_admin, created_at, password_changed_at)
         VALUES ($1, $2, $3, $4, $4)
         RETURNING id, email, password_hash, is_admin, created_at, FALSE AS totp_enabled",
    )
    .bind(&user.email)
    .bind(&user.password_hash)
    .bind(user.is_admin)
    .bind(user.now)
    .fetch_one(executor)
    .await?;
    Ok(row.into())
}

/// A session row; with a `basis`, only while the account is as the sign-in checked it.
async fn insert_session<'e, E>(
    executor: E,
    token: &TokenHash,
    user_id: UserId,
    now: UnixTime,
    expires_at: UnixTime,
    origin: &Origin,
    basis: Option<SessionBasis<'_>>,
) -> StoreResult<bool>
where
    E: sqlx::Executor<'e, Database = sqlx::Postgres>,
{
    const ALWAYS: &str = "INSERT INTO sessions
           (token_hash, user_id, created_at, last_seen_at, expires_at, ip, user_agent)
         VALUES ($1, $2, $3, $3, $4, $5, $6)";
    const WHILE_AS_CHECKED: &str = "INSERT INTO sessions
           (token_hash, user_id, created_at, last_seen_at, expires_at, ip, user_agent)
         SELECT $1, $2, $3, $3, $4, $5, $6
         WHERE EXISTS (SELECT 1 FROM users WHERE id = $2 AND password_hash = $7)
           AND EXISTS (SELECT 1 FROM totp_credentials WHERE user_id = $2) = $8";
    let query = sqlx::query(if basis.is_some() {
        WHILE_AS_CHECKED
    } else {
        ALWAYS
    })
    .bind(token.as_slice())
    .bind(user_id)
    .bind(now)
    .bind(expires_at)
    .bind(&origin.ip)
    .bind(&origin.user_agent);
    let query = match basis {
        Some(basis) => query.bind(basis.password_hash).bind(basis.two_factor),
        None => query,
    };
    Ok(query.execute(executor).await?.rows_affected() == 1)
}

#[async_trait]
impl UserStore for PostgresStore {
    async fn create_user(&self, user: NewUser) -> StoreResult<User> {
        insert_user(self.pool()?, &user).await
    }

    async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        let row: Option<UserRow> = sqlx::query_as(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE email = $1"
        ))
        .bind(email)
        .fetch_optional(self.pool()?)
        .await?;
        Ok(row.map(Into::into))
    }

    async fn user_by_id(&self, user_id: UserId) -> StoreResult<Option<User>> {
        let row: Option<UserRow> =
            sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
                .bind(user_id)
                .fetch_optional(self.pool()?)
                .await?;
        Ok(row.map(Into::into))
    }

    async fn list_users(&self) -> StoreResult<Vec<User>> {
        let rows: Vec<UserRow> =
            sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY email"))
                .fetch_all(self.pool()?)
                .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn count_users(&self) -> StoreResult<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(self.pool()?)
            .await?)
    }

    async fn set_password(
        &self,
        user_id: UserId,
        password_hash: &str,
        now: UnixTime,
        keep: Option<&TokenHash>,
    ) -> StoreResult<()> {
        let mut tx = self.pool()?.begin().await?;
        sqlx::query("UPDATE users SET password_hash = $1, password_changed_at = $2 WHERE id = $3")
            .bind(password_hash)
            .bind(now)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND token_hash IS DISTINCT FROM $2")
            .bind(user_id)
            .bind(keep.map(|h| h.as_slice()))
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM pending_logins WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn delete_user(&self, user_id: UserId) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(user_id)
            .execute(self.pool()?)
            .await?;
        Ok(done.rows_affected() == 1)
    }
}

#[async_trait]
impl SessionStore for PostgresStore {
    async fn insert_session(
        &self,
        token: &TokenHash,
        user_id: UserId,
        now: UnixTime,
        expires_at: UnixTime,
        origin: &Origin,
        basis: SessionBasis<'_>,
    ) -> StoreResult<bool> {
        let basis = Some(basis);
        insert_session(self.pool()?, token, user_id, now, expires_at, origin, basis).await
    }

    async fn session(&self, token: &TokenHash) -> StoreResult<Option<SessionRecord>> {
        let row = sqlx::query(
            "SELECT s.user_id, u.email, u.is_admin, s.created_at, s.last_seen_at, s.expires_at,
                    EXISTS (SELECT 1 FROM totp_credentials t WHERE t.user_id = s.user_id)
             FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1",
        )
        .bind(token.as_slice())
        .fetch_optional(self.pool()?)
        .await?;
        Ok(row.map(|r| SessionRecord {
            user_id: r.get(0),
            email: r.get(1),
            is_admin: r.get(2),
            created_at: r.get(3),
            last_seen_at: r.get(4),
            expires_at: r.get(5),
            two_factor: r.get(6),
        }))
    }

    async fn touch_session(&self, token: &TokenHash, now: UnixTime) -> StoreResult<()> {
        sqlx::query(
            "UPDATE sessions SET last_seen_at = $1 WHERE token_hash = $2 AND last_seen_at < $1",
        )
        .bind(now)
        .bind(token.as_slice())
        .execute(self.pool()?)
        .await?;
        Ok(())
    }

    async fn delete_session(&self, token: &TokenHash) -> StoreResult<()> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token.as_slice())
            .execute(self.pool()?)
            .await?;
        Ok(())
    }

    async fn sessions_of(
        &self,
        user_id: UserId,
        now: UnixTime,
        seen_after: UnixTime,
    ) -> StoreResult<Vec<SessionInfo>> {
        let rows = sqlx::query(
            "SELECT token_hash, created_at, last_seen_at, ip, user_agent FROM sessions
             WHERE user_id = $1 AND expires_at > $2 AND last_seen_at > $3
             ORDER BY last_seen_at DESC, created_at DESC",
        )
        .bind(user_id)
        .bind(now)
        .bind(seen_after)
        .fetch_all(self.pool()?)
        .await?;
        rows.into_iter()
            .map(|r| {
                let hash: Vec<u8> = r.get(0);
                Ok(SessionInfo {
                    token_hash: hash
                        .try_into()
                        .map_err(|_| StoreError::Database(sqlx::Error::RowNotFound))?,
                    created_at: r.get(1),
                    last_seen_at: r.get(2),
                    origin: Origin {
                        ip: r.get(3),
                        user_agent: r.get(4),
                    },
                })
            })
            .collect()
    }

    async fn end_session_of(&self, user_id: UserId, token: &TokenHash) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND token_hash = $2")
            .bind(user_id)
            .bind(token.as_slice())
            .execute(self.pool()?)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn count_live_sessions(&self, now: UnixTime, seen_after: UnixTime) -> StoreResult<i64> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM sessions WHERE expires_at > $1 AND last_seen_at > $2",
        )
        .bind(now)
        .bind(seen_after)
        .fetch_one(self.pool()?)
        .await?)
    }

    async fn prune_sessions(&self, now: UnixTime, seen_after: UnixTime) -> StoreResult<u64> {
        let sessions =
            sqlx::query("DELETE FROM sessions WHERE expires_at <= $1 OR last_seen_at <= $2")
                .bind(now)
                .bind(seen_after)
                .execute(self.pool()?)
                .await?;
        let pending = sqlx::query("DELETE FROM pending_logins WHERE expires_at <= $1")
            .bind(now)
            .execute(self.pool()?)
            .await?;
        Ok(sessions.rows_affected() + pending.rows_affected())
    }
}

#[async_trait]
impl ThrottleStore for PostgresStore {
    async fn reserve_attempt(
        &self,
        key: &str,
        now: UnixTime,
        rule: ThrottleRule,
    ) -> StoreResult<Option<ThrottleState>> {
        // One statement: nothing is counted while the key is locked or its window is full
        // (no row comes back); a fresh window restarts the count; the limit sets the lock.
        // SET expressions read the row as it was before the update.
        let row = sqlx::query(
            "INSERT INTO throttles (key, failures, window_start, locked_until)
             VALUES ($1, 1, $2, CASE WHEN 1 >= $4 THEN $2 + $5 ELSE 0 END)
             ON CONFLICT (key) DO UPDATE SET
               failures = CASE WHEN throttles.window_start <= $2 - $3 THEN 1
                               ELSE throttles.failures + 1 END,
               window_start = CASE WHEN throttles.window_start <= $2 - $3 THEN $2
                                   ELSE throttles.window_start END,
               locked_until = CASE WHEN (CASE WHEN throttles.window_start <= $2 - $3 THEN 1
                                              ELSE throttles.failures + 1 END) >= $4
                                   THEN $2 + $5 ELSE throttles.locked_until END
             WHERE throttles.locked_until <= $2
               AND (throttles.window_start <= $2 - $3 OR throttles.failures < $4)
             RETURNING failures, locked_until",
        )
        .bind(key)
        .bind(now)
        .bind(rule.window)
        .bind(rule.limit)
        .bind(rule.lock_for)
        .fetch_optional(self.pool()?)
        .await?;
        Ok(row.map(|row| ThrottleState {
            failures: row.get(0),
            locked_until: row.get(1),
        }))
    }

    async fn release_attempt(&self, key: &str, rule: ThrottleRule) -> StoreResult<()> {
        // A lock that this attempt's reservation set goes with it.
        sqlx::query(
            "UPDATE throttles SET failures = failures - 1,
               locked_until = CASE WHEN failures - 1 < $2 THEN 0 ELSE locked_until END
             WHERE key = $1 AND failures > 0",
        )
        .bind(key)
        .bind(rule.limit)
        .execute(self.pool()?)
        .await?;
        Ok(())
    }

    async fn check_throttles(&self, keys: &[&str], now: UnixTime) -> StoreResult<ThrottleCheck> {
        let (locked_until, counted): (Option<i64>, i64) = sqlx::query_as(
            "SELECT MAX(CASE WHEN locked_until > $2 THEN locked_until END), COUNT(*)
             FROM throttles WHERE key = ANY($1)",
        )
        .bind(keys)
        .bind(now)
        .fetch_one(self.pool()?)
        .await?;
        Ok(ThrottleCheck {
            locked_until,
            counted: counted > 0,
        })
    }

    async fn clear_throttle(&self, key: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM throttles WHERE key = $1")
            .bind(key)
            .execute(self.pool()?)
            .await?;
        Ok(())
    }

    async fn clear_throttle_family(&self, key: &str) -> StoreResult<()> {
        sqlx::query(
            "DELETE FROM throttles
             WHERE key = $1 OR substr(key, 1, length($1) + 1) = $1 || '#'",
        )
        .bind(key)
        .execute(self.pool()?)
        .await?;
        Ok(())
    }
}

#[async_trait]
impl SetupStore for PostgresStore {
    async fn replace_setup_token(&self, token: &TokenHash, now: UnixTime) -> StoreResult<()> {
        let mut tx = self.pool()?.begin().await?;
        sqlx::query("DELETE FROM setup_tokens")
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO setup_tokens (token_hash, created_at) VALUES ($1, $2)")
            .bind(token.as_slice())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn clear_setup_tokens(&self) -> StoreResult<()> {
        sqlx::query("DELETE FROM setup_tokens")
            .execute(self.pool()?)
            .await?;
        Ok(())
    }

    async fn setup_token_exists(&self, token: &TokenHash) -> StoreResult<bool> {
        Ok(
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM setup_tokens WHERE token_hash = $1)")
                .bind(token.as_slice())
                .fetch_one(self.pool()?)
                .await?,
        )
    }

    async fn create_first_admin(
        &self,
        token: &TokenHash,
        user: NewUser,
    ) -> StoreResult<Option<User>> {
        let mut tx = self.pool()?.begin().await?;
        // The DELETE comes first so that this transaction takes the write lock at once.
        let spent = sqlx::query("DELETE FROM setup_tokens WHERE token_hash = $1")
            .bind(token.as_slice())
            .execute(&mut *tx)
            .await?;
        let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&mut *tx)
            .await?;
        if spent.rows_affected() != 1 || users != 0 {
            tx.rollback().await?;
            return Ok(None);
        }
        let created = insert_user(&mut *tx, &user).await?;
        tx.commit().await?;
        Ok(Some(created))
    }
}

/// Ends every session of the account and starts the rotated one, inside `tx`.
async fn rotate_sessions(
    tx: &mut sqlx::PgConnection,
    user_id: UserId,
    rotation: Option<&SessionRotation>,
) -> StoreResult<()> {
    sqlx::query("DELETE FROM sessions WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    if let Some(r) = rotation {
        insert_session(
            &mut *tx,
            &r.token,
            user_id,
            r.now,
            r.expires_at,
            &r.origin,
            None,
        )
        .await?;
    }
    Ok(())
}

async fn insert_backup_codes(
    tx: &mut sqlx::PgConnection,
    user_id: UserId,
    hashes: &[[u8; 32]],
) -> StoreResult<()> {
    sqlx::query("DELETE FROM backup_codes WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    for hash in hashes {
        sqlx::query("INSERT INTO backup_codes (user_id, code_hash) VALUES ($1, $2)")
            .bind(user_id)
            .bind(hash.as_slice())
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

#[async_trait]
impl TwoFactorStore for PostgresStore {
    async fn totp_credential(&self, user_id: UserId) -> StoreResult<Option<TotpCredential>> {
        let row = sqlx::query(
            "SELECT sealed_secret, last_used_step FROM totp_credentials WHERE user_id = $1",
        )
        .bind(user_id)
        .fetch_optional(self.pool()?)
        .await?;
        Ok(row.map(|r| TotpCredential {
            sealed_secret: r.get(0),
            last_used_step: r.get(1),
        }))
    }

    async fn advance_totp_step(&self, user_id: UserId, step: i64) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE totp_credentials SET last_used_step = $2
             WHERE user_id = $1 AND last_used_step < $2",
        )
        .bind(user_id)
        .bind(step)
        .execute(self.pool()?)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn put_enrollment(
        &self,
        session: &TokenHash,
        user_id: UserId,
        sealed_secret: &[u8],
        now: UnixTime,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO totp_enrollments (session_hash, user_id, sealed_secret, created_at)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (session_hash) DO UPDATE SET
               user_id = excluded.user_id, sealed_secret = excluded.sealed_secret,
               created_at = excluded.created_at",
        )
        .bind(session.as_slice())
        .bind(user_id)
        .bind(sealed_secret)
        .bind(now)
        .execute(self.pool()?)
        .await?;
        Ok(())
    }

    async fn enrollment(&self, session: &TokenHash) -> StoreResult<Option<Enrollment>> {
        let row = sqlx::query(
            "SELECT user_id, sealed_secret, created_at FROM totp_enrollments WHERE session_hash = $1",
        )
        .bind(session.as_slice())
        .fetch_optional(self.pool()?)
        .await?;
        Ok(row.map(|r| Enrollment {
            user_id: r.get(0),
            sealed_secret: r.get(1),
            created_at: r.get(2),
        }))
    }

    async fn enable_totp(
        &self,
        user_id: UserId,
        sealed_secret: &[u8],
        last_used_step: i64,
        backup_code_hashes: &[[u8; 32]],
        rotation: &SessionRotation,
    ) -> StoreResult<()> {
        let mut tx = self.pool()?.begin().await?;
        sqlx::query(
            "INSERT INTO totp_credentials (user_id, sealed_secret, last_used_step, enabled_at)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (user_id) DO UPDATE SET sealed_secret = excluded.sealed_secret,
               last_used_step = excluded.last_used_step, enabled_at = excluded.enabled_at",
        )
        .bind(user_id)
        .bind(sealed_secret)
        .bind(last_used_step)
        .bind(rotation.now)
        .execute(&mut *tx)
        .await?;
        insert_backup_codes(&mut tx, user_id, backup_code_hashes).await?;
        sqlx::query("DELETE FROM pending_logins WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        // Enrollments go with the sessions they belong to.
        rotate_sessions(&mut tx, user_id, Some(rotation)).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn disable_totp(
        &self,
        user_id: UserId,
        rotation: Option<&SessionRotation>,
    ) -> StoreResult<bool> {
        let mut tx = self.pool()?.begin().await?;
        let removed = sqlx::query("DELETE FROM totp_credentials WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            == 1;
        insert_backup_codes(&mut tx, user_id, &[]).await?;
        for table in ["totp_enrollments", "pending_logins"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE user_id = $1"))
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
        }
        rotate_sessions(&mut tx, user_id, rotation).await?;
        tx.commit().await?;
        Ok(removed)
    }

    async fn replace_backup_codes(
        &self,
        user_id: UserId,
        backup_code_hashes: &[[u8; 32]],
        rotation: &SessionRotation,
    ) -> StoreResult<()> {
        let mut tx = self.pool()?.begin().await?;
        insert_backup_codes(&mut tx, user_id, backup_code_hashes).await?;
        rotate_sessions(&mut tx, user_id, Some(rotation)).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn spend_backup_code(
        &self,
        user_id: UserId,
        code_hash: &[u8; 32],
        now: UnixTime,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE backup_codes SET used_at = $3
             WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
        )
        .bind(user_id)
        .bind(code_hash.as_slice())
        .bind(now)
        .execute(self.pool()?)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn backup_codes_left(&self, user_id: UserId) -> StoreResult<i64> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM backup_codes WHERE user_id = $1 AND used_at IS NULL",
        )
        .bind(user_id)
        .fetch_one(self.pool()?)
        .await?)
    }

    async fn insert_pending_login(
        &self,
        token: &TokenHash,
        user_id: UserId,
        now: UnixTime,
        expires_at: UnixTime,
        next: &str,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO pending_logins (token_hash, user_id, created_at, expires_at, next)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token.as_slice())
        .bind(user_id)
        .bind(now)
        .bind(expires_at)
        .bind(next)
        .execute(self.pool()?)
        .await?;
        Ok(())
    }

    async fn pending_login(&self, token: &TokenHash) -> StoreResult<Option<PendingLogin>> {
        let row = sqlx::query(
            "SELECT user_id, created_at, expires_at, failures, next
             FROM pending_logins WHERE token_hash = $1",
        )
        .bind(token.as_slice())
        .fetch_optional(self.pool()?)
        .await?;
        Ok(row.map(|r| PendingLogin {
            user_id: r.get(0),
            created_at: r.get(1),
            expires_at: r.get(2),
            failures: r.get(3),
            next: r.get(4),
        }))
    }

    async fn reserve_pending_attempt(
        &self,
        token: &TokenHash,
        now: UnixTime,
        max: i64,
    ) -> StoreResult<Option<i64>> {
        Ok(sqlx::query_scalar(
            "UPDATE pending_logins SET failures = failures + 1
             WHERE token_hash = $1 AND failures < $3 AND expires_at > $2
             RETURNING failures",
        )
        .bind(token.as_slice())
        .bind(now)
        .bind(max)
        .fetch_optional(self.pool()?)
        .await?)
    }

    async fn take_pending_login(&self, token: &TokenHash) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM pending_logins WHERE token_hash = $1")
            .bind(token.as_slice())
            .execute(self.pool()?)
            .await?;
        Ok(done.rows_affected() == 1)
    }
}

#[async_trait]
impl AuditStore for PostgresStore {
    async fn append_audit(&self, record: &AuditRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO audit_events (at, user_id, email, kind, detail, ip, user_agent)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(record.at)
        .bind(record.user_id)
        .bind(&record.email)
        .bind(&record.kind)
        .bind(&record.detail)
        .bind(&record.origin.ip)
        .bind(&record.origin.user_agent)
        .execute(self.pool()?)
        .await?;
        Ok(())
    }

    async fn audit_events(&self, query: &AuditQuery) -> StoreResult<Vec<AuditRecord>> {
        let rows = sqlx::query(
            "SELECT at, user_id, email, kind, detail, ip, user_agent FROM audit_events
             WHERE ($1::BIGINT IS NULL OR user_id = $1) AND ($2::TEXT IS NULL OR email = $2) AND at >= $3
             ORDER BY at DESC, id DESC LIMIT $4",
        )
        .bind(query.user_id)
        .bind(query.email.as_deref())
        .bind(query.since)
        .bind(query.limit)
        .fetch_all(self.pool()?)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| AuditRecord {
                at: r.get(0),
                user_id: r.get(1),
                email: r.get(2),
                kind: r.get(3),
                detail: r.get(4),
                origin: Origin {
                    ip: r.get(5),
                    user_agent: r.get(6),
                },
            })
            .collect())
    }

    async fn prune_audit(&self, before: UnixTime) -> StoreResult<u64> {
        self.delete_before("DELETE FROM audit_events WHERE at < $1", before)
            .await
    }

    async fn prune_devices(&self, before: UnixTime) -> StoreResult<u64> {
        self.delete_before("DELETE FROM known_devices WHERE last_seen < $1", before)
            .await
    }

    async fn device_known(&self, user_id: UserId, device_hash: &[u8; 32]) -> StoreResult<bool> {
        Ok(sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM known_devices WHERE user_id = $1 AND device_hash = $2)",
        )
        .bind(user_id)
        .bind(device_hash.as_slice())
        .fetch_one(self.pool()?)
        .await?)
    }

    async fn remember_device(
        &self,
        user_id: UserId,
        device_hash: &[u8; 32],
        now: UnixTime,
    ) -> StoreResult<DeviceSeen> {
        // One round trip, as a sign-in waits on it: a known device is touched, a new one
        // added (a concurrent sign-in on it may win: then it counts as known). The final
        // SELECT sees the table as it was before, so "others" are other devices.
        let row = sqlx::query(
            "WITH touched AS (
                UPDATE known_devices SET last_seen = $3
                WHERE user_id = $1 AND device_hash = $2 RETURNING 1
             ), added AS (
                INSERT INTO known_devices (user_id, device_hash, first_seen, last_seen)
                SELECT $1, $2, $3, $3 WHERE NOT EXISTS (SELECT 1 FROM touched)
                ON CONFLICT (user_id, device_hash) DO NOTHING RETURNING 1
             )
             SELECT EXISTS (SELECT 1 FROM added),
                    EXISTS (SELECT 1 FROM known_devices WHERE user_id = $1 AND device_hash <> $2)",
        )
        .bind(user_id)
        .bind(device_hash.as_slice())
        .bind(now)
        .fetch_one(self.pool()?)
        .await?;
        Ok(match (row.get::<bool, _>(0), row.get::<bool, _>(1)) {
            (false, _) => DeviceSeen::Known,
            (true, false) => DeviceSeen::First,
            (true, true) => DeviceSeen::New,
        })
    }
}

#[async_trait]
impl MetaStore for PostgresStore {
    async fn can_write(&self) -> StoreResult<()> {
        sqlx::query("UPDATE server_meta SET value = value WHERE key = 'key_fingerprint'")
            .execute(self.pool()?)
            .await?;
        Ok(())
    }
    async fn schema_current(&self) -> StoreResult<bool> {
        let applied: i64 = sqlx::query_scalar(
            "SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success",
        )
        .fetch_one(self.pool()?)
        .await?;
        let known = MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
        Ok(applied == known)
    }
    async fn backup_to(&self, _path: &std::path::Path) -> StoreResult<()> {
        Err(StoreError::BackupUnsupported)
    }

    async fn close(&self) {
        self.pool.close().await;
    }

    fn pool_state(&self) -> PoolState {
        PoolState {
            size: self.pool.size(),
            idle: u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX),
            max: self.pool.options().get_max_connections(),
        }
    }

    async fn migrate(&self) -> StoreResult<()> {
        MIGRATOR.run(self.pool()?).await?;
        Ok(())
    }

    async fn check_key_fingerprint(&self, fingerprint: &str) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO server_meta (key, value) VALUES ('key_fingerprint', $1)
             ON CONFLICT (key) DO NOTHING",
        )
        .bind(fingerprint)
        .execute(self.pool()?)
        .await?;
        let stored: String =
            sqlx::query_scalar("SELECT value FROM server_meta WHERE key = 'key_fingerprint'")
                .fetch_one(self.pool()?)
                .await?;
        if crate::crypto::ct_eq(stored.as_bytes(), fingerprint.as_bytes()) {
            Ok(())
        } else {
            Err(StoreError::KeyMismatch)
        }
    }
}
