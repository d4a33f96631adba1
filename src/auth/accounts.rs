//! Account administration (the CLI's `user` commands).

use secrecy::SecretString;

use super::audit::{EventDetail, EventKind, Subject};
use super::notify::Notice;
use super::throttle::account_key;
use super::{AuthError, AuthResult, AuthService, Client, NewSession, normalise_email};
use crate::crypto::new_token;
use crate::store::{AccountChange, AuditRecord, NewUser, SessionRotation, StoreResult, User};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSummary {
    pub email: String,
    pub is_admin: bool,
    pub two_step: bool,
    /// Sign-in or second step locked after too many failures.
    pub locked: bool,
}

impl AuthService {
    pub async fn add_user(
        &self,
        email: &str,
        password: &SecretString,
        is_admin: bool,
    ) -> AuthResult<User> {
        let new = self.new_user(email, password, is_admin).await?;
        let kind = EventKind::AccountCreated;
        let event = self.admin_event(
            kind,
            Subject {
                id: None,
                email: &new.email,
            },
        );
        let user = self.store.create_user(new, &[event]).await?;
        self.recorded(kind, Subject::user(user.id, &user.email), None, self.now());
        Ok(user)
    }

    /// An account made through a one-time link, signed in: `store` keeps the account, its
    /// session and its events in one transaction while the link works (`None` when not).
    pub(super) async fn open_account(
        &self,
        new: NewUser,
        detail: EventDetail,
        client: &Client,
        store: impl AsyncFnOnce(NewUser, &SessionRotation, &[AuditRecord]) -> StoreResult<Option<User>>,
    ) -> AuthResult<Option<NewSession>> {
        let now = self.now();
        let (token, hash) = new_token();
        let session = SessionRotation {
            token: hash,
            now,
            expires_at: now + self.policy.session_lifetime,
            origin: client.origin(),
            replaces: None,
            password_hash: None,
        };
        let kind = EventKind::AccountCreated;
        let subject = Subject {
            id: None,
            email: &new.email,
        };
        let event = self.audit_record(kind, subject, detail, &session.origin);
        let Some(user) = store(new, &session, &[event]).await? else {
            return Ok(None);
        };
        tracing::info!(user_id = user.id, "account created through a link");
        self.recorded(kind, Subject::user(user.id, &user.email), None, now);
        let device_token = self
            .remember_device(user.id, &user.email, client, now)
            .await?;
        Ok(Some(NewSession {
            token,
            expires_at: session.expires_at,
            device_token,
        }))
    }

    /// Validates and hashes; nothing is stored yet.
    pub(crate) async fn new_user(
        &self,
        email: &str,
        password: &SecretString,
        is_admin: bool,
    ) -> AuthResult<NewUser> {
        let email = normalise_email(email)?;
        self.judge_new_password(password, &email, None).await?;
        Ok(NewUser {
            email,
            password_hash: self.hasher.hash(password).await,
            is_admin,
            now: self.now(),
        })
    }

    /// Sets a new password and ends every session of the account.
    pub async fn set_password(&self, email: &str, password: &SecretString) -> AuthResult<()> {
        let user = self.existing_user(email).await?;
        self.judge_new_password(password, &user.email, None).await?;
        let hash = self.hasher.hash(password).await;
        let kind = EventKind::PasswordChanged;
        let subject = Subject::user(user.id, &user.email);
        let event = self.admin_event(kind, subject);
        let change = self
            .store
            .set_password(user.id, &hash, self.now(), None, &[event])
            .await?;
        if change != AccountChange::Done {
            return Err(AuthError::UnknownUser(user.email));
        }
        self.sessions.forget_user(user.id);
        let notice = Notice::PasswordChanged { by_admin: true };
        self.recorded(kind, subject, Some(notice), self.now());
        Ok(())
    }

    pub async fn delete_user(&self, email: &str) -> AuthResult<()> {
        let user = self.existing_user(email).await?;
        self.sessions.forget_user(user.id);
        let kind = EventKind::AccountDeleted;
        let subject = Subject::user(user.id, &user.email);
        if !self
            .store
            .delete_user(user.id, &[self.admin_event(kind, subject)])
            .await?
        {
            return Err(AuthError::UnknownUser(user.email));
        }
        self.recorded(kind, subject, None, self.now());
        self.store
            .clear_throttle_family(&account_key(&user.email))
            .await?;
        Ok(())
    }

    /// Lifts the sign-in and second-step locks of an account.
    pub async fn unlock(&self, email: &str) -> AuthResult<()> {
        let user = self.existing_user(email).await?;
        self.store
            .clear_throttle_family(&account_key(&user.email))
            .await?;
        self.clear_second_step_lock(user.id).await?;
        self.record_admin(
            EventKind::Unlocked,
            Subject::user(user.id, &user.email),
            None,
        )
        .await
    }

    pub async fn list_users(&self) -> AuthResult<Vec<UserSummary>> {
        let now = self.now();
        let mut out = Vec::new();
        for user in self.store.list_users().await? {
            let locked = self
                .store
                .check_throttles(&[&account_key(&user.email)], now)
                .await?
                .locked_until
                .is_some()
                || self.second_step_locked(user.id).await?;
            out.push(UserSummary {
                email: user.email,
                is_admin: user.is_admin,
                two_step: user.totp_enabled,
                locked,
            });
        }
        Ok(out)
    }

    pub(crate) async fn existing_user(&self, email: &str) -> AuthResult<User> {
        let email = normalise_email(email)?;
        self.store
            .user_by_email(&email)
            .await?
            .ok_or(AuthError::UnknownUser(email))
    }
}
