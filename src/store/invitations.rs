//! What invitations need from storage: the links, and accepting one as one transaction.

use async_trait::async_trait;

use super::{AuditRecord, NewUser, SessionRotation, StoreResult, User};
use crate::clock::UnixTime;
use crate::crypto::TokenHash;

/// An invitation as stored (never its token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    pub email: String,
    pub is_admin: bool,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
}

#[async_trait]
pub trait InvitationStore {
    /// Stores the invitation (replacing one for the same address) with the events, in one
    /// transaction; `false`, and nothing stored, when the address has an account already.
    async fn put_invitation(
        &self,
        token: &TokenHash,
        invitation: &Invitation,
        events: &[AuditRecord],
    ) -> StoreResult<bool>;
    async fn invitation(&self, token: &TokenHash) -> StoreResult<Option<Invitation>>;
    /// Every invitation, expired ones too, by address.
    async fn invitations(&self) -> StoreResult<Vec<Invitation>>;
    /// `false` when the address had none.
    async fn revoke_invitation(&self, email: &str, events: &[AuditRecord]) -> StoreResult<bool>;
    /// Spends the invitation while fresh and creates its account with `user`'s password and
    /// a session, with the events (the new account's id filled in), in one transaction;
    /// `None`, and nothing changed, when the invitation is gone or expired.
    async fn accept_invitation(
        &self,
        token: &TokenHash,
        user: NewUser,
        session: &SessionRotation,
        events: &[AuditRecord],
    ) -> StoreResult<Option<User>>;
    /// Housekeeping: invitations that expired before `before`; how many went.
    async fn prune_invitations(&self, before: UnixTime) -> StoreResult<u64>;
}
