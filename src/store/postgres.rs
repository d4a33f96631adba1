//! PostgreSQL, for many instances on one database. The same statements as SQLite's,
//! in PostgreSQL's dialect; every one-time change is one statement or one transaction.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Connection, FromRow, Row};

use super::reachability::{self, ProbeTask, Reachability};
use super::sql::shared_store;
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

    /// The same pool: PostgreSQL lets readers and writers share connections.
    fn reader(&self) -> StoreResult<&PgPool> {
        self.pool()
    }

    fn pools(&self) -> Vec<&PgPool> {
        vec![&self.pool]
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

shared_store!(PostgresStore, sqlx::Postgres);

impl PostgresStore {
    /// Free space is the server's to watch: the probe row is all nidan can see.
    fn room_to_write(&self) -> StoreResult<()> {
        Ok(())
    }

    async fn backup_here(&self, _path: &std::path::Path) -> StoreResult<()> {
        Err(StoreError::BackupUnsupported)
    }

    /// When the first of `keys` stays locked, and whether any of them counts attempts.
    async fn throttle_state(
        &self,
        keys: &[&str],
        now: UnixTime,
    ) -> StoreResult<(Option<i64>, i64)> {
        Ok(sqlx::query_as(
            "SELECT MAX(CASE WHEN locked_until > $2 THEN locked_until END), COUNT(*)
             FROM throttles WHERE key = ANY($1)",
        )
        .bind(keys)
        .bind(now)
        .fetch_one(self.pool()?)
        .await?)
    }

    async fn note_device(
        &self,
        user_id: UserId,
        device_hash: &[u8; 32],
        now: UnixTime,
    ) -> StoreResult<DeviceSeen> {
        let at = DeviceAt {
            user_id,
            hash: device_hash,
            now,
        };
        note_device_in(self.pool()?.acquire().await?.as_mut(), &at).await
    }
}

/// One round trip, as a sign-in waits on it: a known device is touched, a new one added (a
/// concurrent sign-in on it may win: then it counts as known). The final SELECT sees the
/// table as it was before, so "others" are other devices.
async fn note_device_in(
    conn: &mut sqlx::PgConnection,
    at: &DeviceAt<'_>,
) -> StoreResult<DeviceSeen> {
    let row = at
        .statement(
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
        .fetch_one(conn)
        .await?;
    Ok(match (row.get::<bool, _>(0), row.get::<bool, _>(1)) {
        (false, _) => DeviceSeen::Known,
        (true, false) => DeviceSeen::First,
        (true, true) => DeviceSeen::New,
    })
}
