//! The audit trail's events as the code knows them: a kind and what it says beyond that,
//! typed. Stored as two short texts (`kind`, `detail`) that `nidan audit` prints as they are;
//! read back into these types here, in one place.

/// What happened. The names are stored and printed by `nidan audit`; never rename one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    AccountCreated,
    AccountDeleted,
    SignInOk,
    SignInFailed,
    /// The password was right; the second step is due.
    PasswordAccepted,
    SecondStepOk,
    SecondStepFailed,
    BackupCodeUsed,
    Locked,
    Unlocked,
    TwoStepEnabled,
    TwoStepDisabled,
    BackupCodesRegenerated,
    TwoStepReset,
    PasswordChanged,
    SessionEnded,
    SignedOut,
    /// Someone asked for a link to choose a new password (「パスワードをお忘れの方」).
    PasswordResetRequested,
    /// A new password was chosen through such a link.
    PasswordReset,
    /// An administrator invited the address (`nidan user invite`).
    InvitationSent,
    InvitationRevoked,
    /// The account's owner asked for a new address; a link went to it.
    EmailChangeRequested,
    /// The link was opened: the account has its new address.
    EmailChanged,
}

impl EventKind {
    pub const ALL: [EventKind; 23] = [
        EventKind::AccountCreated,
        EventKind::AccountDeleted,
        EventKind::SignInOk,
        EventKind::SignInFailed,
        EventKind::PasswordAccepted,
        EventKind::SecondStepOk,
        EventKind::SecondStepFailed,
        EventKind::BackupCodeUsed,
        EventKind::Locked,
        EventKind::Unlocked,
        EventKind::TwoStepEnabled,
        EventKind::TwoStepDisabled,
        EventKind::BackupCodesRegenerated,
        EventKind::TwoStepReset,
        EventKind::PasswordChanged,
        EventKind::SessionEnded,
        EventKind::SignedOut,
        EventKind::PasswordResetRequested,
        EventKind::PasswordReset,
        EventKind::InvitationSent,
        EventKind::InvitationRevoked,
        EventKind::EmailChangeRequested,
        EventKind::EmailChanged,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::AccountCreated => "account_created",
            EventKind::AccountDeleted => "account_deleted",
            EventKind::SignInOk => "sign_in_ok",
            EventKind::SignInFailed => "sign_in_failed",
            EventKind::PasswordAccepted => "password_accepted",
            EventKind::SecondStepOk => "second_step_ok",
            EventKind::SecondStepFailed => "second_step_failed",
            EventKind::BackupCodeUsed => "backup_code_used",
            EventKind::Locked => "locked",
            EventKind::Unlocked => "unlocked",
            EventKind::TwoStepEnabled => "two_factor_enabled",
            EventKind::TwoStepDisabled => "two_factor_disabled",
            EventKind::BackupCodesRegenerated => "backup_codes_regenerated",
            EventKind::TwoStepReset => "two_factor_reset",
            EventKind::PasswordChanged => "password_changed",
            EventKind::PasswordResetRequested => "password_reset_requested",
            EventKind::PasswordReset => "password_reset",
            EventKind::InvitationSent => "invitation_sent",
            EventKind::InvitationRevoked => "invitation_revoked",
            EventKind::EmailChangeRequested => "email_change_requested",
            EventKind::EmailChanged => "email_changed",
            EventKind::SessionEnded => "session_ended",
            EventKind::SignedOut => "signed_out",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// What an event says beyond its kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventDetail {
    None,
    /// Which second step: `app code` or `backup code`.
    Factor(Factor),
    /// A backup code was used: how many are left.
    BackupCodesLeft(i64),
    /// The account created by the first-start link.
    FirstAdministrator,
    /// The account created through an invitation.
    Invited,
    /// A wrong password when it was asked again (before a two-step change).
    PasswordAskedAgain,
    /// What was locked.
    LockOn(Step),
    /// The address an email change was asked for.
    NewAddress(String),
    /// The address an account had before its change.
    OldAddress(String),
    /// The session that was ended, as its list showed it.
    Session {
        ip: String,
        user_agent: String,
    },
    /// Stored by another version and not known to this one.
    Other(String),
}

/// The second step's two ways.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Factor {
    AppCode,
    BackupCode,
}

/// A step of the sign-in that a limit can lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    SignIn,
    SecondStep,
}

impl EventDetail {
    /// The stored text, English, as `nidan audit` shows it.
    pub fn to_stored(&self) -> String {
        match self {
            EventDetail::None => String::new(),
            EventDetail::Factor(Factor::AppCode) => "app code".to_owned(),
            EventDetail::Factor(Factor::BackupCode) => "backup code".to_owned(),
            EventDetail::BackupCodesLeft(n) => format!("{n} left"),
            EventDetail::FirstAdministrator => "first administrator".to_owned(),
            EventDetail::Invited => "invited".to_owned(),
            EventDetail::PasswordAskedAgain => "password asked again".to_owned(),
            EventDetail::LockOn(Step::SignIn) => "sign-in".to_owned(),
            EventDetail::LockOn(Step::SecondStep) => "second step".to_owned(),
            EventDetail::NewAddress(email) => format!("to {email}"),
            EventDetail::OldAddress(email) => format!("from {email}"),
            EventDetail::Session { ip, user_agent } => {
                format!("{ip} {user_agent}").trim().to_owned()
            }
            EventDetail::Other(text) => text.clone(),
        }
    }

    /// The stored text read back, knowing the event's kind.
    pub fn from_stored(kind: Option<EventKind>, text: &str) -> Self {
        use EventKind as K;
        let known = match (kind, text) {
            (_, "") => Some(EventDetail::None),
            (Some(K::SecondStepOk | K::SecondStepFailed | K::PasswordReset), "app code") => {
                Some(EventDetail::Factor(Factor::AppCode))
            }
            (Some(K::SecondStepOk | K::SecondStepFailed | K::PasswordReset), "backup code") => {
                Some(EventDetail::Factor(Factor::BackupCode))
            }
            (Some(K::BackupCodeUsed), t) => t
                .strip_suffix(" left")
                .and_then(|n| n.parse().ok())
                .map(EventDetail::BackupCodesLeft),
            (Some(K::AccountCreated), "first administrator") => {
                Some(EventDetail::FirstAdministrator)
            }
            (Some(K::AccountCreated), "invited") => Some(EventDetail::Invited),
            (Some(K::SignInFailed), "password asked again") => {
                Some(EventDetail::PasswordAskedAgain)
            }
            (Some(K::Locked), "sign-in") => Some(EventDetail::LockOn(Step::SignIn)),
            (Some(K::Locked), "second step") => Some(EventDetail::LockOn(Step::SecondStep)),
            (Some(K::EmailChangeRequested), t) => t
                .strip_prefix("to ")
                .map(|e| EventDetail::NewAddress(e.to_owned())),
            (Some(K::EmailChanged), t) => t
                .strip_prefix("from ")
                .map(|e| EventDetail::OldAddress(e.to_owned())),
            (Some(K::SessionEnded), t) => {
                let (ip, user_agent) = t.split_once(' ').unwrap_or((t, ""));
                Some(EventDetail::Session {
                    ip: ip.to_owned(),
                    user_agent: user_agent.to_owned(),
                })
            }
            _ => None,
        };
        known.unwrap_or_else(|| EventDetail::Other(text.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_and_are_unique() {
        for kind in EventKind::ALL {
            assert_eq!(EventKind::parse(kind.as_str()), Some(kind));
        }
        let mut names: Vec<_> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), EventKind::ALL.len());
        assert_eq!(EventKind::parse("nonsense"), None);
    }

    #[test]
    fn details_read_back_as_they_were_written() {
        use EventKind as K;
        let cases = [
            (K::SignInOk, EventDetail::None),
            (K::SecondStepOk, EventDetail::Factor(Factor::AppCode)),
            (K::SecondStepFailed, EventDetail::Factor(Factor::BackupCode)),
            (K::BackupCodeUsed, EventDetail::BackupCodesLeft(7)),
            (K::AccountCreated, EventDetail::FirstAdministrator),
            (K::SignInFailed, EventDetail::PasswordAskedAgain),
            (
                K::EmailChangeRequested,
                EventDetail::NewAddress("new@example.jp".into()),
            ),
            (
                K::EmailChanged,
                EventDetail::OldAddress("old@example.jp".into()),
            ),
            (K::Locked, EventDetail::LockOn(Step::SignIn)),
            (K::Locked, EventDetail::LockOn(Step::SecondStep)),
            (
                K::SessionEnded,
                EventDetail::Session {
                    ip: "192.0.2.1".into(),
                    user_agent: "Phone/3.0 (like X)".into(),
                },
            ),
        ];
        for (kind, detail) in cases {
            let stored = detail.to_stored();
            assert_eq!(
                EventDetail::from_stored(Some(kind), &stored),
                detail,
                "{stored}"
            );
        }
        assert_eq!(
            EventDetail::from_stored(Some(K::BackupCodeUsed), "many left"),
            EventDetail::Other("many left".into())
        );
        assert_eq!(
            EventDetail::from_stored(None, "app code"),
            EventDetail::Other("app code".into())
        );
    }
}
