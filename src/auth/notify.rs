//! Security notices to the account's owner (email, when configured). `auth` decides when;
//! a `Notifier` delivers, off the request path.

use crate::clock::UnixTime;
use crate::store::Origin;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    PasswordChanged { by_admin: bool },
    TwoStepEnabled,
    TwoStepDisabled { by_admin: bool },
    BackupCodeUsed { left: i64 },
    BackupCodesRegenerated,
    Locked { until: UnixTime },
    NewDevice { origin: Origin },
}

/// Delivers notices; must not block (send in the background) and must not fail the caller.
pub trait Notifier: Send + Sync {
    fn notify(&self, to: &str, notice: Notice, at: UnixTime);
}

/// Notifications off (no SMTP configured).
pub struct NoNotifier;

impl Notifier for NoNotifier {
    fn notify(&self, _to: &str, _notice: Notice, _at: UnixTime) {}
}
