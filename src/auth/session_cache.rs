//! A short-lived copy of recently seen sessions, so that forward-auth and page views do not
//! ask the database on every request. An entry lives at most `ttl` (1 s by default) by the
//! service's clock: a session ended elsewhere (another instance, the CLI) stops working
//! within that time; one ended here is forgotten at once.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::clock::{Clock, UnixTime};
use crate::crypto::TokenHash;
use crate::store::{SessionRecord, UserId};

/// Beyond this many entries the cache starts over (a flood of distinct valid sessions).
const MAX_ENTRIES: usize = 100_000;

/// When an entry was fetched, in the clock's milliseconds.
type Fetched = i64;

pub(crate) struct SessionCache {
    ttl_millis: i64,
    clock: Arc<dyn Clock>,
    entries: RwLock<HashMap<TokenHash, (Fetched, SessionRecord)>>,
}

impl SessionCache {
    pub fn new(ttl: Duration, clock: Arc<dyn Clock>) -> Self {
        Self {
            ttl_millis: i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX),
            clock,
            entries: RwLock::new(HashMap::new()),
        }
    }

    // A panic while holding the lock leaves plain data behind: keep using it.
    fn entries(
        &self,
    ) -> std::sync::RwLockWriteGuard<'_, HashMap<TokenHash, (Fetched, SessionRecord)>> {
        self.entries.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Younger than the ttl; an entry from the future (the system clock set back) is not.
    fn fresh(&self, fetched: Fetched) -> bool {
        let age = self.clock.now_millis() - fetched;
        (0..self.ttl_millis).contains(&age)
    }

    pub fn get(&self, hash: &TokenHash) -> Option<SessionRecord> {
        if self.ttl_millis == 0 {
            return None;
        }
        // Hits (nearly every request) share the lock; only a stale entry takes it alone.
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        match entries.get(hash) {
            Some((fetched, record)) if self.fresh(*fetched) => Some(record.clone()),
            Some(_) => {
                drop(entries);
                self.entries().remove(hash);
                None
            }
            None => None,
        }
    }

    pub fn put(&self, hash: TokenHash, record: SessionRecord) {
        if self.ttl_millis == 0 {
            return;
        }
        let mut entries = self.entries();
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(hash, (self.clock.now_millis(), record));
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
    use crate::clock::ManualClock;

    fn record(user_id: UserId) -> SessionRecord {
        SessionRecord {
            user_id,
            email: "a@b.jp".into(),
            is_admin: false,
            two_step: false,
            created_at: 0,
            last_seen_at: 0,
            expires_at: 100,
        }
    }

    #[test]
    fn entries_expire_and_can_be_forgotten() {
        let clock = ManualClock::new(1_000);
        let cache = SessionCache::new(Duration::from_millis(30), Arc::new(clock.clone()));
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
        clock.advance_millis(29);
        assert_eq!(cache.get(&[3; 32]), Some(record(3)));
        clock.advance_millis(1);
        assert_eq!(cache.get(&[3; 32]), None, "as old as the ttl");
        cache.put([5; 32], record(5));
        clock.set(999);
        assert_eq!(cache.get(&[5; 32]), None, "the clock went back");
        let off = SessionCache::new(Duration::ZERO, Arc::new(clock));
        off.put([4; 32], record(4));
        assert_eq!(off.get(&[4; 32]), None);
    }
}
