//! Sign-in with email and password. For accounts with two-step verification the
//! second step sits between "password accepted" and "session started".

use std::net::IpAddr;

use secrecy::{ExposeSecret, SecretString};

use super::password_policy::could_be_a_password;
use super::throttle::{account_key, ip_key};
use super::{AuthError, AuthResult, AuthService, NewSession, normalise_email};

pub struct LoginAttempt {
    pub email: String,
    pub password: SecretString,
    pub client_ip: IpAddr,
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
    #[tracing::instrument(skip_all, fields(ip = %attempt.client_ip))]
    pub async fn sign_in(&self, attempt: LoginAttempt) -> AuthResult<LoginOutcome> {
        let password = attempt.password.expose_secret();
        if attempt.email.trim().is_empty() || password.is_empty() {
            return Err(AuthError::MissingCredentials);
        }
        let email = normalise_email(&attempt.email)?;
        let account = account_key(&email);
        let ip = ip_key(attempt.client_ip);
        self.check_not_throttled(&[&account, &ip]).await?;

        let user = self.store.user_by_email(&email).await?;
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
            _ => {
                tracing::info!("sign-in failed");
                return Err(match self.count_failure(&account, &ip).await? {
                    Some(until) => AuthError::Throttled { until },
                    None => AuthError::WrongCredentials,
                });
            }
        };
        self.store.clear_throttle(&account).await?;
        if user.totp_enabled {
            tracing::info!(user_id = user.id, "password accepted, second step due");
            let pending_token = self.start_pending_login(user.id, &attempt.next).await?;
            return Ok(LoginOutcome::SecondStepRequired { pending_token });
        }
        tracing::info!(user_id = user.id, "signed in");
        Ok(LoginOutcome::SignedIn(self.start_session(user.id).await?))
    }
}
