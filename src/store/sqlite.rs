//! The embedded default backend: one SQLite file in WAL mode.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{FromRow, Row};

use super::sql::shared_store;
use super::*;

/// One writer and a pool of readers: in WAL mode readers never wait for the writer, and
/// writers queue in the writer's pool (first come, first served) instead of fighting for
/// SQLite's write lock, whose busy handler sleeps between retries.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// The one connection that writes; also every transaction, and reads that must see a
    /// write of the same use case.
    pool: SqlitePool,
    /// Statements that only read (`query_only`); the writer's pool itself in memory,
    /// where another connection would open another database.
    readers: SqlitePool,
    /// The database file; `None` in memory.
    file: Option<std::path::PathBuf>,
}

/// Below this much free space the database counts as full for `/readyz`: a write that
/// fits into the WAL's reused frames proves nothing, and a sign-in takes some 30 KiB.
const MIN_FREE_BYTES: u64 = 1024 * 1024;

/// Free bytes for an unprivileged writer on the file system holding `path`.
fn free_bytes(path: &std::path::Path) -> std::io::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let c_path = std::ffi::CString::new(dir.as_os_str().as_bytes())?;
    // SAFETY: statvfs reads a NUL-terminated path and fills the struct it is given.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c_path.as_ptr(), &mut stat) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    #[allow(clippy::unnecessary_cast)] // the field types differ between systems
    Ok(stat.f_bavail as u64 * stat.f_frsize as u64)
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("src/store/migrations/sqlite");

impl SqliteStore {
    pub async fn connect(url: &str, settings: &DbSettings) -> StoreResult<Self> {
        let options = SqliteConnectOptions::from_str(url)?;
        // Made private before SQLite opens it: its WAL and shared-memory files take the
        // database file's mode.
        let file = options.get_filename().to_owned();
        let in_memory = file.to_string_lossy().starts_with("file:sqlx-in-memory-");
        if !in_memory {
            private_file(&file)?;
        }
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            // The CLI writes while a server runs: wait for the lock instead of failing.
            .busy_timeout(Duration::from_secs(5));
        let pool = pool_options(1).connect_with(options.clone()).await?;
        let readers = if in_memory {
            pool.clone()
        } else {
            pool_options(settings.max_connections)
                .connect_with(options.create_if_missing(false).pragma("query_only", "ON"))
                .await?
        };
        Ok(Self {
            pool,
            readers,
            file: (!in_memory).then_some(file),
        })
    }
}

fn pool_options(max_connections: u32) -> SqlitePoolOptions {
    SqlitePoolOptions::new()
        .max_connections(max_connections)
        // No far end to lose: sqlx's ping before every statement is a wasted
        // round trip to the connection's worker thread.
        .test_before_acquire(false)
        // A connection that comes back still in a transaction (a COMMIT refused on a full
        // disk can leave SQLite's idea of it and sqlx's apart) would hold the write lock
        // for ever: close it instead.
        .after_release(|conn, _| {
            use sqlx::Connection;
            let clean = !conn.is_in_transaction();
            Box::pin(async move { Ok(clean) })
        })
}

/// Creates `path` readable by its owner only.
fn new_private_file(path: &std::path::Path) -> std::io::Result<()> {
    let mut open = std::fs::OpenOptions::new();
    open.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
    open.open(path).map(drop)
}

/// The database file (and its WAL and shared-memory files, when there) readable by its
/// owner only: created so, or narrowed when an older nidan left it readable by others.
fn private_file(path: &std::path::Path) -> StoreResult<()> {
    let err = |source| StoreError::File {
        path: path.to_owned(),
        source,
    };
    if !path.exists() {
        return match new_private_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => Err(err(e)),
            _ => Ok(()),
        };
    }
    #[cfg(unix)]
    for suffix in ["", "-wal", "-shm"] {
        use std::os::unix::fs::PermissionsExt;
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        let file = std::path::Path::new(&name);
        if let Ok(meta) = std::fs::metadata(file)
            && meta.permissions().mode() & 0o077 != 0
        {
            std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600)).map_err(err)?;
        }
    }
    Ok(())
}

shared_store!(SqliteStore, sqlx::Sqlite);

impl SqliteStore {
    /// Room for a sign-in's writes: a write into reused WAL frames proves nothing.
    fn room_to_write(&self) -> StoreResult<()> {
        let Some(file) = &self.file else {
            return Ok(());
        };
        let free = free_bytes(file).map_err(|source| StoreError::File {
            path: file.clone(),
            source,
        })?;
        if free < MIN_FREE_BYTES {
            return Err(StoreError::Full { free });
        }
        Ok(())
    }

    async fn backup_here(&self, path: &std::path::Path) -> StoreResult<()> {
        // A new, empty, private file (VACUUM INTO takes an empty one): the copy holds
        // everything the database does.
        new_private_file(path).map_err(|source| StoreError::File {
            path: path.to_owned(),
            source,
        })?;
        // VACUUM INTO writes a consistent snapshot while others keep reading and writing.
        let copied = sqlx::query("VACUUM INTO $1")
            .bind(path.to_string_lossy().as_ref())
            .execute(&self.pool)
            .await;
        if let Err(e) = copied {
            let _ = std::fs::remove_file(path);
            return Err(e.into());
        }
        Ok(())
    }

    /// Always the writer: a file has no far end to lose.
    fn pool(&self) -> StoreResult<&SqlitePool> {
        Ok(&self.pool)
    }

    /// For statements that only read.
    fn reader(&self) -> StoreResult<&SqlitePool> {
        Ok(&self.readers)
    }

    fn pools(&self) -> Vec<&SqlitePool> {
        match self.file {
            Some(_) => vec![&self.pool, &self.readers],
            None => vec![&self.pool],
        }
    }

    /// When the first of `keys` stays locked, and whether any of them counts attempts.
    async fn throttle_state(
        &self,
        keys: &[&str],
        now: UnixTime,
    ) -> StoreResult<(Option<i64>, i64)> {
        // Callers pass one or two keys: two statements in the cache at most.
        let placeholders = (2..keys.len() + 2)
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT MAX(CASE WHEN locked_until > $1 THEN locked_until END), COUNT(*)
             FROM throttles WHERE key IN ({placeholders})"
        );
        let mut query = sqlx::query_as(&sql).bind(now);
        for key in keys {
            query = query.bind(*key);
        }
        Ok(query.fetch_one(&self.readers).await?)
    }

    /// The usual case, a device seen before, is one indexed update; a new one is added in
    /// a short transaction (SQLite cannot update inside a `WITH`).
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
        let mut conn = self.pool.acquire().await?;
        if touch_device(&mut conn, &at).await? {
            return Ok(DeviceSeen::Known);
        }
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        let seen = add_device(&mut tx, &at).await?;
        tx.commit().await?;
        Ok(seen)
    }
}

/// Inside the caller's transaction: a known device touched, a new one added.
async fn note_device_in(
    conn: &mut sqlx::SqliteConnection,
    at: &DeviceAt<'_>,
) -> StoreResult<DeviceSeen> {
    if touch_device(&mut *conn, at).await? {
        return Ok(DeviceSeen::Known);
    }
    add_device(conn, at).await
}

async fn touch_device(conn: &mut sqlx::SqliteConnection, at: &DeviceAt<'_>) -> StoreResult<bool> {
    let seen = at
        .statement(
            "UPDATE known_devices SET last_seen = $3 WHERE user_id = $1 AND device_hash = $2",
        )
        .execute(conn)
        .await?;
    Ok(seen.rows_affected() > 0)
}

async fn add_device(
    conn: &mut sqlx::SqliteConnection,
    at: &DeviceAt<'_>,
) -> StoreResult<DeviceSeen> {
    let added = at
        .statement(
            "INSERT INTO known_devices (user_id, device_hash, first_seen, last_seen)
             VALUES ($1, $2, $3, $3) ON CONFLICT (user_id, device_hash) DO NOTHING",
        )
        .execute(&mut *conn)
        .await?;
    // Stops at the first other device: the cost does not grow with the account's devices.
    let others: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM known_devices WHERE user_id = $1 AND device_hash <> $2)",
    )
    .bind(at.user_id)
    .bind(at.hash.as_slice())
    .fetch_one(conn)
    .await?;
    Ok(match (added.rows_affected(), others) {
        (0, _) => DeviceSeen::Known,
        (_, false) => DeviceSeen::First,
        (_, true) => DeviceSeen::New,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn store_in(dir: &std::path::Path) -> SqliteStore {
        let url = format!("sqlite://{}", dir.join("nidan.db").display());
        let settings = DbSettings {
            max_connections: 2,
            ..DbSettings::default()
        };
        let store = SqliteStore::connect(&url, &settings).await.unwrap();
        store.migrate().await.unwrap();
        store
    }

    #[tokio::test]
    async fn reads_go_on_while_the_writer_is_in_a_transaction() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_in(dir.path()).await;
        // A slow use case holding the one writer, half-way through its writes.
        let mut tx = store.pool.begin().await.unwrap();
        sqlx::query("UPDATE server_meta SET value = value")
            .execute(&mut *tx)
            .await
            .unwrap();
        let read = tokio::time::timeout(Duration::from_secs(5), store.count_users()).await;
        assert_eq!(read.expect("a read waited for the writer").unwrap(), 0);
        tx.rollback().await.unwrap();
    }

    #[tokio::test]
    async fn readers_cannot_write() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_in(dir.path()).await;
        let refused = sqlx::query("DELETE FROM server_meta")
            .execute(store.reader().unwrap())
            .await
            .unwrap_err();
        assert!(
            refused.to_string().contains("readonly"),
            "not refused as read-only: {refused}"
        );
    }
}
