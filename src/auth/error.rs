use std::time::Duration;

use super::AuthService;
use crate::clock::UnixTime;
use crate::crypto::SealError;
use crate::store::StoreError;

/// What a use-case can refuse. The messages are for logs and the CLI; pages use their own words.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("email address and password are required")]
    MissingCredentials,
    #[error("{0:?} is not a valid email address")]
    InvalidEmail(String),
    #[error(
        "{0:?} holds invisible characters or letters of mixed scripts that look like others; type it with ordinary characters"
    )]
    EmailLookAlike(String),
    #[error("the password must be at least {min} characters long")]
    PasswordTooShort { min: usize },
    #[error("the password must be at most {max} characters long", max = super::MAX_PASSWORD_CHARS)]
    PasswordTooLong,
    #[error("this password is too common or too easy to guess; choose another")]
    PasswordTooCommon,
    #[error("a password cannot contain control characters such as line breaks or tabs")]
    PasswordControlCharacters,
    #[error("the new password is the same as the current one")]
    PasswordUnchanged,
    /// Resets need email (SMTP) to send their links.
    #[error("a forgotten password cannot be reset here without email; ask the administrator")]
    ResetUnavailable,
    #[error("this link is not valid (already used, expired, or the password changed since)")]
    ResetLinkInvalid,
    #[error("two-step verification is on: a code from the app or a backup code is needed too")]
    CodeRequired,
    /// A change of address needs email (SMTP) to send its link.
    #[error("the email address cannot be changed here without email; ask the administrator")]
    EmailChangeUnavailable,
    #[error("the new email address is the account's address already")]
    EmailUnchanged,
    #[error(
        "this link is not valid (already used, expired, or the account's address or password changed since)"
    )]
    EmailChangeLinkInvalid,
    #[error("this invitation is not valid (already used, expired or revoked)")]
    InvitationInvalid,
    #[error("no invitation for the email address {0:?}")]
    UnknownInvitation(String),
    #[error("wrong email address or password")]
    WrongCredentials,
    #[error("too many failed attempts; try again later")]
    Throttled { retry_after: Duration },
    #[error("an account with this email address already exists")]
    EmailTaken,
    #[error("no account with the email address {0:?}")]
    UnknownUser(String),
    #[error("this setup link is not valid (already used, or an account exists)")]
    SetupLinkInvalid,
    #[error("wrong password")]
    WrongPassword,
    #[error("a code is 6 digits")]
    CodeFormat,
    #[error("a backup code is 10 letters and digits")]
    BackupCodeFormat,
    #[error("wrong code")]
    WrongCode { attempts_left: Option<i64> },
    #[error("too many wrong codes; sign in again")]
    TooManyWrongCodes,
    #[error("the sign-in has expired; sign in again")]
    PendingExpired,
    #[error("too many wrong codes for this account; try again later")]
    SecondStepLocked { retry_after: Duration },
    #[error("the set-up has expired; start again")]
    SetupExpired,
    #[error("two-step verification is already on")]
    TwoStepAlreadyOn,
    #[error("two-step verification is not on for this account")]
    TwoStepOff,
    #[error("no such session (it may have ended already)")]
    UnknownSession,
    /// The session asking ended (or its password changed) while the request was under way.
    #[error("the session ended meanwhile; sign in again")]
    SessionEnded,
    #[error(transparent)]
    Seal(#[from] SealError),
    /// The database cannot answer or take a write now (away, full, busy): come back later.
    #[error(transparent)]
    Unavailable(StoreError),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for AuthError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Duplicate => AuthError::EmailTaken,
            e @ StoreError::Unavailable(_) => AuthError::Unavailable(e),
            other => AuthError::Store(other),
        }
    }
}

impl AuthService {
    /// How long until `until` (at least a second): what a refusal tells the person.
    pub(crate) fn retry_after(&self, until: UnixTime) -> Duration {
        Duration::from_secs(u64::try_from(until - self.now()).unwrap_or(0).max(1))
    }
}
