//! First start: a one-time link creates the first administrator.

use secrecy::SecretString;

use super::audit::{EventDetail, EventKind, Subject};
use super::{AuthError, AuthResult, AuthService, Client, NewSession};
use crate::crypto::{new_token, token_hash};
use crate::store::SessionRotation;

impl AuthService {
    /// With no accounts, issues a new setup token (the old one dies); otherwise clears any.
    pub async fn prepare_setup(&self) -> AuthResult<Option<String>> {
        if self.store.count_users().await? > 0 {
            self.store.clear_setup_tokens().await?;
            return Ok(None);
        }
        let (token, hash) = new_token();
        self.store.replace_setup_token(&hash, self.now()).await?;
        Ok(Some(token))
    }

    pub async fn setup_link_valid(&self, token: &str) -> AuthResult<bool> {
        Ok(self.store.setup_token_exists(&token_hash(token)).await?
            && self.store.count_users().await? == 0)
    }

    /// Creates the first administrator and signs them in. Bad input leaves the link usable.
    pub async fn create_first_admin(
        &self,
        token: &str,
        email: &str,
        password: &SecretString,
        client: &Client,
    ) -> AuthResult<NewSession> {
        if !self.setup_link_valid(token).await? {
            return Err(AuthError::SetupLinkInvalid);
        }
        let new = self.new_user(email, password, true).await?;
        let now = self.now();
        let (session_token, session_hash) = new_token();
        let session = SessionRotation {
            token: session_hash,
            now,
            expires_at: now + self.policy.session_lifetime,
            origin: client.origin(),
            replaces: None,
            password_hash: None,
        };
        // The account, its session and the event in one transaction; the store fills in
        // the new account's id.
        let kind = EventKind::AccountCreated;
        let detail = EventDetail::FirstAdministrator;
        let event = self.audit_record(
            kind,
            Subject {
                id: None,
                email: &new.email,
            },
            detail,
            &session.origin,
        );
        let user = self
            .store
            .create_first_admin(&token_hash(token), new, &session, &[event])
            .await?
            .ok_or(AuthError::SetupLinkInvalid)?;
        tracing::info!(user_id = user.id, "first administrator created");
        let subject = Subject::user(user.id, &user.email);
        self.recorded(kind, subject, None, now);
        let device_token = self
            .remember_device(user.id, &user.email, client, now)
            .await?;
        Ok(NewSession {
            token: session_token,
            expires_at: session.expires_at,
            device_token,
        })
    }
}
