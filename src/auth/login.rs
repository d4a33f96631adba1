//! Sign-in with email and password. For accounts with two-step verification the
//! second step sits between "password accepted" and "session started".

use secrecy::{ExposeSecret, SecretString};

use super::audit::{EventDetail, EventKind, Step, Subject};
use super::notify::Notice;
use super::password_policy::could_be_a_password;
use super::throttle::PasswordAttempt;
use super::{AuthError, AuthResult, AuthService, Client, NewSession, normalise_email};
use crate::store::SessionBasis;

pub struct LoginAttempt {
    pub email: String,
    pub password: SecretString,
    pub client: Client,
    /// Where to go after a second step (a local path the caller has checked).
    pub next: String,
}

#[derive(Debug)]
pub enum LoginOutcome {
    SignedIn(NewSession),
    /// The password was right; the token is for the pending-sign-in cookie.
    SecondStepRequired {
        pending_token: String,
    },
}

impl AuthService {
    /// One answer for unknown email and wrong password, at the same cost.
    #[tracing::instrument(skip_all, fields(ip = %attempt.client.ip))]
    pub async fn sign_in(&self, attempt: LoginAttempt) -> AuthResult<LoginOutcome> {
        let password = attempt.password.expose_secret();
        if attempt.email.trim().is_empty() || password.is_empty() {
            return Err(AuthError::MissingCredentials);
        }
        let email = normalise_email(&attempt.email)?;
        let origin = attempt.client.origin();
        let user = self.store.user_by_email(&email).await?;
        let counted = self
            .reserve_password_attempt(&email, user.as_ref().map(|u| u.id), &attempt.client)
            .await?;
        let ok = could_be_a_password(password)
            && self
                .hasher
                .verify(
                    user.as_ref().map(|u| u.password_hash.as_str()),
                    &attempt.password,
                )
                .await;
        let user = match (ok, user) {
            (true, Some(user)) => user,
            (_, user) => {
                tracing::info!("sign-in failed");
                let subject = Subject {
                    id: user.as_ref().map(|u| u.id),
                    email: &email,
                };
                return Err(self
                    .password_failed(subject, &counted, &origin, EventDetail::None)
                    .await?);
            }
        };
        self.password_right(&counted).await?;
        let subject = || Subject::user(user.id, &user.email);
        if user.totp_enabled {
            tracing::info!(user_id = user.id, "password accepted, second step due");
            self.record(
                EventKind::PasswordAccepted,
                subject(),
                EventDetail::None,
                &origin,
                None,
            )
            .await?;
            // A password changed while it was being checked proves nothing.
            let Some(pending_token) = self
                .start_pending_login(user.id, &attempt.next, &user.password_hash)
                .await?
            else {
                return Err(AuthError::WrongCredentials);
            };
            return Ok(LoginOutcome::SecondStepRequired { pending_token });
        }
        let basis = SessionBasis {
            password_hash: &user.password_hash,
            two_step: false,
        };
        // The session and its audit event in one transaction: both or neither.
        let signed_in =
            self.audit_record(EventKind::SignInOk, subject(), EventDetail::None, &origin);
        let Some(session) = self
            .start_session(
                user.id,
                &user.email,
                &attempt.client,
                basis,
                std::slice::from_ref(&signed_in),
            )
            .await?
        else {
            // Changed while the password was checked: two-step verification just turned
            // on asks for its code; a new password means this one is wrong now.
            return match self.store.user_by_id(user.id).await? {
                Some(now) if now.password_hash == user.password_hash && now.totp_enabled => self
                    .start_pending_login(user.id, &attempt.next, &user.password_hash)
                    .await?
                    .map(|pending_token| LoginOutcome::SecondStepRequired { pending_token })
                    .ok_or(AuthError::WrongCredentials),
                _ => Err(AuthError::WrongCredentials),
            };
        };
        tracing::info!(user_id = user.id, "signed in");
        self.recorded(EventKind::SignInOk, subject(), None, signed_in.at);
        Ok(LoginOutcome::SignedIn(session))
    }

    /// A wrong password (at sign-in or asked again; counted when it was reserved):
    /// recorded, and the lock reported to the owner when this failure set it.
    pub(crate) async fn password_failed(
        &self,
        subject: Subject<'_>,
        attempt: &PasswordAttempt,
        origin: &crate::store::Origin,
        detail: EventDetail,
    ) -> AuthResult<AuthError> {
        let (until, account_locked_now) = self.password_wrong(attempt);
        let email = subject.email;
        let id = subject.id;
        self.record(EventKind::SignInFailed, subject, detail, origin, None)
            .await?;
        if let (Some(until), true) = (until, account_locked_now) {
            self.record(
                EventKind::Locked,
                Subject { id, email },
                EventDetail::LockOn(Step::SignIn),
                origin,
                Some(Notice::Locked { until }),
            )
            .await?;
        }
        Ok(match until {
            Some(until) => AuthError::Throttled {
                retry_after: self.retry_after(until),
            },
            None => AuthError::WrongCredentials,
        })
    }
}
