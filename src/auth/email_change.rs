//! マイページ →「メールアドレスの変更」: the password again (and a code when two-step
//! verification is on), then a link to the new address; until it is opened nothing changes.
//! The old address is told, without a link, when the change is asked for and when it is
//! made. A link works once, for 24 hours, while the account keeps the address and password
//! it had when the change was asked for.

use secrecy::SecretString;

use super::audit::{EventDetail, EventKind, Subject};
use super::code_again::GivenCode;
use super::notify::Notice;
use super::{AuthError, AuthResult, AuthService, Client, SignedIn, normalise_email};
use crate::clock::UnixTime;
use crate::crypto::{TokenHash, new_token, token_hash};
use crate::store::{EmailChange, EmailChangeAsk, EmailChangeAsked, StoreError, ThrottleRule};

/// How long a link to confirm a new address works.
pub const EMAIL_CHANGE_LIFETIME_SECS: i64 = 24 * 3600;
/// Links one account can send in an hour (each goes to an address of the asker's choice).
const PER_ACCOUNT: ThrottleRule = ThrottleRule {
    limit: 5,
    window: 3600,
    lock_for: 3600,
};

/// A change of address just asked for: where the link went, until when it works.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailChangeSent {
    pub new_email: String,
    pub expires_at: UnixTime,
}

/// What the link's page shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailChangeView {
    pub email: String,
    pub new_email: String,
}

impl AuthService {
    /// Asks for `new_email` to become the account's address: the password again (counted
    /// like a sign-in), the code when two-step verification is on (counted like the second
    /// step), then a link to the new address and a notice to the old one.
    pub async fn request_email_change(
        &self,
        user: &SignedIn,
        new_email: &str,
        password: &SecretString,
        code: &str,
        client: &Client,
    ) -> AuthResult<EmailChangeSent> {
        if !self.links_by_email() {
            return Err(AuthError::EmailChangeUnavailable);
        }
        let new_email = normalise_email(new_email)?;
        if new_email == user.email {
            return Err(AuthError::EmailUnchanged);
        }
        let password_hash = self.recheck_password(user, password, client).await?;
        let origin = client.origin();
        let subject = user.subject();
        let given = match self.store.totp_credential(user.user_id).await? {
            None => None,
            Some(credential) => Some(
                self.check_code_again(subject, user.user_id, &credential, code, &origin)
                    .await?,
            ),
        };
        // Whether an address has an account is told only to someone past both steps.
        let refused = if self.store.user_by_email(&new_email).await?.is_some() {
            Some(AuthError::EmailTaken)
        } else {
            let limit = format!("email-change:{}", user.user_id);
            self.count_or_refuse(&limit, PER_ACCOUNT).await.err()
        };
        if let Some(refused) = refused {
            self.give_back_code(user.user_id, given.as_ref()).await;
            return Err(refused);
        }
        let now = self.now();
        let expires_at = now + EMAIL_CHANGE_LIFETIME_SECS;
        let (token, hash) = new_token();
        let kind = EventKind::EmailChangeRequested;
        let detail = EventDetail::NewAddress(new_email.clone());
        let events =
            |left: Option<i64>| self.events_with_code(kind, subject, detail.clone(), &origin, left);
        let asked = self
            .store
            .ask_email_change(&EmailChangeAsk {
                token: &hash,
                user_id: user.user_id,
                old_email: &user.email,
                new_email: &new_email,
                password_hash: &password_hash,
                claim: given.as_ref().map(GivenCode::claim),
                now,
                expires_at,
                events: &events,
            })
            .await?;
        if asked != EmailChangeAsked::FactorRefused {
            self.give_back_code(user.user_id, given.as_ref()).await;
        }
        match (asked, given) {
            (EmailChangeAsked::Done { backup_codes_left }, _) => {
                tracing::info!(user_id = user.user_id, "email change asked for");
                if backup_codes_left.is_some() {
                    self.recorded(EventKind::BackupCodeUsed, subject, None, now);
                }
                let notice = Notice::EmailChangeRequested {
                    new_email: new_email.clone(),
                };
                self.recorded(kind, subject, Some(notice), now);
                let link = self.emailed_link(&format!("/email/confirm?token={token}"));
                let notice = Notice::EmailChangeLink { link, expires_at };
                self.notifier.notify(&new_email, notice, now);
                Ok(EmailChangeSent {
                    new_email,
                    expires_at,
                })
            }
            (EmailChangeAsked::FactorRefused, Some(given)) => Err(self
                .code_again_failed(subject, given.factor, &origin, given.attempt)
                .await?),
            _ => Err(AuthError::SessionEnded),
        }
    }

    /// What the link's page shows; `None` when the link is unknown, used, expired, or the
    /// account's address or password has changed since.
    pub async fn email_change_view(&self, token: &str) -> AuthResult<Option<EmailChangeView>> {
        Ok(self
            .live_email_change(&token_hash(token))
            .await?
            .map(|c| EmailChangeView {
                email: c.email,
                new_email: c.new_email,
            }))
    }

    async fn live_email_change(&self, hash: &TokenHash) -> AuthResult<Option<EmailChange>> {
        match self.store.email_change(hash).await? {
            Some(c)
                if self.now() < c.expires_at
                    && c.old_email == c.email
                    && c.link_password_hash == c.password_hash =>
            {
                Ok(Some(c))
            }
            Some(_) => {
                self.store.take_email_change(hash).await?;
                Ok(None)
            }
            None => Ok(None),
        }
    }

    /// The link opened and confirmed: the account's address becomes the new one. Sessions
    /// go on (they belong to the account, not to its address); the old address is told.
    pub async fn confirm_email_change(&self, token: &str, client: &Client) -> AuthResult<String> {
        let hash = token_hash(token);
        let change = self
            .live_email_change(&hash)
            .await?
            .ok_or(AuthError::EmailChangeLinkInvalid)?;
        let now = self.now();
        let kind = EventKind::EmailChanged;
        let subject = Subject::user(change.user_id, &change.new_email);
        let detail = EventDetail::OldAddress(change.old_email.clone());
        let event = self.audit_record(kind, subject, detail, &client.origin());
        match self
            .store
            .finish_email_change(&hash, &change, now, &[event])
            .await
        {
            Ok(true) => {}
            Ok(false) => return Err(AuthError::EmailChangeLinkInvalid),
            // Another account took the address since the change was asked for.
            Err(StoreError::Duplicate) => return Err(AuthError::EmailTaken),
            Err(e) => return Err(e.into()),
        }
        self.sessions.forget_user(change.user_id);
        tracing::info!(user_id = change.user_id, "email address changed");
        self.recorded(kind, subject, None, now);
        let notice = Notice::EmailChanged {
            new_email: change.new_email.clone(),
        };
        self.notifier.notify(&change.old_email, notice, now);
        Ok(change.new_email)
    }
}
