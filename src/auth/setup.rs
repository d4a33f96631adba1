//! First start: a one-time link creates the first administrator.

use secrecy::SecretString;

use super::audit::EventDetail;
use super::{AuthError, AuthResult, AuthService, Client, NewSession};
use crate::crypto::{new_token, token_hash};

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
        let hash = token_hash(token);
        self.open_account(
            new,
            EventDetail::FirstAdministrator,
            client,
            async |new, session, events| {
                let store = &self.store;
                store.create_first_admin(&hash, new, session, events).await
            },
        )
        .await?
        .ok_or(AuthError::SetupLinkInvalid)
    }
}
