//! The one-time things are one-time at the storage level: many tasks race on one
//! database and exactly one wins. (The HTTP tests rarely overlap closely enough.)

use std::sync::Arc;

use nidan::store::{self, DbSettings, NewUser, SessionBasis, SessionRotation, Store};

use crate::common::AppData;

async fn store_with_totp_user() -> (AppData, Arc<dyn Store>, i64) {
    let data = AppData::new().await;
    let settings = DbSettings {
        max_connections: 20,
        ..DbSettings::default()
    };
    let store = store::open(&data.db.url, &settings).await.unwrap();
    let user = store
        .create_user(
            NewUser {
                email: "race@example.jp".into(),
                password_hash: "$argon2id$unused".into(),
                is_admin: false,
                now: 1_000,
            },
            &[],
        )
        .await
        .unwrap();
    let codes: Vec<[u8; 32]> = (0..10u8).map(|i| [i; 32]).collect();
    let rotation = SessionRotation {
        token: [9; 32],
        now: 1_000,
        expires_at: 9_000,
        origin: Default::default(),
        replaces: None,
        password_hash: None,
    };
    store
        .enable_totp(user.id, b"sealed", 10, &codes, &rotation, &[])
        .await
        .unwrap();
    (data, store, user.id)
}

/// Runs `n` copies of `f` at once and counts the `true`s.
async fn race<F, Fut>(n: usize, f: F) -> usize
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool> + Send + 'static,
{
    let barrier = Arc::new(tokio::sync::Barrier::new(n));
    let mut tasks = Vec::new();
    for _ in 0..n {
        let fut = f();
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            fut.await
        }));
    }
    let mut wins = 0;
    for t in tasks {
        wins += usize::from(t.await.unwrap());
    }
    wins
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_totp_step_is_claimed_exactly_once() {
    let (_dir, store, user) = store_with_totp_user().await;
    for step in [11, 12, 13] {
        let wins = race(20, || {
            let store = store.clone();
            async move { store.advance_totp_step(user, step).await.unwrap() }
        })
        .await;
        assert_eq!(wins, 1, "step {step}");
    }
    assert!(
        !store.advance_totp_step(user, 12).await.unwrap(),
        "no going back"
    );
    assert_eq!(
        store
            .totp_credential(user)
            .await
            .unwrap()
            .unwrap()
            .last_used_step,
        13
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_code_is_spent_exactly_once() {
    let (_dir, store, user) = store_with_totp_user().await;
    let wins = race(20, || {
        let store = store.clone();
        async move {
            store
                .spend_backup_code(user, &[3; 32], 2_000)
                .await
                .unwrap()
        }
    })
    .await;
    assert_eq!(wins, 1);
    assert_eq!(store.backup_codes_left(user).await.unwrap(), 9);
    assert!(
        !store
            .spend_backup_code(user, &[42; 32], 2_000)
            .await
            .unwrap(),
        "unknown code"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pending_sign_in_is_taken_exactly_once() {
    let (_dir, store, user) = store_with_totp_user().await;
    let checked = "$argon2id$unused";
    assert!(
        !store
            .insert_pending_login(&[8; 32], user, 1_000, 1_300, "/", "$argon2id$another")
            .await
            .unwrap(),
        "a password the account no longer has proves nothing"
    );
    assert!(
        store
            .insert_pending_login(&[7; 32], user, 1_000, 1_300, "/", checked)
            .await
            .unwrap()
    );
    let wins = race(20, || {
        let store = store.clone();
        async move { store.take_pending_login(&[7; 32]).await.unwrap() }
    })
    .await;
    assert_eq!(wins, 1);
}

/// A sign-in whose password was checked before the account changed (2FA turned on, a new
/// password) gets no session: the change ended every other session and must end this one too.
#[tokio::test]
async fn a_session_is_stored_only_while_the_account_is_as_it_was_checked() {
    let (_data, store, user_id) = store_with_totp_user().await;
    let origin = Default::default();
    let insert = |token: u8, password_hash: &'static str, two_step: bool| {
        let store = store.clone();
        let origin: nidan::store::Origin = Clone::clone(&origin);
        async move {
            let basis = SessionBasis {
                password_hash,
                two_step,
            };
            store
                .insert_session(&[token; 32], user_id, 1_100, 9_000, &origin, basis, &[])
                .await
                .unwrap()
        }
    };
    assert!(
        !insert(1, "$argon2id$unused", false).await,
        "2FA went on meanwhile"
    );
    assert!(
        !insert(2, "$argon2id$older", true).await,
        "password changed meanwhile"
    );
    assert!(insert(3, "$argon2id$unused", true).await);
    assert!(store.session(&[1; 32]).await.unwrap().is_none());
    assert!(store.session(&[3; 32]).await.unwrap().is_some());
}

#[tokio::test]
async fn a_reset_link_is_stored_only_while_the_account_keeps_its_address_and_password() {
    // The lookup and the insert are two steps: an email change confirmed between them must
    // not leave a link that was meant for the old address.
    let (_data, store, id) = store_with_totp_user().await;
    let (now, until) = (1_000, 2_800);
    let hash = "$argon2id$unused";
    let stored = |token: u8, email: &'static str, password: &'static str| {
        let store = store.clone();
        async move {
            store
                .insert_password_reset(&[token; 32], id, email, now, until, password)
                .await
                .unwrap()
        }
    };
    assert!(!stored(1, "old@example.jp", hash).await, "another address");
    assert!(
        !stored(2, "race@example.jp", "$argon2id$other").await,
        "another password"
    );
    assert!(stored(3, "race@example.jp", hash).await);
}
