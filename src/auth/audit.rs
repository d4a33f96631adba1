//! The audit trail: every security event, stored with time, account, client address and
//! User-Agent; counted in the metrics; and, where the owner should know, a notice.

use sha2::{Digest, Sha256};

use super::client::{Client, command_line};
use super::notify::Notice;
use super::{AuthError, AuthResult, AuthService, SignedIn};
use crate::clock::UnixTime;
use crate::crypto::TokenHash;
use crate::metrics::SignInResult;
pub use crate::store::event::{EventDetail, EventKind, Factor, Step};
use crate::store::{AuditQuery, AuditRecord, Origin, UserId};

impl EventKind {
    fn sign_in_result(self) -> Option<SignInResult> {
        Some(match self {
            EventKind::SignInOk => SignInResult::ok,
            EventKind::SignInFailed => SignInResult::wrong_password,
            EventKind::SecondStepOk => SignInResult::second_step_ok,
            EventKind::SecondStepFailed => SignInResult::second_step_failed,
            EventKind::Locked => SignInResult::locked,
            _ => return None,
        })
    }
}

/// The account an event is about (`id` is `None` for an address without an account).
#[derive(Clone, Copy)]
pub(crate) struct Subject<'a> {
    pub id: Option<UserId>,
    pub email: &'a str,
}

impl<'a> Subject<'a> {
    pub fn user(id: UserId, email: &'a str) -> Self {
        Self {
            id: Some(id),
            email,
        }
    }
}

/// A session of the account as マイページ lists it; `handle` names it in the end button.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionView {
    pub handle: String,
    pub created_at: UnixTime,
    pub last_seen_at: UnixTime,
    pub ip: String,
    pub user_agent: String,
    pub current: bool,
}

/// Names a session without giving away its token hash.
fn session_handle(hash: &TokenHash) -> String {
    let digest = Sha256::new()
        .chain_update(b"nidan session handle")
        .chain_update(hash)
        .finalize();
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// What one round of housekeeping deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pruned {
    pub events: u64,
    pub devices: u64,
    pub sessions: u64,
    /// Expired password-reset links, invitations and email changes.
    pub links: u64,
}

impl AuthService {
    /// Stores the event and counts it; a notice goes to the owner when there is one.
    pub(crate) async fn record(
        &self,
        kind: EventKind,
        subject: Subject<'_>,
        detail: EventDetail,
        origin: &Origin,
        notice: Option<Notice>,
    ) -> AuthResult<()> {
        let record = self.audit_record(kind, subject, detail, origin);
        self.store.append_audit(&record).await?;
        self.recorded(kind, subject, notice, record.at);
        Ok(())
    }

    /// The row an event becomes; stored by [`Self::record`] or inside a use case's
    /// transaction, then [`Self::recorded`].
    pub(crate) fn audit_record(
        &self,
        kind: EventKind,
        subject: Subject<'_>,
        detail: EventDetail,
        origin: &Origin,
    ) -> AuditRecord {
        AuditRecord {
            at: self.now(),
            user_id: subject.id,
            email: subject.email.to_owned(),
            kind: Some(kind),
            detail,
            origin: origin.clone(),
        }
    }

    /// Once an event is stored: its metrics, and the owner's email notice.
    pub(crate) fn recorded(
        &self,
        kind: EventKind,
        subject: Subject<'_>,
        notice: Option<Notice>,
        at: UnixTime,
    ) {
        if let Some(result) = kind.sign_in_result() {
            self.metrics.sign_in(result);
        }
        if kind == EventKind::BackupCodeUsed {
            self.metrics.backup_code_used();
        }
        if let (Some(notice), Some(_)) = (notice, subject.id) {
            self.notifier.notify(subject.email, notice, at);
        }
    }

    /// For administrators' commands.
    pub(crate) async fn record_admin(
        &self,
        kind: EventKind,
        subject: Subject<'_>,
        notice: Option<Notice>,
    ) -> AuthResult<()> {
        self.record(kind, subject, EventDetail::None, &command_line(), notice)
            .await
    }

    /// The event of an administrator's command, to store inside its transaction.
    pub(crate) fn admin_event(&self, kind: EventKind, subject: Subject<'_>) -> AuditRecord {
        self.audit_record(kind, subject, EventDetail::None, &command_line())
    }

    /// The audit trail, newest first (`nidan audit`).
    pub async fn audit_log(
        &self,
        email: Option<&str>,
        since: UnixTime,
        limit: i64,
    ) -> AuthResult<Vec<AuditRecord>> {
        let email = email.map(super::normalise_email).transpose()?;
        Ok(self
            .store
            .audit_events(&AuditQuery {
                user_id: None,
                email,
                since,
                limit,
            })
            .await?)
    }

    /// The account's latest events for マイページ.
    pub async fn recent_activity(
        &self,
        user: &SignedIn,
        limit: i64,
    ) -> AuthResult<Vec<AuditRecord>> {
        Ok(self
            .store
            .audit_events(&AuditQuery {
                user_id: Some(user.user_id),
                email: None,
                since: 0,
                limit,
            })
            .await?)
    }

    /// The account's live sessions, this one marked.
    pub async fn active_sessions(&self, user: &SignedIn) -> AuthResult<Vec<SessionView>> {
        let now = self.now();
        let sessions = self
            .store
            .sessions_of(user.user_id, now, now - self.policy.session_idle_timeout)
            .await?;
        Ok(sessions
            .into_iter()
            .map(|s| SessionView {
                handle: session_handle(&s.token_hash),
                current: s.token_hash == user.token_hash,
                created_at: s.created_at,
                last_seen_at: s.last_seen_at,
                ip: s.origin.ip,
                user_agent: s.origin.user_agent,
            })
            .collect())
    }

    /// Ends one of the account's other sessions, named by its handle.
    pub async fn end_session(
        &self,
        user: &SignedIn,
        handle: &str,
        client: &Client,
    ) -> AuthResult<()> {
        let now = self.now();
        let sessions = self
            .store
            .sessions_of(user.user_id, now, now - self.policy.session_idle_timeout)
            .await?;
        let target = sessions
            .into_iter()
            .find(|s| {
                crate::crypto::ct_eq(session_handle(&s.token_hash).as_bytes(), handle.as_bytes())
            })
            .ok_or(AuthError::UnknownSession)?;
        self.sessions.forget(&target.token_hash);
        let kind = EventKind::SessionEnded;
        let event = self.audit_record(
            kind,
            user.subject(),
            EventDetail::Session {
                ip: target.origin.ip.clone(),
                user_agent: target.origin.user_agent.clone(),
            },
            &client.origin(),
        );
        if !self
            .store
            .end_session_of(user.user_id, &target.token_hash, &[event])
            .await?
        {
            return Err(AuthError::UnknownSession);
        }
        self.recorded(kind, user.subject(), None, self.now());
        Ok(())
    }

    /// Background housekeeping: old audit events, devices unused for as long, ended
    /// sessions and sign-ins.
    pub async fn prune(&self, audit_retention_secs: i64) -> AuthResult<Pruned> {
        let now = self.now();
        let before = now - audit_retention_secs;
        Ok(Pruned {
            events: self.store.prune_audit(before).await?,
            devices: self.store.prune_devices(before).await?,
            sessions: self
                .store
                .prune_sessions(now, now - self.policy.session_idle_timeout)
                .await?,
            links: self.store.prune_password_resets(now).await?
                + self.store.prune_invitations(now).await?
                + self.store.prune_email_changes(now).await?,
        })
    }

    /// Reads the gauges that are counted at scrape time, then encodes every metric.
    pub async fn metrics_text(&self) -> AuthResult<String> {
        let now = self.now();
        let live = self
            .store
            .count_live_sessions(now, now - self.policy.session_idle_timeout)
            .await?;
        self.metrics.active_sessions.set(live);
        let pool = self.store.pool_state();
        for (state, value) in [("open", pool.size), ("idle", pool.idle), ("max", pool.max)] {
            self.metrics
                .db_connections
                .get_or_create(&crate::metrics::PoolLabels { state })
                .set(i64::from(value));
        }
        Ok(self.metrics.encode())
    }

    /// Counts a request in the HTTP metrics.
    pub fn count_request(
        &self,
        route: &'static str,
        method: &'static str,
        status: u16,
        seconds: f64,
    ) {
        self.metrics.request(route, method, status, seconds);
    }

    pub(crate) fn count_throttled(&self) {
        self.metrics.sign_in(SignInResult::throttled);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_do_not_show_the_token_hash() {
        let hash = [7u8; 32];
        let handle = session_handle(&hash);
        assert_eq!(handle.len(), 32);
        assert!(!handle.contains("0707"));
    }
}
