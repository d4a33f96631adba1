//! Security notices to the account's owner (email, when configured). `auth` decides when;
//! a `Notifier` delivers, off the request path.

use crate::clock::UnixTime;
use crate::store::Origin;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// 「パスワードをお忘れの方」: the link to choose a new password, valid until `expires_at`.
    PasswordResetLink {
        link: SecretLink,
        expires_at: UnixTime,
    },
    /// A new password was chosen through such a link.
    PasswordReset,
    /// `nidan user invite`: the link to choose a password for a new account.
    Invitation {
        link: SecretLink,
        expires_at: UnixTime,
    },
    /// The link, to the new address, that makes it the account's address.
    EmailChangeLink {
        link: SecretLink,
        expires_at: UnixTime,
    },
    /// To the old address: a change to `new_email` was asked for (no link).
    EmailChangeRequested {
        new_email: String,
    },
    /// To the old address: the account's address is now `new_email`.
    EmailChanged {
        new_email: String,
    },
    PasswordChanged {
        by_admin: bool,
    },
    TwoStepEnabled,
    TwoStepDisabled {
        by_admin: bool,
    },
    BackupCodeUsed {
        left: i64,
    },
    BackupCodesRegenerated,
    Locked {
        until: UnixTime,
    },
    NewDevice {
        origin: Origin,
    },
}

/// A link that opens something by itself (a reset): never shown in logs or debug output.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretLink(pub String);

impl std::fmt::Debug for SecretLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretLink(<redacted>)")
    }
}

impl super::AuthService {
    /// Where links in emails point: the public URL and the pages prefix.
    pub fn with_link_base(mut self, base: &str) -> Self {
        self.link_base = base.trim_end_matches('/').into();
        self
    }

    /// A link in an email: `path` (with its query) under the public URL and pages prefix.
    pub(super) fn emailed_link(&self, path: &str) -> SecretLink {
        SecretLink(format!("{}{path}", self.link_base))
    }

    /// Whether links can reach people by email here (a reset, a change of address): SMTP
    /// and a public URL are set.
    pub fn links_by_email(&self) -> bool {
        self.notifier.delivers() && !self.link_base.is_empty()
    }
}

/// Delivers notices; must not block (send in the background) and must not fail the caller.
pub trait Notifier: Send + Sync {
    fn notify(&self, to: &str, notice: Notice, at: UnixTime);
    /// Whether notices reach anyone (a link by email needs it).
    fn delivers(&self) -> bool {
        true
    }
}

/// Notifications off (no SMTP configured).
pub struct NoNotifier;

impl Notifier for NoNotifier {
    fn notify(&self, _to: &str, _notice: Notice, _at: UnixTime) {}
    fn delivers(&self) -> bool {
        false
    }
}
