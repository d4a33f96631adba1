//! Two-step verification as the manual describes it: turn on (password again, QR code,
//! first code, backup codes), the second step at sign-in (code or backup code), turn off.

use std::fmt;

use rand::rngs::OsRng;
use secrecy::SecretString;

use super::audit::{EventDetail, EventKind, Factor, Step, Subject};
use super::client::command_line;
use super::notify::Notice;
use super::{AuthError, AuthResult, AuthService, Client, NewSession, SignedIn};
use crate::crypto::{Sealer, TokenHash, keyed_hash, new_token, token_hash};
use crate::otp::{self, backup_codes, totp};
use crate::store::{
    FactorClaim, SecondStepFinish, SecondStepFinished, SessionBasis, ThrottleState, TotpCredential,
    UserId,
};

/// How long a set-up may take between the password and the first code.
const SETUP_LIFETIME_SECS: i64 = 10 * 60;
/// How long a sign-in may wait for its second step.
pub const PENDING_LIFETIME_SECS: i64 = 5 * 60;
/// Wrong codes one pending sign-in may take before it must start again.
pub const PENDING_MAX_FAILURES: i64 = 5;

/// The keys two-step verification needs, derived from the server key.
pub(crate) struct TwoStepKeys {
    pub sealer: Sealer,
    pub backup_code_key: [u8; 32],
}

/// What the set-up page shows: the QR code's URI and the key for typing by hand.
pub struct TotpSetup {
    pub otpauth_uri: String,
    pub secret_base32: String,
}

impl fmt::Debug for TotpSetup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSetup(<redacted>)")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TwoStepStatus {
    pub enabled: bool,
    pub backup_codes_left: i64,
}

/// A second step passed: the session, where to go, and (after a backup code) how many are left.
#[derive(Debug)]
pub struct SecondStepDone {
    pub session: NewSession,
    pub next: String,
    pub backup_codes_left: Option<i64>,
}

/// Which second factor a person offers at sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecondFactor {
    Totp,
    BackupCode,
}

fn owner(user_id: UserId) -> Vec<u8> {
    format!("nidan totp user:{user_id}").into_bytes()
}

pub(super) fn second_step_key(user_id: UserId) -> String {
    format!("2fa:{user_id}")
}

impl AuthService {
    pub async fn two_step_status(&self, user_id: UserId) -> AuthResult<TwoStepStatus> {
        let enabled = self.store.totp_credential(user_id).await?.is_some();
        let backup_codes_left = if enabled {
            self.store.backup_codes_left(user_id).await?
        } else {
            0
        };
        Ok(TwoStepStatus {
            enabled,
            backup_codes_left,
        })
    }

    /// Step 1 of turning it on: the password is right, so a new secret is made for this session.
    pub async fn begin_totp_setup(
        &self,
        user: &SignedIn,
        password: &SecretString,
        client: &Client,
    ) -> AuthResult<()> {
        if self.store.totp_credential(user.user_id).await?.is_some() {
            return Err(AuthError::TwoStepAlreadyOn);
        }
        self.recheck_password(user, password, client).await?;
        let mut secret = [0u8; otp::SECRET_BYTES];
        rand::RngCore::fill_bytes(&mut OsRng, &mut secret);
        let sealed = self.keys.sealer.seal(&secret, &owner(user.user_id));
        self.store
            .put_enrollment(&user.token_hash, user.user_id, &sealed, self.now())
            .await?;
        Ok(())
    }

    /// Step 2: the secret of this session's set-up, while it is fresh.
    pub async fn totp_setup(&self, user: &SignedIn) -> AuthResult<Option<TotpSetup>> {
        let Some(secret) = self.enrollment_secret(user).await? else {
            return Ok(None);
        };
        let secret_base32 = otp::secret_to_base32(&secret);
        Ok(Some(TotpSetup {
            otpauth_uri: otp::uri::otpauth_uri(
                &self.policy.totp_issuer,
                &user.email,
                &secret_base32,
            ),
            secret_base32,
        }))
    }

    async fn enrollment_secret(&self, user: &SignedIn) -> AuthResult<Option<Vec<u8>>> {
        let Some(enrollment) = self.store.enrollment(&user.token_hash).await? else {
            return Ok(None);
        };
        if enrollment.user_id != user.user_id
            || self.now() - enrollment.created_at > SETUP_LIFETIME_SECS
        {
            return Ok(None);
        }
        let secret = self
            .keys
            .sealer
            .open(&enrollment.sealed_secret, &owner(user.user_id))?;
        Ok(Some(secret))
    }

    /// Step 2 → 3: the first code is right, so it is on. Returns the backup codes (shown
    /// once) and the fresh session; every other session of the account has ended.
    pub async fn confirm_totp_setup(
        &self,
        user: &SignedIn,
        code: &str,
        client: &Client,
    ) -> AuthResult<(Vec<String>, NewSession)> {
        let code = totp::normalise_code(code).ok_or(AuthError::CodeFormat)?;
        let secret = self
            .enrollment_secret(user)
            .await?
            .ok_or(AuthError::SetupExpired)?;
        let step = totp::verify(&secret, &code, self.now(), None).ok_or(AuthError::WrongCode {
            attempts_left: None,
        })?;
        let sealed = self.keys.sealer.seal(&secret, &owner(user.user_id));
        let (codes, hashes) = self.new_backup_codes();
        let (session, rotation) = self.new_rotation(user, client, None);
        let kind = EventKind::TwoStepEnabled;
        let event = self.user_event(kind, user, &rotation);
        let change = self
            .store
            .enable_totp(user.user_id, &sealed, step, &hashes, &rotation, &[event])
            .await?;
        Self::changed(change)?;
        self.sessions.forget_user(user.user_id);
        tracing::info!(user_id = user.user_id, "two-step verification turned on");
        self.recorded(
            kind,
            user.subject(),
            Some(Notice::TwoStepEnabled),
            rotation.now,
        );
        Ok((codes, session))
    }

    /// Turns it off after the password; the secret and backup codes are deleted.
    pub async fn disable_totp(
        &self,
        user: &SignedIn,
        password: &SecretString,
        client: &Client,
    ) -> AuthResult<NewSession> {
        if self.store.totp_credential(user.user_id).await?.is_none() {
            return Err(AuthError::TwoStepOff);
        }
        let checked = self.recheck_password(user, password, client).await?;
        let (session, rotation) = self.new_rotation(user, client, Some(checked));
        let kind = EventKind::TwoStepDisabled;
        let event = self.user_event(kind, user, &rotation);
        let change = self
            .store
            .disable_totp(user.user_id, Some(&rotation), &[event])
            .await?;
        Self::changed(change)?;
        self.sessions.forget_user(user.user_id);
        tracing::info!(user_id = user.user_id, "two-step verification turned off");
        let notice = Notice::TwoStepDisabled { by_admin: false };
        self.recorded(kind, user.subject(), Some(notice), rotation.now);
        Ok(session)
    }

    /// A new set of backup codes after the password; the old set dies.
    pub async fn regenerate_backup_codes(
        &self,
        user: &SignedIn,
        password: &SecretString,
        client: &Client,
    ) -> AuthResult<(Vec<String>, NewSession)> {
        if self.store.totp_credential(user.user_id).await?.is_none() {
            return Err(AuthError::TwoStepOff);
        }
        let checked = self.recheck_password(user, password, client).await?;
        let (codes, hashes) = self.new_backup_codes();
        let (session, rotation) = self.new_rotation(user, client, Some(checked));
        let kind = EventKind::BackupCodesRegenerated;
        let event = self.user_event(kind, user, &rotation);
        let change = self
            .store
            .replace_backup_codes(user.user_id, &hashes, &rotation, &[event])
            .await?;
        Self::changed(change)?;
        self.sessions.forget_user(user.user_id);
        tracing::info!(user_id = user.user_id, "backup codes regenerated");
        let notice = Notice::BackupCodesRegenerated;
        self.recorded(kind, user.subject(), Some(notice), rotation.now);
        Ok((codes, session))
    }

    /// For an administrator: turns it off and ends every session of the account.
    pub async fn reset_two_step(&self, email: &str) -> AuthResult<()> {
        let user = self.existing_user(email).await?;
        self.sessions.forget_user(user.id);
        let kind = EventKind::TwoStepReset;
        let subject = Subject::user(user.id, &user.email);
        let event = self.audit_record(kind, subject, EventDetail::None, &command_line());
        let change = self
            .store
            .disable_totp(user.id, None, std::slice::from_ref(&event))
            .await?;
        Self::changed(change)?;
        self.store.clear_throttle(&second_step_key(user.id)).await?;
        tracing::info!(
            user_id = user.id,
            "two-step verification reset by an administrator"
        );
        let notice = Notice::TwoStepDisabled { by_admin: true };
        self.recorded(kind, subject, Some(notice), event.at);
        Ok(())
    }

    pub(crate) async fn clear_second_step_lock(&self, user_id: UserId) -> AuthResult<()> {
        self.store.clear_throttle(&second_step_key(user_id)).await?;
        Ok(())
    }

    pub(crate) async fn second_step_locked(&self, user_id: UserId) -> AuthResult<bool> {
        let key = second_step_key(user_id);
        Ok(self
            .store
            .check_throttles(&[&key], self.now())
            .await?
            .locked_until
            .is_some())
    }

    /// The password was right and the account has two-step verification: a pending
    /// sign-in, bound to its own cookie, that opens nothing but the code pages.
    /// `None` when the password changed since it was checked.
    pub(crate) async fn start_pending_login(
        &self,
        user_id: UserId,
        next: &str,
        checked_password_hash: &str,
    ) -> AuthResult<Option<String>> {
        let now = self.now();
        let (token, hash) = new_token();
        let expires_at = now + PENDING_LIFETIME_SECS;
        let stored = self
            .store
            .insert_pending_login(&hash, user_id, now, expires_at, next, checked_password_hash)
            .await?;
        Ok(stored.then_some(token))
    }

    /// Whether the code pages may be shown for this pending-sign-in cookie.
    pub async fn pending_login_valid(&self, token: &str) -> AuthResult<bool> {
        Ok(self.live_pending(&token_hash(token)).await?.is_some())
    }

    async fn live_pending(
        &self,
        hash: &TokenHash,
    ) -> AuthResult<Option<crate::store::PendingLogin>> {
        match self.store.pending_login(hash).await? {
            Some(p) if self.now() < p.expires_at => Ok(Some(p)),
            Some(_) => {
                self.store.take_pending_login(hash).await?;
                Ok(None)
            }
            None => Ok(None),
        }
    }

    /// The second step at sign-in, with a code from the app or a backup code.
    #[tracing::instrument(skip_all, fields(factor = ?factor))]
    pub async fn second_step(
        &self,
        pending_token: &str,
        factor: SecondFactor,
        code: &str,
        client: &Client,
    ) -> AuthResult<SecondStepDone> {
        let hash = token_hash(pending_token);
        let presented_device = Self::presented_device(client);
        let basis = self
            .store
            .second_step_basis(&hash, presented_device.as_ref())
            .await?
            .ok_or(AuthError::PendingExpired)?;
        let pending = basis.pending;
        if self.now() >= pending.expires_at {
            self.store.take_pending_login(&hash).await?;
            return Err(AuthError::PendingExpired);
        }
        let user_id = pending.user_id;
        let (email, password_hash) = (basis.email, basis.password_hash);
        let subject = || Subject::user(user_id, &email);
        let origin = client.origin();
        let factor_name = match factor {
            SecondFactor::Totp => Factor::AppCode,
            SecondFactor::BackupCode => Factor::BackupCode,
        };
        // The format is checked first: a typo is no guess and costs no attempt.
        let code = match factor {
            SecondFactor::Totp => totp::normalise_code(code).ok_or(AuthError::CodeFormat)?,
            SecondFactor::BackupCode => {
                backup_codes::normalise(code).ok_or(AuthError::BackupCodeFormat)?
            }
        };
        let (failures, account) = self.reserve_code_attempt(&hash, user_id).await?;
        let backup_code_hash;
        let claim = match factor {
            SecondFactor::Totp => self
                .totp_step(user_id, basis.totp.as_ref(), &code)?
                .map(FactorClaim::TotpStep),
            SecondFactor::BackupCode => {
                backup_code_hash = keyed_hash(&self.keys.backup_code_key, code.as_bytes());
                Some(FactorClaim::BackupCode(&backup_code_hash))
            }
        };
        // A right code: every write of the sign-in in one transaction, all or none.
        let now = self.now();
        let (session_token, session_hash) = new_token();
        let expires_at = now + self.policy.session_lifetime;
        let (device_token, device) = Self::device_to_note(presented_device, basis.device_known);
        let release_key = second_step_key(user_id);
        let events = |left: Option<i64>| {
            let mut events = vec![self.audit_record(
                EventKind::SecondStepOk,
                subject(),
                EventDetail::Factor(factor_name),
                &origin,
            )];
            if let Some(left) = left {
                events.push(self.audit_record(
                    EventKind::BackupCodeUsed,
                    subject(),
                    EventDetail::BackupCodesLeft(left),
                    &origin,
                ));
            }
            events
        };
        let finished = match claim {
            None => SecondStepFinished::FactorRefused,
            Some(claim) => {
                self.store
                    .finish_second_step(&SecondStepFinish {
                        pending: &hash,
                        user_id,
                        claim,
                        session: &session_hash,
                        now,
                        expires_at,
                        origin: &origin,
                        // A password changed or two-step verification turned off meanwhile
                        // ends this sign-in.
                        basis: SessionBasis {
                            password_hash: &password_hash,
                            two_step: true,
                        },
                        events: &events,
                        release: (&release_key, self.policy.second_step_throttle),
                        device: &device,
                    })
                    .await?
            }
        };
        let (backup_codes_left, device_seen) = match finished {
            SecondStepFinished::Done {
                backup_codes_left,
                device,
            } => (backup_codes_left, device),
            // Of two requests that both passed, only one signs in with this pending login;
            // the other was no guess (its attempt went back in the same transaction).
            SecondStepFinished::PendingGone => return Err(AuthError::PendingExpired),
            SecondStepFinished::AccountChanged => {
                tracing::info!(
                    user_id,
                    "the account changed during the sign-in; no session"
                );
                return Err(AuthError::PendingExpired);
            }
            SecondStepFinished::FactorRefused => {
                return Err(self
                    .wrong_code(&hash, subject(), factor_name, &origin, failures, account)
                    .await?);
            }
        };
        tracing::info!(user_id, "second step passed");
        self.recorded(EventKind::SecondStepOk, subject(), None, now);
        if let Some(left) = backup_codes_left {
            let notice = Notice::BackupCodeUsed { left };
            self.recorded(EventKind::BackupCodeUsed, subject(), Some(notice), now);
        }
        self.device_noted(&email, client, device_seen, now);
        Ok(SecondStepDone {
            session: NewSession {
                token: session_token,
                expires_at,
                device_token,
            },
            next: pending.next,
            backup_codes_left,
        })
    }

    /// A wrong code (or one used already): recorded, counted, and said how.
    async fn wrong_code(
        &self,
        pending: &TokenHash,
        subject: Subject<'_>,
        factor_name: Factor,
        origin: &crate::store::Origin,
        failures: i64,
        account: ThrottleState,
    ) -> AuthResult<AuthError> {
        if let Some(locked) = self
            .code_failed(subject, factor_name, origin, account)
            .await?
        {
            return Ok(locked);
        }
        if failures >= PENDING_MAX_FAILURES {
            self.store.take_pending_login(pending).await?;
            return Ok(AuthError::TooManyWrongCodes);
        }
        Ok(AuthError::WrongCode {
            attempts_left: Some(PENDING_MAX_FAILURES - failures),
        })
    }

    /// A wrong code, counted on the account as `account`: recorded; the lock when this
    /// one reached the limit (its owner hears of it).
    pub(super) async fn code_failed(
        &self,
        subject: Subject<'_>,
        factor_name: Factor,
        origin: &crate::store::Origin,
        account: ThrottleState,
    ) -> AuthResult<Option<AuthError>> {
        tracing::info!("second step failed");
        self.record(
            EventKind::SecondStepFailed,
            subject,
            EventDetail::Factor(factor_name),
            origin,
            None,
        )
        .await?;
        let rule = self.policy.second_step_throttle;
        if account.failures >= rule.limit {
            let until = account.locked_until;
            // Only the attempt that reached the limit tells the owner.
            self.record(
                EventKind::Locked,
                subject,
                EventDetail::LockOn(Step::SecondStep),
                origin,
                Some(Notice::Locked { until }),
            )
            .await?;
            return Ok(Some(AuthError::SecondStepLocked {
                retry_after: self.retry_after(until),
            }));
        }
        Ok(None)
    }

    /// The time step of a right code from the app (not yet claimed), or `None`.
    pub(super) fn totp_step(
        &self,
        user_id: UserId,
        credential: Option<&TotpCredential>,
        code: &str,
    ) -> AuthResult<Option<i64>> {
        // Turned off since the password step: this sign-in is over.
        let Some(credential) = credential else {
            return Err(AuthError::PendingExpired);
        };
        let secret = self
            .keys
            .sealer
            .open(&credential.sealed_secret, &owner(user_id))?;
        Ok(totp::verify(
            &secret,
            code,
            self.now(),
            Some(credential.last_used_step),
        ))
    }

    /// Reserves one code attempt on the pending sign-in (at most `PENDING_MAX_FAILURES`)
    /// and on the account (the second-step limit) before the code is checked: of any number
    /// at once, at most the limits go on. The pending sign-in's attempts so far, and the
    /// account's counter after this one.
    async fn reserve_code_attempt(
        &self,
        pending: &TokenHash,
        user_id: UserId,
    ) -> AuthResult<(i64, ThrottleState)> {
        let now = self.now();
        let Some(failures) = self
            .store
            .reserve_pending_attempt(pending, now, PENDING_MAX_FAILURES)
            .await?
        else {
            return Err(if self.store.take_pending_login(pending).await? {
                AuthError::TooManyWrongCodes
            } else {
                AuthError::PendingExpired
            });
        };
        Ok((failures, self.reserve_account_code_attempt(user_id).await?))
    }

    /// Reserves one code attempt on the account's second-step limit, before the code is
    /// checked; its counter after this one.
    pub(super) async fn reserve_account_code_attempt(
        &self,
        user_id: UserId,
    ) -> AuthResult<ThrottleState> {
        let now = self.now();
        let key = second_step_key(user_id);
        let rule = self.policy.second_step_throttle;
        match self.store.reserve_attempt(&key, now, rule).await? {
            Some(account) => Ok(account),
            None => {
                let until = self
                    .store
                    .check_throttles(&[&key], now)
                    .await?
                    .locked_until
                    .unwrap_or(now + rule.lock_for);
                Err(AuthError::SecondStepLocked {
                    retry_after: self.retry_after(until),
                })
            }
        }
    }

    fn new_backup_codes(&self) -> (Vec<String>, Vec<[u8; 32]>) {
        let codes = backup_codes::generate(&mut OsRng);
        let hashes = codes
            .iter()
            .map(|c| keyed_hash(&self.keys.backup_code_key, c.as_bytes()))
            .collect();
        let shown = codes.iter().map(|c| backup_codes::format(c)).collect();
        (shown, hashes)
    }
}
