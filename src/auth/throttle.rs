//! Sign-in throttles per email address (and per known browser of it) and per client
//! address. They lock for a while, never for good; `nidan user unlock` clears an account's.

use std::net::IpAddr;

use super::{AuthError, AuthResult, AuthService, Client};
use crate::clock::UnixTime;
use crate::store::{ThrottleRule, ThrottleState, UserId};

pub(crate) fn account_key(email: &str) -> String {
    format!("email:{email}")
}

/// IPv6 clients are counted per /64 (`client::subscriber`).
pub(crate) fn ip_key(ip: IpAddr) -> String {
    match super::client::subscriber(ip) {
        IpAddr::V4(v4) => format!("ip:{v4}"),
        IpAddr::V6(v6) => format!("ip:{v6}/64"),
    }
}

/// Password failures from a browser that has signed in to the account before are counted
/// on a key of their own (OWASP's device cookies): a stranger's guessing locks the account
/// for unknown browsers only, never for its owner's.
fn device_key(account: &str, device_hash: &[u8; 32]) -> String {
    let short: String = device_hash[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{account}#device:{short}")
}

/// The two counters one password check is reserved on, and what they said.
pub(crate) struct PasswordAttempt {
    pub account: String,
    pub ip: String,
    account_state: ThrottleState,
    ip_state: ThrottleState,
}

impl AuthService {
    /// Counts one use of `key` before the work it guards; `Throttled` while the key is
    /// locked or its window is full.
    pub(crate) async fn count_or_refuse(&self, key: &str, rule: ThrottleRule) -> AuthResult<()> {
        let now = self.now();
        if self.store.reserve_attempt(key, now, rule).await?.is_some() {
            return Ok(());
        }
        let until = self.store.check_throttles(&[key], now).await?.locked_until;
        Err(AuthError::Throttled {
            retry_after: self.retry_after(until.unwrap_or(now + rule.lock_for)),
        })
    }

    /// The account's counter for this client: its own when its device cookie has signed
    /// in to the account before, else the one every unknown browser shares.
    async fn account_counter(
        &self,
        email: &str,
        user_id: Option<UserId>,
        client: &Client,
    ) -> AuthResult<String> {
        let account = account_key(email);
        if let (Some(user_id), Some(device)) = (user_id, client.device.as_deref()) {
            let hash = Self::device_hash(device);
            if self.store.device_known(user_id, &hash).await? {
                return Ok(device_key(&account, &hash));
            }
        }
        Ok(account)
    }

    /// Reserves one password attempt on the client address's and the account's counters
    /// before the password is checked: of any number at once, at most the limit go on.
    pub(crate) async fn reserve_password_attempt(
        &self,
        email: &str,
        user_id: Option<UserId>,
        client: &Client,
    ) -> AuthResult<PasswordAttempt> {
        let account = self.account_counter(email, user_id, client).await?;
        let ip = ip_key(client.ip);
        let now = self.now();
        let Some(ip_state) = self
            .store
            .reserve_attempt(&ip, now, self.policy.ip_throttle)
            .await?
        else {
            return Err(self.throttled(&[&ip], self.policy.ip_throttle).await?);
        };
        let Some(account_state) = self
            .store
            .reserve_attempt(&account, now, self.policy.account_throttle)
            .await?
        else {
            // Nothing was checked: the address's attempt goes back.
            self.store
                .release_attempt(&ip, self.policy.ip_throttle)
                .await?;
            return Err(self
                .throttled(&[&account], self.policy.account_throttle)
                .await?);
        };
        Ok(PasswordAttempt {
            account,
            ip,
            account_state,
            ip_state,
        })
    }

    /// The password was right: the address's attempt goes back and the account's count
    /// (for this kind of browser) starts afresh.
    pub(crate) async fn password_right(&self, attempt: &PasswordAttempt) -> AuthResult<()> {
        self.store
            .release_attempt(&attempt.ip, self.policy.ip_throttle)
            .await?;
        self.store.clear_throttle(&attempt.account).await?;
        Ok(())
    }

    /// The password was wrong (it is counted already): the lock, when this attempt set
    /// one, and whether it was the account's own lock.
    pub(crate) fn password_wrong(&self, attempt: &PasswordAttempt) -> (Option<UnixTime>, bool) {
        let now = self.now();
        let until = attempt
            .account_state
            .locked_until
            .max(attempt.ip_state.locked_until);
        let account_locked_now =
            attempt.account_state.failures == self.policy.account_throttle.limit;
        ((until > now).then_some(until), account_locked_now)
    }

    /// The refusal for a counter that took no more attempts, with when to try again.
    pub(crate) async fn throttled(
        &self,
        keys: &[&str],
        rule: ThrottleRule,
    ) -> AuthResult<AuthError> {
        self.count_throttled();
        let now = self.now();
        let until = self
            .store
            .check_throttles(keys, now)
            .await?
            .locked_until
            .unwrap_or(now + rule.lock_for);
        Ok(AuthError::Throttled {
            retry_after: self.retry_after(until),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_group_ipv6_by_prefix() {
        assert_eq!(ip_key("192.0.2.7".parse().unwrap()), "ip:192.0.2.7");
        assert_eq!(ip_key("::ffff:192.0.2.7".parse().unwrap()), "ip:192.0.2.7");
        assert_eq!(
            ip_key("2001:db8:1:2:aaaa::1".parse().unwrap()),
            ip_key("2001:db8:1:2:bbbb::9".parse().unwrap())
        );
        assert_eq!(
            ip_key("2001:db8:1:2::1".parse().unwrap()),
            "ip:2001:db8:1:2::/64"
        );
        assert_eq!(account_key("a@b.jp"), "email:a@b.jp");
    }
}
