//! The second step asked again, for a change that must not skip it (a password reset, a new
//! email address): a code from the app or a backup code, checked for its format, counted on
//! the account like the second step, and turned into the claim the store spends in the
//! change's own transaction.

use super::audit::{EventDetail, EventKind, Factor, Subject};
use super::two_step::second_step_key;
use super::{AuthError, AuthResult, AuthService};
use crate::crypto::keyed_hash;
use crate::otp::{backup_codes, totp};
use crate::store::{AuditRecord, FactorClaim, Origin, ThrottleState, TotpCredential, UserId};

/// A code that matched, not yet spent: the change's transaction claims it.
pub(super) struct GivenCode {
    pub factor: Factor,
    /// The attempt it was counted as, for a refusal when the store finds it spent.
    pub attempt: ThrottleState,
    step: i64,
    backup_code_hash: [u8; 32],
}

impl GivenCode {
    pub fn claim(&self) -> FactorClaim<'_> {
        match self.factor {
            Factor::AppCode => FactorClaim::TotpStep(self.step),
            Factor::BackupCode => FactorClaim::BackupCode(&self.backup_code_hash),
        }
    }
}

impl AuthService {
    /// Checks `code` for the account `subject` with two-step verification `credential`.
    /// A typo in the format is no guess; every other try counts, and a wrong one is refused
    /// with the attempts left (or the lock).
    pub(super) async fn check_code_again(
        &self,
        subject: Subject<'_>,
        user_id: UserId,
        credential: &TotpCredential,
        code: &str,
        origin: &Origin,
    ) -> AuthResult<GivenCode> {
        let code = code.trim();
        if code.is_empty() {
            return Err(AuthError::CodeRequired);
        }
        let (factor, code) = match totp::normalise_code(code) {
            Some(c) => (Factor::AppCode, c),
            None => match backup_codes::normalise(code) {
                Some(c) => (Factor::BackupCode, c),
                None => return Err(AuthError::CodeFormat),
            },
        };
        let attempt = self.reserve_account_code_attempt(user_id).await?;
        let given = match factor {
            Factor::AppCode => self
                .totp_step(user_id, Some(credential), &code)?
                .map(|step| GivenCode {
                    factor,
                    attempt,
                    step,
                    backup_code_hash: [0; 32],
                }),
            // Known or not, the store finds out when it claims it.
            Factor::BackupCode => Some(GivenCode {
                factor,
                attempt,
                step: 0,
                backup_code_hash: keyed_hash(&self.keys.backup_code_key, code.as_bytes()),
            }),
        };
        match given {
            Some(given) => Ok(given),
            None => Err(self
                .code_again_failed(subject, factor, origin, attempt)
                .await?),
        }
    }

    /// A right code's attempt given back (as a right second step's is), or one counted for a
    /// request refused for another reason: only wrong codes count towards the lock.
    pub(super) async fn give_back_code(&self, user_id: UserId, given: Option<&GivenCode>) {
        if given.is_none() {
            return;
        }
        let key = second_step_key(user_id);
        let rule = self.policy.second_step_throttle;
        if let Err(e) = self.store.release_attempt(&key, rule).await {
            tracing::warn!(error = %e, "a right code's attempt was not given back");
        }
    }

    /// The events of a change made with the second step again: `kind`, and the backup code
    /// used when there was one (`left` after it).
    pub(super) fn events_with_code(
        &self,
        kind: EventKind,
        subject: Subject<'_>,
        detail: EventDetail,
        origin: &Origin,
        left: Option<i64>,
    ) -> Vec<AuditRecord> {
        let mut events = vec![self.audit_record(kind, subject, detail, origin)];
        if let Some(left) = left {
            let detail = EventDetail::BackupCodesLeft(left);
            events.push(self.audit_record(EventKind::BackupCodeUsed, subject, detail, origin));
        }
        events
    }

    /// A wrong (or spent) code: counted like the second step; the change can be tried
    /// again until the account's second step locks.
    pub(super) async fn code_again_failed(
        &self,
        subject: Subject<'_>,
        factor: Factor,
        origin: &Origin,
        attempt: ThrottleState,
    ) -> AuthResult<AuthError> {
        if let Some(locked) = self.code_failed(subject, factor, origin, attempt).await? {
            return Ok(locked);
        }
        let left = self.policy.second_step_throttle.limit - attempt.failures;
        Ok(AuthError::WrongCode {
            attempts_left: Some(left),
        })
    }
}
