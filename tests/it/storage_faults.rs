//! Storage that cannot take a write. A full disk, for real (SQLite on a small tmpfs, filled
//! to the last byte), and SQLite's write lock held elsewhere: writes answer 503 with
//! Retry-After, `/readyz` turns 503, nothing is changed half-way, and everything works
//! again as soon as it can, without a restart.

use std::io::Write;
use std::path::PathBuf;
use std::process::Command;

use crate::common::*;

/// A tmpfs of `size`, mounted on a temporary directory until dropped (mounting needs root;
/// CI runs as root).
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Tmpfs {
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir.path())
            .status()
            .expect("mount(8)");
        assert!(status.success(), "mounting a tmpfs needs root");
        Tmpfs { dir }
    }

    /// Takes every byte left with one file; returns it.
    fn fill(&self) -> PathBuf {
        let path = self.dir.path().join("filler");
        let mut file = std::fs::File::create(&path).unwrap();
        let chunk = vec![0u8; 4096];
        while file.write_all(&chunk).is_ok() {}
        while file.write_all(&[0]).is_ok() {}
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

#[tokio::test]
async fn a_full_disk_answers_503_changes_nothing_and_recovers_alone() {
    let tmpfs = Tmpfs::mount("8m");
    let dir = tempfile::tempdir_in(tmpfs.dir.path()).unwrap();
    let db = TestDb::sqlite(dir.path());
    let app = TestApp::with_admin_on(AppData { dir, db }, config).await;
    assert_is_redirect_to(&app.login(ADMIN_EMAIL, PASSWORD).await, "/");
    assert_eq!(app.get("/readyz").await.status(), 200);
    let sessions = app.db_i64("SELECT COUNT(*) FROM sessions").await;
    let events = app.db_i64("SELECT COUNT(*) FROM audit_events").await;

    let filler = tmpfs.fill();
    // Sign-ins from new browsers: each needs to write. The first that cannot is a 503.
    let mut refused = None;
    for _ in 0..20 {
        let resp = app.login_in(&client()).await;
        if resp.status() == 503 {
            refused = Some(resp);
            break;
        }
        assert_is_redirect_to(&resp, "/");
    }
    let refused = refused.expect("a sign-in on a full disk is refused");
    assert_eq!(refused.headers()["retry-after"], "5");
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("ただいまサービスを利用できません"),
        "the page says to come back, not that something broke"
    );
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 503);
    assert_eq!(ready.headers()["retry-after"], "5");
    let api = app.api_login(ADMIN_EMAIL, PASSWORD).await;
    assert_eq!(api.status(), 503);
    assert_eq!(api.headers()["retry-after"], "5");

    // Room again: ready at once, and sign-in works; the refused ones left nothing behind.
    std::fs::remove_file(filler).unwrap();
    assert!(app.ready_within(20).await, "ready again without a restart");
    let sessions_after = app.db_i64("SELECT COUNT(*) FROM sessions").await;
    let signed_in_meanwhile = sessions_after - sessions;
    let events_after = app.db_i64("SELECT COUNT(*) FROM audit_events").await;
    assert_eq!(
        events_after - events,
        signed_in_meanwhile,
        "one audit event per sign-in that went through, none for the refused"
    );
    assert_is_redirect_to(&app.login_in(&client()).await, "/");
    let check = app
        .db_i64("SELECT COUNT(*) FROM pragma_integrity_check WHERE integrity_check = 'ok'")
        .await;
    assert_eq!(check, 1, "the database is intact");
}

#[tokio::test]
async fn a_write_lock_held_elsewhere_is_a_503_not_a_500() {
    use sqlx::Connection;
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::sqlite(dir.path());
    let url = db.url.clone();
    let app = TestApp::with_admin_on(AppData { dir, db }, config).await;
    // Another process (a hand-run sqlite3, say) takes the write lock and keeps it past
    // nidan's 5 s busy timeout.
    let mut other = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut other)
        .await
        .unwrap();
    let api = app.api_login(ADMIN_EMAIL, PASSWORD).await;
    assert_eq!(api.status(), 503);
    assert_eq!(api.headers()["retry-after"], "5");
    sqlx::query("ROLLBACK").execute(&mut other).await.unwrap();
    let resp = app.api_login(ADMIN_EMAIL, PASSWORD).await;
    assert_eq!(resp.status(), 200, "works again once the lock is gone");
}
