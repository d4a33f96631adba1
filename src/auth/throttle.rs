//! Sign-in throttles per email address and per client address. They lock for a while,
//! never for good; `nidan user unlock` clears an account's.

use std::net::IpAddr;

use super::{AuthError, AuthResult, AuthService};
use crate::clock::UnixTime;

pub(crate) fn account_key(email: &str) -> String {
    format!("email:{email}")
}

/// IPv6 clients are counted per /64, as one subscriber usually holds a whole /64.
pub(crate) fn ip_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => format!("ip:{v4}"),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => format!("ip:{v4}"),
            None => {
                let s = v6.segments();
                format!("ip:{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

impl AuthService {
    /// Refuses before any work when either key is locked; otherwise tells whether
    /// either has failures counted.
    pub(crate) async fn check_not_throttled(&self, keys: &[&str]) -> AuthResult<bool> {
        let check = self.store.check_throttles(keys, self.now()).await?;
        match check.locked_until {
            Some(until) => {
                self.count_throttled();
                Err(AuthError::Throttled { until })
            }
            None => Ok(check.counted),
        }
    }

    /// Counts a failure on both keys: the lock when this failure set one, and whether
    /// it was the account's own lock that began just now.
    pub(crate) async fn count_failure(
        &self,
        account: &str,
        ip: &str,
    ) -> AuthResult<(Option<UnixTime>, bool)> {
        let now = self.now();
        let a = self
            .store
            .record_failure(account, now, self.policy.account_throttle)
            .await?;
        let i = self
            .store
            .record_failure(ip, now, self.policy.ip_throttle)
            .await?;
        let until = a.locked_until.max(i.locked_until);
        let account_locked_now = a.failures == self.policy.account_throttle.limit;
        Ok(((until > now).then_some(until), account_locked_now))
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
