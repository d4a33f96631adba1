//! Server-side sessions: the cookie holds 256 random bits, the database their SHA-256.

use std::fmt;

use super::audit::{EventDetail, EventKind, Subject};
use super::notify::Notice;
use super::{AuthResult, AuthService, Client};
use crate::clock::UnixTime;
use crate::crypto::{TokenHash, new_token, token_hash};
use crate::store::{AuditRecord, DeviceSeen, SessionBasis, UserId};

/// Sessions are written back at most this often, so page views stay reads; more often
/// under a short idle timeout (a quarter of it), so that activity keeps a session alive.
const TOUCH_EVERY_SECS: i64 = 60;

/// A session just made: the token goes into the cookie and nowhere else.
pub struct NewSession {
    pub token: String,
    pub expires_at: UnixTime,
    /// A new `nidan_device` cookie value, when the browser had none.
    pub device_token: Option<String>,
}

impl fmt::Debug for NewSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewSession")
            .field("token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .field(
                "device_token",
                &self.device_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// The account behind a valid session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedIn {
    pub user_id: UserId,
    pub email: String,
    pub is_admin: bool,
    /// Whether the account has two-step verification on.
    pub two_step: bool,
    pub token_hash: TokenHash,
}

impl SignedIn {
    pub(crate) fn subject(&self) -> super::audit::Subject<'_> {
        super::audit::Subject::user(self.user_id, &self.email)
    }
}

impl AuthService {
    /// A full sign-in: the session, stored with `events` (its audit events) in one
    /// transaction, and the device it came from remembered; the owner hears of a device
    /// the account has not signed in on before. `None` (nothing stored) when the account's
    /// password or two-step verification changed since `basis` was read.
    pub(crate) async fn start_session(
        &self,
        user_id: UserId,
        email: &str,
        client: &Client,
        basis: SessionBasis<'_>,
        events: &[AuditRecord],
    ) -> AuthResult<Option<NewSession>> {
        let now = self.now();
        let (token, hash) = new_token();
        let expires_at = now + self.policy.session_lifetime;
        let origin = client.origin();
        let stored = self
            .store
            .insert_session(&hash, user_id, now, expires_at, &origin, basis, events)
            .await?;
        if !stored {
            tracing::info!(
                user_id,
                "the account changed during the sign-in; no session"
            );
            return Ok(None);
        }
        let device_token = self.remember_device(user_id, email, client, now).await?;
        Ok(Some(NewSession {
            token,
            expires_at,
            device_token,
        }))
    }

    /// The browser a sign-in came from, remembered; a new device cookie (returned) when it
    /// had none this account knows. The owner hears of a device not seen before.
    pub(crate) async fn remember_device(
        &self,
        user_id: UserId,
        email: &str,
        client: &Client,
        now: UnixTime,
    ) -> AuthResult<Option<String>> {
        let presented = Self::presented_device(client);
        let known = match &presented {
            Some(hash) => self.store.device_known(user_id, hash).await?,
            None => false,
        };
        let (device_token, device) = Self::device_to_note(presented, known);
        let seen = self.store.remember_device(user_id, &device, now).await?;
        self.device_noted(email, client, seen, now);
        Ok(device_token)
    }

    /// The hash of the browser's device cookie, when it looks like one of ours.
    pub(crate) fn presented_device(client: &Client) -> Option<[u8; 32]> {
        client
            .device
            .as_deref()
            .filter(|d| looks_like_token(d))
            .map(Self::device_hash)
    }

    /// The device a sign-in notes, and the new cookie to set when there is one. A device
    /// cookie counts only once this account has signed in with it (`known`): one it has
    /// not is replaced, so a cookie planted in the owner's browser (by a sibling host or
    /// the guarded app) never becomes the owner's known device.
    pub(crate) fn device_to_note(
        presented: Option<[u8; 32]>,
        known: bool,
    ) -> (Option<String>, [u8; 32]) {
        match presented {
            Some(hash) if known => (None, hash),
            _ => {
                let (token, hash) = new_token();
                (Some(token), hash)
            }
        }
    }

    /// Once a device is noted: the owner hears of one not seen before.
    pub(crate) fn device_noted(
        &self,
        email: &str,
        client: &Client,
        seen: DeviceSeen,
        now: UnixTime,
    ) {
        if seen == DeviceSeen::New {
            let origin = client.origin();
            self.notifier
                .notify(email, Notice::NewDevice { origin }, now);
        }
    }

    /// The signed-in account, or `None` for an unknown, idle or expired session
    /// (which is then deleted).
    pub async fn session(&self, token: &str) -> AuthResult<Option<SignedIn>> {
        self.session_of(&token_hash(token)).await
    }

    /// [`Self::session`] by the token's hash (what the proxy keeps of an open stream).
    pub async fn session_of(&self, hash: &TokenHash) -> AuthResult<Option<SignedIn>> {
        let hash = *hash;
        let record = match self.sessions.get(&hash) {
            Some(record) => record,
            None => match self.store.session(&hash).await? {
                Some(record) => {
                    self.sessions.put(hash, record.clone());
                    record
                }
                None => return Ok(None),
            },
        };
        let now = self.now();
        let idle = now - record.last_seen_at >= self.policy.session_idle_timeout;
        if now >= record.expires_at || idle {
            self.sessions.forget(&hash);
            self.store.delete_session(&hash, &[]).await?;
            return Ok(None);
        }
        let touch_every = (self.policy.session_idle_timeout / 4).clamp(1, TOUCH_EVERY_SECS);
        if now - record.last_seen_at >= touch_every {
            self.store.touch_session(&hash, now).await?;
            self.sessions.touched(&hash, now);
        }
        Ok(Some(SignedIn {
            user_id: record.user_id,
            email: record.email,
            is_admin: record.is_admin,
            two_step: record.two_step,
            token_hash: hash,
        }))
    }

    pub async fn sign_out(&self, token: &str, client: &Client) -> AuthResult<()> {
        let hash = token_hash(token);
        self.sessions.forget(&hash);
        let Some(record) = self.store.session(&hash).await? else {
            return Ok(());
        };
        let kind = EventKind::SignedOut;
        let subject = Subject::user(record.user_id, &record.email);
        let event = self.audit_record(kind, subject, EventDetail::None, &client.origin());
        if self.store.delete_session(&hash, &[event]).await? {
            self.recorded(kind, subject, None, self.now());
        }
        Ok(())
    }
}

/// Device cookies are our own tokens: 43 URL-safe characters. Anything else is replaced.
fn looks_like_token(value: &str) -> bool {
    value.len() == 43
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}
