//! Time as a dependency: production reads the system clock, tests move a manual one.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch. Every stored time in nidan is one of these.
pub type UnixTime = i64;

/// `2026-11-25 10:59 UTC`: how pages and emails show a time.
pub fn format_utc(at: UnixTime) -> String {
    match time::OffsetDateTime::from_unix_timestamp(at) {
        Ok(t) => format!("{} UTC", &date_and_time(t)[..16]),
        Err(_) => at.to_string(),
    }
}

/// `2026-11-25 10:59:07`, UTC to the second: the audit trail's text form, where events
/// a few seconds apart (a storm of wrong codes) must stay apart.
pub fn format_utc_seconds(at: UnixTime) -> String {
    match time::OffsetDateTime::from_unix_timestamp(at) {
        Ok(t) => date_and_time(t),
        Err(_) => at.to_string(),
    }
}

fn date_and_time(t: time::OffsetDateTime) -> String {
    format!(
        "{}-{:02}-{:02} {:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

pub trait Clock: Send + Sync + 'static {
    /// Milliseconds since the Unix epoch: for what lives less than a second or two (the
    /// session cache), where whole seconds are too coarse.
    fn now_millis(&self) -> i64;

    fn now(&self) -> UnixTime {
        self.now_millis().div_euclid(1000)
    }
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_millis(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    }
}

/// A clock that only moves when told to; shared between a test and the app it drives.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    pub fn new(start: UnixTime) -> Self {
        Self(Arc::new(AtomicI64::new(start * 1000)))
    }

    pub fn set(&self, t: UnixTime) {
        self.0.store(t * 1000, Ordering::SeqCst);
    }

    pub fn advance(&self, seconds: i64) {
        self.advance_millis(seconds * 1000);
    }

    pub fn advance_millis(&self, millis: i64) {
        self.0.fetch_add(millis, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_millis(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::new(1_000);
        let shared = clock.clone();
        assert_eq!(clock.now(), 1_000);
        shared.advance(30);
        assert_eq!(clock.now(), 1_030);
        shared.set(5);
        assert_eq!(clock.now(), 5);
        shared.advance_millis(999);
        assert_eq!((clock.now(), clock.now_millis()), (5, 5_999));
        shared.advance_millis(1);
        assert_eq!(clock.now(), 6);
    }

    #[test]
    fn system_clock_is_after_2020() {
        assert!(SystemClock.now() > 1_577_836_800);
    }
}
