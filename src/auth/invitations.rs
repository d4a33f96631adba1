//! Invitations (`nidan user invite`): an administrator names an address, and the person who
//! receives the link chooses their own password (the administrator never knows it). A link
//! works once, for 7 days; inviting the address again replaces it; it can be revoked.

use secrecy::SecretString;

use super::audit::{EventDetail, EventKind, Subject};
use super::notify::SecretLink;
use super::{AuthError, AuthResult, AuthService, Client, NewSession, normalise_email};
use crate::clock::UnixTime;
use crate::crypto::{new_token, token_hash};
use crate::store::Invitation;

/// How long an invitation works.
pub const INVITATION_LIFETIME_SECS: i64 = 7 * 24 * 3600;

/// An invitation just made: its link (shown once; redacted in debug output) and when it ends.
#[derive(Debug)]
pub struct Invited {
    pub link: SecretLink,
    pub expires_at: UnixTime,
}

impl AuthService {
    /// Invites `email` (an administrator when `is_admin`); an address with an account is
    /// refused. The link is under the link base (`with_link_base`).
    pub async fn invite(&self, email: &str, is_admin: bool) -> AuthResult<Invited> {
        let email = normalise_email(email)?;
        let now = self.now();
        let (token, hash) = new_token();
        let invitation = Invitation {
            email,
            is_admin,
            created_at: now,
            expires_at: now + INVITATION_LIFETIME_SECS,
        };
        let subject = Subject {
            id: None,
            email: &invitation.email,
        };
        let kind = EventKind::InvitationSent;
        let event = self.admin_event(kind, subject);
        if !self
            .store
            .put_invitation(&hash, &invitation, &[event])
            .await?
        {
            return Err(AuthError::EmailTaken);
        }
        self.recorded(kind, subject, None, now);
        Ok(Invited {
            link: self.emailed_link(&format!("/invite/{token}")),
            expires_at: invitation.expires_at,
        })
    }

    /// Every invitation, expired ones too.
    pub async fn invitations(&self) -> AuthResult<Vec<Invitation>> {
        Ok(self.store.invitations().await?)
    }

    pub async fn revoke_invitation(&self, email: &str) -> AuthResult<()> {
        let email = normalise_email(email)?;
        let kind = EventKind::InvitationRevoked;
        let subject = Subject {
            id: None,
            email: &email,
        };
        if !self
            .store
            .revoke_invitation(&email, &[self.admin_event(kind, subject)])
            .await?
        {
            return Err(AuthError::UnknownInvitation(email));
        }
        self.recorded(kind, subject, None, self.now());
        Ok(())
    }

    /// The invitation behind a link, while it works.
    pub async fn invitation_for(&self, token: &str) -> AuthResult<Option<Invitation>> {
        Ok(self
            .store
            .invitation(&token_hash(token))
            .await?
            .filter(|i| self.now() < i.expires_at))
    }

    /// The invited person's own password: the account is made and signed in. Bad input
    /// leaves the link usable.
    pub async fn accept_invitation(
        &self,
        token: &str,
        password: &SecretString,
        client: &Client,
    ) -> AuthResult<NewSession> {
        let invitation = self
            .invitation_for(token)
            .await?
            .ok_or(AuthError::InvitationInvalid)?;
        let new = self
            .new_user(&invitation.email, password, invitation.is_admin)
            .await?;
        let hash = token_hash(token);
        self.open_account(
            new,
            EventDetail::Invited,
            client,
            async |new, session, events| {
                let store = &self.store;
                store.accept_invitation(&hash, new, session, events).await
            },
        )
        .await?
        .ok_or(AuthError::InvitationInvalid)
    }
}
