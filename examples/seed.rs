//! Fills a nidan database for the load scripts: many accounts and sessions, and accounts
//! with two-step verification waiting in their second step (for the second-step load).
//!
//! seed --data-dir DIR [--database-url URL] --accounts N --sessions M [--second-steps K FILE]
//!
//! FILE gets one line per waiting sign-in: the `nidan_pending` cookie value and the code
//! the account's app shows now (valid for about a minute).

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use nidan::crypto::{Sealer, ServerKey, new_token};
use nidan::store::DbSettings;
use rand::RngCore;
use sqlx::{PgPool, SqlitePool};

struct Args {
    data_dir: String,
    database_url: Option<String>,
    accounts: i64,
    sessions: i64,
    second_steps: Option<(i64, String)>,
    /// Prefix of this run's addresses, so that runs add up instead of colliding.
    batch: String,
}

fn args() -> Args {
    let mut a = Args {
        data_dir: "nidan-data".into(),
        database_url: None,
        accounts: 0,
        sessions: 0,
        second_steps: None,
        batch: format!(
            "seed{}-",
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .expect("clock")
                .as_nanos()
        ),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().expect("a value after each flag");
        match flag.as_str() {
            "--data-dir" => a.data_dir = value(),
            "--database-url" => a.database_url = Some(value()),
            "--accounts" => a.accounts = value().parse().expect("a number"),
            "--sessions" => a.sessions = value().parse().expect("a number"),
            "--second-steps" => {
                let k = value().parse().expect("a number");
                a.second_steps = Some((k, value()));
            }
            other => panic!("unknown flag {other}"),
        }
    }
    a
}

#[tokio::main]
async fn main() {
    let a = args();
    let url = a
        .database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}/nidan.db", a.data_dir));
    // Migrated by nidan itself, so the schema is the real one.
    nidan::store::open(&url, &DbSettings::default())
        .await
        .expect("open the database");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let hash = nidan::crypto::password::hash_blocking("correct horse battery").expect("hash");
    if url.starts_with("sqlite:") {
        let pool = SqlitePool::connect(&url).await.expect("sqlite");
        seed_sqlite(&pool, &a, &hash, now).await;
        if let Some((k, file)) = &a.second_steps {
            let ids = ids(sqlx::query_scalar(
                "SELECT id FROM users WHERE email LIKE ?2 ORDER BY id LIMIT ?1",
            )
            .bind(k)
            .bind(format!("{}%", a.batch))
            .fetch_all(&pool)
            .await);
            let mut tx = pool.begin().await.expect("tx");
            let lines = second_steps(&a.data_dir, &ids, now);
            for (id, sealed, token_hash) in &lines.rows {
                sqlx::query("INSERT INTO totp_credentials (user_id, sealed_secret, last_used_step, enabled_at) VALUES (?1, ?2, 0, ?3)")
                    .bind(id).bind(sealed).bind(now).execute(&mut *tx).await.expect("credential");
                sqlx::query("INSERT INTO pending_logins (token_hash, user_id, created_at, expires_at, failures, next, password_hash) SELECT ?1, ?2, ?3, ?4, 0, '/', password_hash FROM users WHERE id = ?2")
                    .bind(token_hash).bind(id).bind(now).bind(now + 300).execute(&mut *tx).await.expect("pending");
            }
            tx.commit().await.expect("commit");
            write_pairs(file, &lines.pairs);
        }
    } else {
        let pool = PgPool::connect(&url).await.expect("postgres");
        seed_postgres(&pool, &a, &hash, now).await;
        if let Some((k, file)) = &a.second_steps {
            let ids = ids(sqlx::query_scalar(
                "SELECT id FROM users WHERE email LIKE $2 ORDER BY id LIMIT $1",
            )
            .bind(k)
            .bind(format!("{}%", a.batch))
            .fetch_all(&pool)
            .await);
            let mut tx = pool.begin().await.expect("tx");
            let lines = second_steps(&a.data_dir, &ids, now);
            for (id, sealed, token_hash) in &lines.rows {
                sqlx::query("INSERT INTO totp_credentials (user_id, sealed_secret, last_used_step, enabled_at) VALUES ($1, $2, 0, $3)")
                    .bind(id).bind(sealed).bind(now).execute(&mut *tx).await.expect("credential");
                sqlx::query("INSERT INTO pending_logins (token_hash, user_id, created_at, expires_at, failures, next, password_hash) SELECT $1, $2, $3, $4, 0, '/', password_hash FROM users WHERE id = $2")
                    .bind(token_hash).bind(id).bind(now).bind(now + 300).execute(&mut *tx).await.expect("pending");
            }
            tx.commit().await.expect("commit");
            write_pairs(file, &lines.pairs);
        }
    }
    println!(
        "seeded {} accounts, {} sessions{}",
        a.accounts,
        a.sessions,
        a.second_steps
            .as_ref()
            .map_or(String::new(), |(k, _)| format!(
                ", {k} waiting second steps"
            ))
    );
}

fn ids(result: Result<Vec<i64>, sqlx::Error>) -> Vec<i64> {
    result.expect("seeded account ids")
}

struct SecondSteps {
    rows: Vec<(i64, Vec<u8>, Vec<u8>)>,
    pairs: Vec<(String, String)>,
}

/// A TOTP credential and a waiting sign-in per account, sealed as nidan seals them.
fn second_steps(data_dir: &str, ids: &[i64], now: i64) -> SecondSteps {
    let key = ServerKey::load(
        std::env::var("NIDAN_SECRET_KEY").ok().as_deref(),
        data_dir.as_ref(),
    )
    .expect("the server key");
    let sealer = Sealer::new(&key.derive("totp-secrets"));
    let mut rows = Vec::new();
    let mut pairs = Vec::new();
    for &id in ids {
        let mut secret = [0u8; nidan::otp::SECRET_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut secret);
        // The owner string of auth::two_step; a drift shows as failed second steps.
        let sealed = sealer.seal(&secret, format!("nidan totp user:{id}").as_bytes());
        let (token, hash) = new_token();
        rows.push((id, sealed, hash.to_vec()));
        pairs.push((token, nidan::otp::totp::code_at(&secret, now)));
    }
    SecondSteps { rows, pairs }
}

fn write_pairs(path: &str, pairs: &[(String, String)]) {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).expect("pairs file"));
    for (token, code) in pairs {
        writeln!(file, "{token} {code}").expect("write");
    }
}

async fn seed_sqlite(pool: &SqlitePool, a: &Args, hash: &str, now: i64) {
    if a.accounts > 0 {
        sqlx::query(
            "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < ?1)
         INSERT INTO users (email, password_hash, is_admin, created_at, password_changed_at)
         SELECT ?4 || i || '@bench.example', ?2, 0, ?3, ?3 FROM c",
        )
        .bind(a.accounts)
        .bind(hash)
        .bind(now)
        .bind(&a.batch)
        .execute(pool)
        .await
        .expect("accounts");
    }
    if a.sessions == 0 {
        return;
    }
    sqlx::query(
        "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < ?1)
         INSERT INTO sessions (token_hash, user_id, created_at, last_seen_at, expires_at, ip, user_agent)
         SELECT randomblob(32), (SELECT MIN(id) FROM users) + (i % ?2), ?3, ?3, ?3 + 604800,
                '127.0.0.1', 'seed'
         FROM c",
    )
    .bind(a.sessions)
    .bind(a.accounts.max(1))
    .bind(now)
    .execute(pool)
    .await
    .expect("sessions");
}

async fn seed_postgres(pool: &PgPool, a: &Args, hash: &str, now: i64) {
    if a.accounts > 0 {
        sqlx::query(
            "INSERT INTO users (email, password_hash, is_admin, created_at, password_changed_at)
         SELECT $4 || i || '@bench.example', $2, FALSE, $3, $3 FROM generate_series(1, $1) i",
        )
        .bind(a.accounts)
        .bind(hash)
        .bind(now)
        .bind(&a.batch)
        .execute(pool)
        .await
        .expect("accounts");
    }
    if a.sessions == 0 {
        return;
    }
    sqlx::query(
        "INSERT INTO sessions (token_hash, user_id, created_at, last_seen_at, expires_at, ip, user_agent)
         SELECT sha256(($4 || ' session ' || i)::bytea), (SELECT MIN(id) FROM users) + (i % $2),
                $3, $3, $3 + 604800, '127.0.0.1', 'seed'
         FROM generate_series(1, $1) i",
    )
    .bind(a.sessions)
    .bind(a.accounts.max(1))
    .bind(now)
    .bind(&a.batch)
    .execute(pool)
    .await
    .expect("sessions");
}
