//! Changes a signed-in person makes to their own account: each asks for the password again
//! (counted like a sign-in) and renews this browser's session while every other one ends.

use secrecy::{ExposeSecret, SecretString};

use super::audit::{EventDetail, EventKind, Subject};
use super::notify::Notice;
use super::password_policy::same_password;
use super::{AuthError, AuthResult, AuthService, Client, NewSession, SignedIn};
use crate::crypto::new_token;
use crate::store::{AccountChange, SessionRotation};

impl AuthService {
    /// マイページ →「パスワードの変更」: the current password, then the new one, which
    /// must pass the policy and differ from the current one. Every other session and every
    /// pending sign-in of the account ends; this browser gets a new session.
    pub async fn change_password(
        &self,
        user: &SignedIn,
        current: &SecretString,
        new: &SecretString,
        client: &Client,
    ) -> AuthResult<NewSession> {
        // The current password first: without it nothing else is judged (judging a new
        // password costs more than a hash), and a locked account is refused at once.
        let checked = self.recheck_password(user, current, client).await?;
        self.judge_new_password(new, &user.email, Some(user.user_id))
            .await?;
        if same_password(current.expose_secret(), new.expose_secret()) {
            return Err(AuthError::PasswordUnchanged);
        }
        let hash = self.hasher.hash(new).await;
        let (session, rotation) = self.new_rotation(user, client, Some(checked));
        let kind = EventKind::PasswordChanged;
        let event = self.user_event(kind, user, &rotation);
        let change = self
            .store
            .set_password(user.user_id, &hash, rotation.now, Some(&rotation), &[event])
            .await?;
        Self::changed(change)?;
        self.sessions.forget_user(user.user_id);
        tracing::info!(user_id = user.user_id, "password changed");
        let notice = Notice::PasswordChanged { by_admin: false };
        self.recorded(kind, user.subject(), Some(notice), rotation.now);
        Ok(session)
    }

    /// The password again, as the manual asks before any change; throttled like sign-in.
    /// The stored hash it matched, for the change to be stored only while it holds.
    pub(super) async fn recheck_password(
        &self,
        user: &SignedIn,
        password: &SecretString,
        client: &Client,
    ) -> AuthResult<String> {
        let counted = self
            .reserve_password_attempt(&user.email, Some(user.user_id), client)
            .await?;
        let stored = self.store.user_by_id(user.user_id).await?;
        let ok = self
            .hasher
            .verify(stored.as_ref().map(|u| u.password_hash.as_str()), password)
            .await;
        if let (true, Some(stored)) = (ok, stored) {
            self.password_right(&counted).await?;
            return Ok(stored.password_hash);
        }
        let subject = Subject::user(user.user_id, &user.email);
        let origin = client.origin();
        Err(
            match self
                .password_failed(subject, &counted, &origin, EventDetail::PasswordAskedAgain)
                .await?
            {
                AuthError::WrongCredentials => AuthError::WrongPassword,
                other => other,
            },
        )
    }

    /// The event of a change the signed-in person made to their own account.
    pub(super) fn user_event(
        &self,
        kind: EventKind,
        user: &SignedIn,
        rotation: &SessionRotation,
    ) -> crate::store::AuditRecord {
        self.audit_record(kind, user.subject(), EventDetail::None, &rotation.origin)
    }

    /// What a rotating change said, as the use case answers it.
    pub(super) fn changed(change: AccountChange) -> AuthResult<()> {
        match change {
            AccountChange::Done => Ok(()),
            AccountChange::WasOff => Err(AuthError::TwoStepOff),
            AccountChange::SessionEnded => Err(AuthError::SessionEnded),
        }
    }

    /// A renewed session for this browser (it keeps its device cookie). It replaces `user`'s
    /// session, which must still be live (and the account still have `password_hash`, the
    /// password just checked again) when the change is stored.
    pub(super) fn new_rotation(
        &self,
        user: &SignedIn,
        client: &Client,
        password_hash: Option<String>,
    ) -> (NewSession, SessionRotation) {
        let now = self.now();
        let (token, hash) = new_token();
        let expires_at = now + self.policy.session_lifetime;
        (
            NewSession {
                token,
                expires_at,
                device_token: None,
            },
            SessionRotation {
                token: hash,
                now,
                expires_at,
                origin: client.origin(),
                replaces: Some(user.token_hash),
                password_hash,
            },
        )
    }
}
