//! Who may pass the forward-auth check, per host and path prefix.

use std::fmt;
use std::str::FromStr;

use super::SignedIn;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessPolicy {
    /// Anyone, signed in or not (e.g. a health check of the guarded app).
    Bypass,
    /// A full sign-in: password, and the second step where the account has it on.
    SignedIn,
    /// A full sign-in by an account that has two-step verification on.
    TwoFactor,
}

/// `HOST[/PATH-PREFIX]=POLICY`, e.g. `cam.example.home/api/health=bypass`; `*` matches any host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessRule {
    pub host: String,
    pub path_prefix: String,
    pub policy: AccessPolicy,
}

#[derive(Debug, thiserror::Error)]
#[error("access rule {0:?}: write HOST[/PATH]=bypass|signed-in|two-factor")]
pub struct BadAccessRule(String);

impl FromStr for AccessPolicy {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s.trim() {
            "bypass" => Ok(AccessPolicy::Bypass),
            "signed-in" => Ok(AccessPolicy::SignedIn),
            "two-factor" => Ok(AccessPolicy::TwoFactor),
            _ => Err(()),
        }
    }
}

impl FromStr for AccessRule {
    type Err = BadAccessRule;
    fn from_str(s: &str) -> Result<Self, BadAccessRule> {
        let bad = || BadAccessRule(s.to_owned());
        let (target, policy) = s.rsplit_once('=').ok_or_else(bad)?;
        let policy = policy.parse().map_err(|_| bad())?;
        let (host, path) = match target.find('/') {
            Some(i) => (&target[..i], &target[i..]),
            None => (target, "/"),
        };
        if host.is_empty() || host.contains(char::is_whitespace) {
            return Err(bad());
        }
        Ok(AccessRule {
            host: host.to_ascii_lowercase(),
            path_prefix: path.to_owned(),
            policy,
        })
    }
}

impl fmt::Display for AccessRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}={:?}", self.host, self.path_prefix, self.policy)
    }
}

/// What forward-auth answers.
#[derive(Debug, PartialEq, Eq)]
pub enum AccessDecision<'a> {
    Allow(Option<&'a SignedIn>),
    /// Sign in first.
    SignIn,
    /// Signed in, but this needs two-step verification on: set it up first.
    SetUpTwoFactor,
}

#[derive(Debug, Clone, Default)]
pub struct AccessRules {
    pub rules: Vec<AccessRule>,
    /// Every guarded request needs an account with two-step verification on.
    pub require_two_factor: bool,
}

impl AccessRules {
    /// The most specific rule (longest path prefix; a named host over `*`) decides.
    pub fn policy_for(&self, host: &str, path: &str) -> AccessPolicy {
        let host = host.split(':').next().unwrap_or(host).to_ascii_lowercase();
        let default = if self.require_two_factor {
            AccessPolicy::TwoFactor
        } else {
            AccessPolicy::SignedIn
        };
        self.rules
            .iter()
            .filter(|r| (r.host == "*" || r.host == host) && path.starts_with(&r.path_prefix))
            .max_by_key(|r| (r.path_prefix.len(), r.host != "*"))
            .map_or(default, |r| r.policy)
    }

    pub fn decide<'a>(
        &self,
        host: &str,
        path: &str,
        user: Option<&'a SignedIn>,
    ) -> AccessDecision<'a> {
        match (self.policy_for(host, path), user) {
            (AccessPolicy::Bypass, user) => AccessDecision::Allow(user),
            (_, None) => AccessDecision::SignIn,
            (AccessPolicy::TwoFactor, Some(u)) if !u.two_factor => AccessDecision::SetUpTwoFactor,
            (_, Some(u)) => AccessDecision::Allow(Some(u)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(two_factor: bool) -> SignedIn {
        SignedIn {
            user_id: 1,
            email: "a@b.jp".into(),
            is_admin: false,
            two_factor,
            token_hash: [0; 32],
        }
    }

    #[test]
    fn rules_parse_and_the_most_specific_wins() {
        let rules = AccessRules {
            rules: vec![
                "*/health=bypass".parse().unwrap(),
                "cam.example.home=two-factor".parse().unwrap(),
                "cam.example.home/public/=bypass".parse().unwrap(),
            ],
            require_two_factor: false,
        };
        assert_eq!(
            rules.policy_for("cam.example.home:443", "/live"),
            AccessPolicy::TwoFactor
        );
        assert_eq!(
            rules.policy_for("cam.example.home", "/public/x"),
            AccessPolicy::Bypass
        );
        assert_eq!(
            rules.policy_for("other.example.home", "/health"),
            AccessPolicy::Bypass
        );
        assert_eq!(
            rules.policy_for("other.example.home", "/"),
            AccessPolicy::SignedIn
        );
        assert!("cam=everyone".parse::<AccessRule>().is_err());
        assert!("=bypass".parse::<AccessRule>().is_err());
    }

    #[test]
    fn decisions() {
        let plain = user(false);
        let strong = user(true);
        let rules = AccessRules {
            rules: vec!["cam.example.home=two-factor".parse().unwrap()],
            require_two_factor: false,
        };
        assert_eq!(rules.decide("x", "/", None), AccessDecision::SignIn);
        assert_eq!(
            rules.decide("x", "/", Some(&plain)),
            AccessDecision::Allow(Some(&plain))
        );
        assert_eq!(
            rules.decide("cam.example.home", "/", Some(&plain)),
            AccessDecision::SetUpTwoFactor
        );
        assert_eq!(
            rules.decide("cam.example.home", "/", Some(&strong)),
            AccessDecision::Allow(Some(&strong))
        );
        let everyone = AccessRules {
            rules: vec![],
            require_two_factor: true,
        };
        assert_eq!(
            everyone.decide("x", "/", Some(&plain)),
            AccessDecision::SetUpTwoFactor
        );
    }
}
