//! What a forgotten password needs from storage: the links, and the reset as one transaction.

use async_trait::async_trait;

use super::{AuditRecord, FactorClaim, StoreResult, TotpCredential, UserId};
use crate::clock::UnixTime;
use crate::crypto::TokenHash;

/// A link, with what the reset page and the use case need to judge it.
pub struct PasswordReset {
    pub user_id: UserId,
    pub email: String,
    pub expires_at: UnixTime,
    /// The password the account had when the link was made.
    pub link_password_hash: String,
    /// The password it has now: the link is dead when they differ.
    pub password_hash: String,
    /// Two-step verification, when it is on: the reset then needs a code too.
    pub totp: Option<TotpCredential>,
}

/// Everything a reset writes, stored in one transaction (or nothing).
pub struct ResetFinish<'a> {
    pub token: &'a TokenHash,
    pub user_id: UserId,
    /// The password the link was made for; the account must still have it.
    pub link_password_hash: &'a str,
    pub new_password_hash: &'a str,
    /// The code or backup code given, when two-step verification is on.
    pub claim: Option<FactorClaim<'a>>,
    pub now: UnixTime,
    /// The audit events, given the backup codes left (after a backup code).
    pub events: &'a (dyn Fn(Option<i64>) -> Vec<AuditRecord> + Send + Sync),
    /// Attempt counters to clear, each with its family (`key#…`): the account's locks.
    pub clear: &'a [&'a str],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetFinished {
    /// The new password is set; every session, pending sign-in and link of the account ended.
    Done { backup_codes_left: Option<i64> },
    /// The link was used, expired or its password changed meanwhile: nothing changed.
    LinkGone,
    /// The code's step was used already, or the backup code is unknown or spent.
    FactorRefused,
}

#[async_trait]
pub trait PasswordResetStore {
    /// Stores a link for the account `user_id` while it still has the address and password
    /// it was looked up with; `false`, and nothing stored, when either changed meanwhile.
    async fn insert_password_reset(
        &self,
        token: &TokenHash,
        user_id: UserId,
        email: &str,
        now: UnixTime,
        expires_at: UnixTime,
        password_hash: &str,
    ) -> StoreResult<bool>;
    async fn password_reset(&self, token: &TokenHash) -> StoreResult<Option<PasswordReset>>;
    async fn take_password_reset(&self, token: &TokenHash) -> StoreResult<()>;
    async fn finish_password_reset(&self, reset: &ResetFinish<'_>) -> StoreResult<ResetFinished>;
    /// Housekeeping: links that expired before `before`; how many went.
    async fn prune_password_resets(&self, before: UnixTime) -> StoreResult<u64>;
}
