//! What a change of email address needs from storage: asking for it and confirming it, each
//! one transaction.

use async_trait::async_trait;

use super::{AuditRecord, FactorClaim, StoreResult, UserId};
use crate::clock::UnixTime;
use crate::crypto::TokenHash;

/// A change waiting for its link, with what the link's page and the use case judge it by.
pub struct EmailChange {
    pub user_id: UserId,
    /// The account's address when the change was asked for, and now: the link is dead
    /// when they differ.
    pub old_email: String,
    pub email: String,
    pub new_email: String,
    pub expires_at: UnixTime,
    /// The account's password when the change was asked for, and now.
    pub link_password_hash: String,
    pub password_hash: String,
}

/// Everything asking for a change writes, in one transaction (or nothing).
pub struct EmailChangeAsk<'a> {
    pub token: &'a TokenHash,
    pub user_id: UserId,
    pub old_email: &'a str,
    pub new_email: &'a str,
    /// The password just asked again; the account must still have it.
    pub password_hash: &'a str,
    /// The code or backup code given, when two-step verification is on.
    pub claim: Option<FactorClaim<'a>>,
    pub now: UnixTime,
    pub expires_at: UnixTime,
    /// The audit events, given the backup codes left (after a backup code).
    pub events: &'a (dyn Fn(Option<i64>) -> Vec<AuditRecord> + Send + Sync),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailChangeAsked {
    /// Stored (replacing an earlier request of the account); the link can go out.
    Done { backup_codes_left: Option<i64> },
    /// The password or address changed meanwhile: nothing stored.
    AccountChanged,
    /// The code's step was used already, or the backup code is unknown or spent.
    FactorRefused,
}

#[async_trait]
pub trait EmailChangeStore {
    async fn ask_email_change(&self, ask: &EmailChangeAsk<'_>) -> StoreResult<EmailChangeAsked>;
    async fn email_change(&self, token: &TokenHash) -> StoreResult<Option<EmailChange>>;
    async fn take_email_change(&self, token: &TokenHash) -> StoreResult<()>;
    /// Spends the link while fresh and gives the account its new address, if the account
    /// still has the address and password the change was asked with; the account's
    /// password-reset links (sent to the old address) and any invitation of the new address
    /// end with it. `false`, and nothing changed, when the link is gone; an address taken
    /// meanwhile is `StoreError::Duplicate`.
    async fn finish_email_change(
        &self,
        token: &TokenHash,
        change: &EmailChange,
        now: UnixTime,
        events: &[AuditRecord],
    ) -> StoreResult<bool>;
    /// Housekeeping: changes whose links expired before `before`; how many went.
    async fn prune_email_changes(&self, before: UnixTime) -> StoreResult<u64>;
}
