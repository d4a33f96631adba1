//! Readiness, online backup and restore, and upgrades that keep every stored thing.

use std::borrow::Cow;

use crate::common::*;

#[tokio::test]
async fn health_and_readiness() {
    let app = spawn_app().await;
    let health = app.get("/healthz").await;
    assert_eq!(health.status(), 200);
    assert_eq!(health.text().await.unwrap(), "ok");
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 200);
    assert_eq!(ready.text().await.unwrap(), "ready");
}

#[tokio::test]
async fn online_backup_restores_accounts_and_two_step_verification() {
    let app = TestApp::with_admin().await;
    let enrolled = app.sign_in_and_enable_2fa().await;
    let file = app.data.dir.path().join("copy.db");
    let file_arg = file.to_str().unwrap();
    let out = app.cli(&["backup", file_arg], None);
    if on_postgres() {
        assert_cli_fails(&out, "pg_dump");
        return;
    }
    assert!(out.status.success(), "{}", stderr(&out));
    assert_cli_fails(&app.cli(&["backup", file_arg], None), "exists already");
    // The copy, the database and its WAL files hold password hashes and sealed secrets.
    for name in ["copy.db", "nidan.db", "nidan.db-wal", "nidan.db-shm"] {
        use std::os::unix::fs::PermissionsExt;
        let path = app.data.dir.path().join(name);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{name}: {mode:o}");
    }

    // Restore: the copy as the database of a new data directory, with the same key.
    let restored = AppData::new().await;
    std::fs::copy(&file, restored.dir.path().join("nidan.db")).unwrap();
    std::fs::copy(
        app.data.dir.path().join("secret.key"),
        restored.dir.path().join("secret.key"),
    )
    .unwrap();
    let clock = app.clock.clone();
    let copy = spawn_with_clock(restored, config, clock).await;
    assert_eq!(copy.setup_url, None, "the account came along");
    let browser = copy.password_step().await;
    copy.clock.advance(30);
    let code = copy.code_now(&enrolled.secret);
    assert_is_redirect_to(&copy.send_code(&browser, "/login/2fa", &code).await, "/");
    let b = copy.password_step().await;
    assert_is_redirect_to(
        &copy
            .send_code(&b, "/login/backup", &enrolled.backup_codes[0])
            .await,
        "/mypage?notice=backup_used",
    );
}

#[tokio::test]
async fn a_database_at_the_first_schema_version_upgrades_without_loss() {
    let data = AppData::new().await;
    let dir = if on_postgres() { "postgres" } else { "sqlite" };
    let mut first = sqlx::migrate::Migrator::new(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("src/store/migrations")
            .join(dir),
    )
    .await
    .unwrap();
    first.migrations = Cow::Owned(
        first
            .migrations
            .iter()
            .filter(|m| m.version == 1)
            .cloned()
            .collect(),
    );
    // Version 1 with an account in it, made by the CLI of that time's schema.
    let url = &data.db.url;
    if on_postgres() {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        first.run(&pool).await.unwrap();
        pool.close().await;
    } else {
        let opts: sqlx::sqlite::SqliteConnectOptions = url.parse().unwrap();
        let pool = sqlx::SqlitePool::connect_with(opts.create_if_missing(true))
            .await
            .unwrap();
        first.run(&pool).await.unwrap();
        pool.close().await;
    }
    assert_eq!(
        data.db.i64("SELECT COUNT(*) FROM _sqlx_migrations").await,
        1
    );
    let hash = nidan::crypto::PasswordHasher::new()
        .hash(&secrecy::SecretString::from(PASSWORD.to_owned()))
        .await;
    let insert = format!(
        "INSERT INTO users (email, password_hash, is_admin, created_at, password_changed_at) \
         VALUES ('old@example.jp', '{hash}', TRUE, 1, 1)"
    );
    data.db.exec(&insert).await;

    // The newest build migrates at start and keeps the account.
    let app = spawn_in(data, config).await;
    assert_eq!(app.setup_url, None);
    assert_eq!(
        app.db_i64("SELECT COUNT(*) FROM users WHERE email = 'old@example.jp'")
            .await,
        1
    );
    assert!(app.db_i64("SELECT COUNT(*) FROM _sqlx_migrations").await >= 2);
    assert_eq!(app.get("/readyz").await.status(), 200);
    let listed = stdout(&app.cli(&["user", "list"], None));
    assert!(listed.contains("old@example.jp"), "{listed}");
    // The password stored under schema 1 still signs in.
    assert_is_redirect_to(&app.login("old@example.jp", PASSWORD).await, "/");
}
