//! 「パスワードをお忘れの方」: a link by email to choose a new password. The answer to a
//! request is the same, in words and in time, whether the account exists; the link works
//! once, for 30 minutes, while the account keeps the password it had; with two-step
//! verification on, the reset needs a code or a backup code too (a reset never skips the
//! second step). Afterwards every session and sign-in of the account has ended and its
//! attempt locks are lifted.

use secrecy::SecretString;

use super::audit::{EventDetail, EventKind, Factor, Subject};
use super::notify::{Notice, SecretLink};
use super::throttle::{account_key, ip_key};
use super::two_step::second_step_key;
use super::{AuthError, AuthResult, AuthService, Client, normalise_email};
use crate::crypto::{keyed_hash, new_token, token_hash};
use crate::otp::{backup_codes, totp};
use crate::store::{
    FactorClaim, Origin, PasswordReset, ResetFinish, ResetFinished, ThrottleRule, ThrottleState,
};

/// How long a link works.
pub const RESET_LIFETIME_SECS: i64 = 30 * 60;
/// Links one email address can be sent in an hour.
const PER_ADDRESS: ThrottleRule = ThrottleRule {
    limit: 3,
    window: 3600,
    lock_for: 3600,
};
/// Requests one client address can make in an hour, for any addresses.
const PER_CLIENT: ThrottleRule = ThrottleRule {
    limit: 20,
    window: 3600,
    lock_for: 3600,
};

/// What the link's page needs to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResetView {
    /// Two-step verification is on: the page asks for a code too.
    pub two_step: bool,
}

impl AuthService {
    /// Where links in emails point: the public URL and the pages prefix.
    pub fn with_link_base(mut self, base: &str) -> Self {
        self.link_base = base.trim_end_matches('/').into();
        self
    }

    /// Whether a forgotten password can be reset here: a link must reach the owner by email.
    pub fn resets_possible(&self) -> bool {
        self.notifier.delivers() && !self.link_base.is_empty()
    }

    /// Sends a link when `email` names an account. Counted per address and per client
    /// address whether or not it does; the account is looked up after the answer.
    pub async fn request_password_reset(&self, email: &str, client: &Client) -> AuthResult<()> {
        if !self.resets_possible() {
            return Err(AuthError::ResetUnavailable);
        }
        let email = normalise_email(email)?;
        let ip = format!("reset-{}", ip_key(client.ip));
        self.count_or_refuse(&ip, PER_CLIENT).await?;
        self.count_or_refuse(&format!("reset:{email}"), PER_ADDRESS)
            .await?;
        let this = self.clone();
        let origin = client.origin();
        let max = u64::try_from(self.policy.reset_mail_delay.as_millis()).unwrap_or(u64::MAX);
        let delay = std::time::Duration::from_millis(rand::Rng::gen_range(
            &mut rand::thread_rng(),
            0..=max,
        ));
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            if let Err(e) = this.send_reset_link(&email, &origin).await {
                tracing::warn!(error = %e, "no password reset link sent");
            }
        });
        Ok(())
    }

    async fn send_reset_link(&self, email: &str, origin: &Origin) -> AuthResult<()> {
        let kind = EventKind::PasswordResetRequested;
        let Some(user) = self.store.user_by_email(email).await? else {
            let nobody = Subject { id: None, email };
            return self
                .record(kind, nobody, EventDetail::None, origin, None)
                .await;
        };
        let now = self.now();
        let (token, hash) = new_token();
        let expires_at = now + RESET_LIFETIME_SECS;
        self.store
            .insert_password_reset(&hash, user.id, now, expires_at, &user.password_hash)
            .await?;
        let link = SecretLink(format!("{}/login/reset?token={token}", self.link_base));
        let notice = Notice::PasswordResetLink { link, expires_at };
        let subject = Subject::user(user.id, &user.email);
        self.record(kind, subject, EventDetail::None, origin, Some(notice))
            .await
    }

    /// What the link's page shows; `None` when the link is unknown, used, expired, or its
    /// account's password has changed since.
    pub async fn password_reset_view(&self, token: &str) -> AuthResult<Option<ResetView>> {
        Ok(self
            .live_reset(&token_hash(token))
            .await?
            .map(|reset| ResetView {
                two_step: reset.totp.is_some(),
            }))
    }

    async fn live_reset(
        &self,
        hash: &crate::crypto::TokenHash,
    ) -> AuthResult<Option<PasswordReset>> {
        match self.store.password_reset(hash).await? {
            Some(r) if self.now() < r.expires_at && r.link_password_hash == r.password_hash => {
                Ok(Some(r))
            }
            Some(_) => {
                self.store.take_password_reset(hash).await?;
                Ok(None)
            }
            None => Ok(None),
        }
    }

    /// Sets the new password through the link; `code` (from the app, or a backup code) is
    /// needed when two-step verification is on, and counted like the second step.
    pub async fn reset_password(
        &self,
        token: &str,
        new: &SecretString,
        code: &str,
        client: &Client,
    ) -> AuthResult<()> {
        let hash = token_hash(token);
        let reset = self
            .live_reset(&hash)
            .await?
            .ok_or(AuthError::ResetLinkInvalid)?;
        let (user_id, email) = (reset.user_id, reset.email.as_str());
        self.judge_new_password(new, email, Some(user_id)).await?;
        let subject = Subject::user(user_id, email);
        let origin = client.origin();
        let backup_code_hash;
        let (claim, factor, account) = match &reset.totp {
            None => (None, None, None),
            Some(credential) => {
                let code = code.trim();
                if code.is_empty() {
                    return Err(AuthError::CodeRequired);
                }
                // A typo is no guess: the format first, then the attempt is counted.
                let (factor, code) = match totp::normalise_code(code) {
                    Some(c) => (Factor::AppCode, c),
                    None => match backup_codes::normalise(code) {
                        Some(c) => (Factor::BackupCode, c),
                        None => return Err(AuthError::CodeFormat),
                    },
                };
                let account = self.reserve_account_code_attempt(user_id).await?;
                let claim = match factor {
                    Factor::AppCode => self
                        .totp_step(user_id, Some(credential), &code)?
                        .map(FactorClaim::TotpStep),
                    Factor::BackupCode => {
                        backup_code_hash = keyed_hash(&self.keys.backup_code_key, code.as_bytes());
                        Some(FactorClaim::BackupCode(&backup_code_hash))
                    }
                };
                let Some(claim) = claim else {
                    return Err(self
                        .reset_code_failed(subject, factor, &origin, account)
                        .await?);
                };
                (Some(claim), Some(factor), Some(account))
            }
        };
        let new_hash = self.hasher.hash(new).await;
        let now = self.now();
        let detail = factor.map_or(EventDetail::None, EventDetail::Factor);
        let events = |left: Option<i64>| {
            let mut events =
                vec![self.audit_record(EventKind::PasswordReset, subject, detail.clone(), &origin)];
            if let Some(left) = left {
                events.push(self.audit_record(
                    EventKind::BackupCodeUsed,
                    subject,
                    EventDetail::BackupCodesLeft(left),
                    &origin,
                ));
            }
            events
        };
        let (account_locks, second_step_lock) = (account_key(email), second_step_key(user_id));
        let finished = self
            .store
            .finish_password_reset(&ResetFinish {
                token: &hash,
                user_id,
                link_password_hash: &reset.link_password_hash,
                new_password_hash: &new_hash,
                claim,
                now,
                events: &events,
                clear: &[&account_locks, &second_step_lock],
            })
            .await?;
        match (finished, factor, account) {
            (ResetFinished::Done { backup_codes_left }, ..) => {
                self.sessions.forget_user(user_id);
                tracing::info!(user_id, "password reset through a link");
                if backup_codes_left.is_some() {
                    self.recorded(EventKind::BackupCodeUsed, subject, None, now);
                }
                let notice = Notice::PasswordReset;
                self.recorded(EventKind::PasswordReset, subject, Some(notice), now);
                Ok(())
            }
            (ResetFinished::FactorRefused, Some(factor), Some(account)) => Err(self
                .reset_code_failed(subject, factor, &origin, account)
                .await?),
            _ => Err(AuthError::ResetLinkInvalid),
        }
    }

    /// A wrong (or spent) code on the link's page: counted on the account like the second
    /// step; the link stays for another try until the account's second step locks.
    async fn reset_code_failed(
        &self,
        subject: Subject<'_>,
        factor: Factor,
        origin: &Origin,
        account: ThrottleState,
    ) -> AuthResult<AuthError> {
        if let Some(locked) = self.code_failed(subject, factor, origin, account).await? {
            return Ok(locked);
        }
        let left = self.policy.second_step_throttle.limit - account.failures;
        Ok(AuthError::WrongCode {
            attempts_left: Some(left),
        })
    }
}
