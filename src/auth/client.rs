//! Who is asking: the client address (after trusted proxies), its User-Agent and its
//! device cookie. Recorded with sessions and audit events, used by the throttles.

use std::fmt;
use std::net::IpAddr;

use crate::store::Origin;

/// Longer User-Agent strings are cut: they are shown and stored, never trusted.
pub const MAX_USER_AGENT_CHARS: usize = 256;

#[derive(Clone)]
pub struct Client {
    pub ip: IpAddr,
    pub user_agent: String,
    /// The `nidan_device` cookie, when the browser has one.
    pub device: Option<String>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("ip", &self.ip)
            .field("user_agent", &self.user_agent)
            .field("device", &self.device.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Client {
    pub fn new(ip: IpAddr, user_agent: &str, device: Option<String>) -> Self {
        Self {
            ip,
            user_agent: clean_user_agent(user_agent),
            device,
        }
    }

    pub fn origin(&self) -> Origin {
        Origin {
            ip: self.ip.to_string(),
            user_agent: self.user_agent.clone(),
        }
    }
}

/// The address a client is counted by: IPv6 per /64 (one subscriber usually holds a
/// whole /64), IPv4-mapped IPv6 as IPv4.
pub fn subscriber(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        v4 => v4,
    }
}

/// What an administrator's command records as its origin.
pub fn command_line() -> Origin {
    Origin {
        ip: String::new(),
        user_agent: "nidan (command line)".to_owned(),
    }
}

/// Printable characters only, at most `MAX_USER_AGENT_CHARS`.
fn clean_user_agent(raw: &str) -> String {
    raw.chars()
        .filter(|c| !c.is_control())
        .take(MAX_USER_AGENT_CHARS)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_agents_are_cut_and_cleaned() {
        let long = "x".repeat(1000);
        let client = Client::new("192.0.2.1".parse().unwrap(), &long, None);
        assert_eq!(client.user_agent.chars().count(), MAX_USER_AGENT_CHARS);
        let odd = Client::new("192.0.2.1".parse().unwrap(), "a\nb\u{7f}c", None);
        assert_eq!(odd.user_agent, "abc");
        assert_eq!(odd.origin().ip, "192.0.2.1");
    }
}
