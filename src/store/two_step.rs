//! What two-step verification needs from storage: the credential, the set-up, the waiting
//! sign-ins and the second step as one transaction; and the session rotation that every change
//! to an account's factors makes.

use async_trait::async_trait;

use super::{AuditRecord, DeviceSeen, Origin, SessionBasis, StoreResult, ThrottleRule, UserId};
use crate::clock::UnixTime;
use crate::crypto::TokenHash;

/// The confirmed TOTP credential of an account.
pub struct TotpCredential {
    pub sealed_secret: Vec<u8>,
    pub last_used_step: i64,
}

/// A set-up in progress: the secret shown in the QR code, not yet confirmed.
pub struct Enrollment {
    pub user_id: UserId,
    pub sealed_secret: Vec<u8>,
    pub created_at: UnixTime,
}

/// A sign-in whose password was right and whose second step is still due.
#[derive(Debug, Clone)]
pub struct PendingLogin {
    pub user_id: UserId,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
    pub failures: i64,
    pub next: String,
}

/// A session to store: in a rotation, the one that replaces every session of the account.
pub struct SessionRotation {
    pub token: TokenHash,
    pub now: UnixTime,
    pub expires_at: UnixTime,
    pub origin: Origin,
    /// The session asking for the change: it must still be there (a password change, a
    /// reset or the owner may have ended it meanwhile), or nothing changes.
    pub replaces: Option<TokenHash>,
    /// The password just checked again: the account must still have it.
    pub password_hash: Option<String>,
}

/// How a change to the account that rotates the sessions went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountChange {
    Done,
    /// Turning it off, when it was off: nothing changed.
    WasOff,
    /// The asking session ended, or the password changed, meanwhile: nothing changed.
    SessionEnded,
}

#[async_trait]
pub trait TwoStepStore {
    async fn totp_credential(&self, user_id: UserId) -> StoreResult<Option<TotpCredential>>;
    /// Records `step` as used only when it is later than the last used one: of two
    /// requests with the same code, exactly one gets `true`.
    async fn advance_totp_step(&self, user_id: UserId, step: i64) -> StoreResult<bool>;

    async fn put_enrollment(
        &self,
        session: &TokenHash,
        user_id: UserId,
        sealed_secret: &[u8],
        now: UnixTime,
    ) -> StoreResult<()>;
    async fn enrollment(&self, session: &TokenHash) -> StoreResult<Option<Enrollment>>;

    /// In one transaction: the credential and a new set of backup codes replace any
    /// earlier ones, set-ups in progress and pending sign-ins end, sessions rotate, and
    /// the audit events are stored.
    async fn enable_totp(
        &self,
        user_id: UserId,
        sealed_secret: &[u8],
        last_used_step: i64,
        backup_code_hashes: &[[u8; 32]],
        rotation: &SessionRotation,
        events: &[AuditRecord],
    ) -> StoreResult<AccountChange>;
    /// In one transaction: credential, backup codes, set-ups and pending sign-ins go,
    /// sessions rotate (all end when `rotation` is `None`) and the audit events are
    /// stored.
    async fn disable_totp(
        &self,
        user_id: UserId,
        rotation: Option<&SessionRotation>,
        events: &[AuditRecord],
    ) -> StoreResult<AccountChange>;
    /// In one transaction: the new set replaces the old, sessions rotate and the audit
    /// events are stored.
    async fn replace_backup_codes(
        &self,
        user_id: UserId,
        backup_code_hashes: &[[u8; 32]],
        rotation: &SessionRotation,
        events: &[AuditRecord],
    ) -> StoreResult<AccountChange>;
    /// Marks the code used; `true` for exactly one caller per code.
    async fn spend_backup_code(
        &self,
        user_id: UserId,
        code_hash: &[u8; 32],
        now: UnixTime,
    ) -> StoreResult<bool>;
    async fn backup_codes_left(&self, user_id: UserId) -> StoreResult<i64>;

    /// Stores a sign-in waiting for its code, bound to the password it proved: only while
    /// the account still has that password (`false`, nothing stored, otherwise).
    async fn insert_pending_login(
        &self,
        token: &TokenHash,
        user_id: UserId,
        now: UnixTime,
        expires_at: UnixTime,
        next: &str,
        password_hash: &str,
    ) -> StoreResult<bool>;
    async fn pending_login(&self, token: &TokenHash) -> StoreResult<Option<PendingLogin>>;
    /// In one read, what a second step starts from: the pending sign-in, its account, the
    /// app's credential, and whether `device` (a presented device cookie's hash) is one the
    /// account has signed in on.
    async fn second_step_basis(
        &self,
        token: &TokenHash,
        device: Option<&[u8; 32]>,
    ) -> StoreResult<Option<SecondStepBasis>>;
    /// Reserves one code attempt on a live pending sign-in: the attempts so far, or `None`
    /// when it has had `max` already, has expired or is gone.
    async fn reserve_pending_attempt(
        &self,
        token: &TokenHash,
        now: UnixTime,
        max: i64,
    ) -> StoreResult<Option<i64>>;
    /// Deletes the pending sign-in; `true` for exactly one caller.
    async fn take_pending_login(&self, token: &TokenHash) -> StoreResult<bool>;
    /// A right second step's writes in one transaction, all or none: the factor claimed,
    /// the pending sign-in taken, the session stored while the account is as checked, the
    /// audit events, the account's attempt given back and the device noted. Anything
    /// refused on the way, or a failure, leaves all as it was.
    async fn finish_second_step(
        &self,
        finish: &SecondStepFinish<'_>,
    ) -> StoreResult<SecondStepFinished>;
}

/// What a right code claims: its TOTP time step, or a backup code (by its keyed hash).
#[derive(Debug, Clone, Copy)]
pub enum FactorClaim<'a> {
    TotpStep(i64),
    BackupCode(&'a [u8; 32]),
}

/// See [`TwoStepStore::second_step_basis`].
pub struct SecondStepBasis {
    pub pending: PendingLogin,
    pub email: String,
    /// The password the pending sign-in proved (not the account's password now).
    pub password_hash: String,
    /// `None` when two-step verification is off (turned off since the password step).
    pub totp: Option<TotpCredential>,
    pub device_known: bool,
}

/// Everything [`TwoStepStore::finish_second_step`] writes.
pub struct SecondStepFinish<'a> {
    pub pending: &'a TokenHash,
    pub user_id: UserId,
    pub claim: FactorClaim<'a>,
    pub session: &'a TokenHash,
    pub now: UnixTime,
    pub expires_at: UnixTime,
    pub origin: &'a Origin,
    pub basis: SessionBasis<'a>,
    /// The audit events, given the backup codes left (for a backup code).
    pub events: &'a (dyn Fn(Option<i64>) -> Vec<AuditRecord> + Send + Sync),
    /// The account's second-step counter, whose reservation a right code gives back.
    pub release: (&'a str, ThrottleRule),
    /// The browser's device (its cookie's hash), to note as seen.
    pub device: &'a [u8; 32],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecondStepFinished {
    /// Signed in; with a backup code, how many are left.
    Done {
        backup_codes_left: Option<i64>,
        device: DeviceSeen,
    },
    /// The code's step was used already, or the backup code is unknown or spent.
    FactorRefused,
    /// The pending sign-in is gone (used by a request at the same time, or ended); the
    /// attempt's reservation was given back.
    PendingGone,
    /// The password or two-step verification changed since the sign-in began.
    AccountChanged,
}
