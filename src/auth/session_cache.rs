//! A short-lived copy of recently seen sessions, so that forward-auth and page views do not
//! ask the database on every request. An entry lives at most `ttl` (1 s by default): a
//! session ended elsewhere (another instance, the CLI) stops working within that time;
//! one ended here is forgotten at once.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use crate::clock::UnixTime;
use crate::crypto::TokenHash;
use crate::store::{SessionRecord, UserId};

/// Beyond this many entries the cache starts over (a flood of distinct valid sessions).
const MAX_ENTRIES: usize = 100_000;

pub(crate) struct SessionCache {
    ttl: Duration,
    entries: RwLock<HashMap<TokenHash, (Instant, SessionRecord)>>,
}

impl SessionCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: RwLock::new(HashMap::new()),
        }
    }

    // A panic while holding the lock leaves plain data behind: keep using it.
    fn entries(
        &self,
    ) -> std::sync::RwLockWriteGuard<'_, HashMap<TokenHash, (Instant, SessionRecord)>> {
        self.entries.write().unwrap_or_else(|e| e.into_inner())
    }

    pub fn get(&self, hash: &TokenHash) -> Option<SessionRecord> {
        if self.ttl.is_zero() {
            return None;
        }
        // Hits (nearly every request) share the lock; only a stale entry takes it alone.
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        match entries.get(hash) {
            Some((fetched, record)) if fetched.elapsed() < self.ttl => Some(record.clone()),
            Some(_) => {
                drop(entries);
                self.entries().remove(hash);
                None
            }
            None => None,
        }
    }

    pub fn put(&self, hash: TokenHash, record: SessionRecord) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries();
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(hash, (Instant::now(), record));
    }

    /// The session was written back as seen at `now`.
    pub fn touched(&self, hash: &TokenHash, now: UnixTime) {
        if let Some((_, record)) = self.entries().get_mut(hash) {
            record.last_seen_at = now;
        }
    }

    pub fn forget(&self, hash: &TokenHash) {
        self.entries().remove(hash);
    }

    /// Every session of the account (they were rotated or ended together).
    pub fn forget_user(&self, user_id: UserId) {
        self.entries().retain(|_, (_, r)| r.user_id != user_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(user_id: UserId) -> SessionRecord {
        SessionRecord {
            user_id,
            email: "a@b.jp".into(),
            is_admin: false,
            two_factor: false,
            created_at: 0,
            last_seen_at: 0,
            expires_at: 100,
        }
    }

    #[test]
    fn entries_expire_and_can_be_forgotten() {
        let cache = SessionCache::new(Duration::from_millis(30));
        cache.put([1; 32], record(1));
        cache.put([2; 32], record(2));
        assert_eq!(cache.get(&[1; 32]), Some(record(1)));
        cache.touched(&[1; 32], 50);
        assert_eq!(cache.get(&[1; 32]).unwrap().last_seen_at, 50);
        cache.forget_user(1);
        assert_eq!(cache.get(&[1; 32]), None);
        cache.forget(&[2; 32]);
        assert_eq!(cache.get(&[2; 32]), None);
        cache.put([3; 32], record(3));
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(cache.get(&[3; 32]), None, "older than the ttl");
        let off = SessionCache::new(Duration::ZERO);
        off.put([4; 32], record(4));
        assert_eq!(off.get(&[4; 32]), None);
    }
}
