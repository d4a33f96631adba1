//! 「パスワードをお忘れの方」: a link by email to choose a new password. The answer to a
//! request is the same, in words and in time, whether the account exists; the link works
//! once, for 30 minutes, while the account keeps the password it had; with two-step
//! verification on, the reset needs a code or a backup code too (a reset never skips the
//! second step). Afterwards every session and sign-in of the account has ended and its
//! attempt locks are lifted.

use secrecy::SecretString;

use super::audit::{EventDetail, EventKind, Subject};
use super::code_again::GivenCode;
use super::notify::Notice;
use super::throttle::{account_key, ip_key};
use super::two_step::second_step_key;
use super::{AuthError, AuthResult, AuthService, Client, normalise_email};
use crate::crypto::{new_token, token_hash};
use crate::store::{Origin, PasswordReset, ResetFinish, ResetFinished, ThrottleRule};

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
    /// Sends a link when `email` names an account. Counted per address and per client
    /// address whether or not it does; the account is looked up after the answer.
    pub async fn request_password_reset(&self, email: &str, client: &Client) -> AuthResult<()> {
        if !self.links_by_email() {
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
        let (id, email, password_hash) = (user.id, &user.email, &user.password_hash);
        // An email change confirmed since the lookup ended the links to this address.
        if !self
            .store
            .insert_password_reset(&hash, id, email, now, expires_at, password_hash)
            .await?
        {
            return Ok(());
        }
        let link = self.emailed_link(&format!("/login/reset?token={token}"));
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
        let given = match &reset.totp {
            None => None,
            Some(credential) => Some(
                self.check_code_again(subject, user_id, credential, code, &origin)
                    .await?,
            ),
        };
        let factor = given.as_ref().map(|g| g.factor);
        let new_hash = self.hasher.hash(new).await;
        let now = self.now();
        let detail = factor.map_or(EventDetail::None, EventDetail::Factor);
        let events = |left: Option<i64>| {
            self.events_with_code(
                EventKind::PasswordReset,
                subject,
                detail.clone(),
                &origin,
                left,
            )
        };
        let (account_locks, second_step_lock) = (account_key(email), second_step_key(user_id));
        let finished = self
            .store
            .finish_password_reset(&ResetFinish {
                token: &hash,
                user_id,
                link_password_hash: &reset.link_password_hash,
                new_password_hash: &new_hash,
                claim: given.as_ref().map(GivenCode::claim),
                now,
                events: &events,
                clear: &[&account_locks, &second_step_lock],
            })
            .await?;
        match (finished, given) {
            (ResetFinished::Done { backup_codes_left }, _) => {
                self.sessions.forget_user(user_id);
                tracing::info!(user_id, "password reset through a link");
                if backup_codes_left.is_some() {
                    self.recorded(EventKind::BackupCodeUsed, subject, None, now);
                }
                let notice = Notice::PasswordReset;
                self.recorded(EventKind::PasswordReset, subject, Some(notice), now);
                Ok(())
            }
            (ResetFinished::FactorRefused, Some(given)) => Err(self
                .code_again_failed(subject, given.factor, &origin, given.attempt)
                .await?),
            _ => Err(AuthError::ResetLinkInvalid),
        }
    }
}
