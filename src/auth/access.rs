//! Who may pass the guard (forward-auth and the built-in proxy), per host and path prefix.

use std::fmt;
use std::str::FromStr;

use super::SignedIn;
use super::target::{NormalPath, Reading, Target, normalise_host};

/// Ordered from the loosest to the strictest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AccessPolicy {
    /// Anyone, signed in or not (e.g. a health check of the guarded app).
    Bypass,
    /// A full sign-in: password, and the second step where the account has it on.
    SignedIn,
    /// A full sign-in by an account that has two-step verification on.
    TwoStep,
}

/// `HOST[/PATH-PREFIX]=POLICY`, e.g. `cam.example.home/api/health=bypass`; `*` matches any host.
/// The prefix matches whole path segments: `/public` covers `/public/x`, not `/publicity`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessRule {
    /// Normalised like a request's host, or `*`.
    pub host: String,
    pub path_prefix: NormalPath,
    pub policy: AccessPolicy,
}

#[derive(Debug, thiserror::Error)]
#[error("access rule {0:?}: write HOST[/PATH]=bypass|signed-in|two-step")]
pub struct BadAccessRule(String);

impl FromStr for AccessPolicy {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s.trim() {
            "bypass" => Ok(AccessPolicy::Bypass),
            "signed-in" => Ok(AccessPolicy::SignedIn),
            // `two-factor`: the name before the code took the manual's word; still read.
            "two-step" | "two-factor" => Ok(AccessPolicy::TwoStep),
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
        let host = if host == "*" {
            host.to_owned()
        } else {
            normalise_host(host).map_err(|_| bad())?
        };
        Ok(AccessRule {
            host,
            path_prefix: NormalPath::parse(path).map_err(|_| bad())?,
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
    SetUpTwoStep,
}

#[derive(Debug, Clone, Default)]
pub struct AccessRules {
    pub rules: Vec<AccessRule>,
    /// Every guarded request needs an account with two-step verification on.
    pub require_two_step: bool,
}

impl AccessRules {
    /// The most specific rule (most path segments; a named host over `*`) decides. How the
    /// guarded app reads a path (does `/Admin` mean `/admin`? `/admin;x=1` too?) is unknown
    /// here, so the path is matched under every reading and the strictest answer wins.
    pub fn policy_for(&self, target: &Target) -> AccessPolicy {
        Reading::ALL
            .into_iter()
            .map(|reading| self.policy_matching(target, reading))
            .max()
            .unwrap_or(AccessPolicy::TwoStep)
    }

    fn policy_matching(&self, target: &Target, reading: Reading) -> AccessPolicy {
        let default = if self.require_two_step {
            AccessPolicy::TwoStep
        } else {
            AccessPolicy::SignedIn
        };
        self.rules
            .iter()
            .filter(|r| {
                (r.host == "*" || r.host == target.host)
                    && target.path.starts_with(&r.path_prefix, reading)
            })
            .max_by_key(|r| (r.path_prefix.segments().len(), r.host != "*", r.policy))
            .map_or(default, |r| r.policy)
    }

    pub fn decide<'a>(&self, target: &Target, user: Option<&'a SignedIn>) -> AccessDecision<'a> {
        match (self.policy_for(target), user) {
            (AccessPolicy::Bypass, user) => AccessDecision::Allow(user),
            (_, None) => AccessDecision::SignIn,
            (AccessPolicy::TwoStep, Some(u)) if !u.two_step => AccessDecision::SetUpTwoStep,
            (_, Some(u)) => AccessDecision::Allow(Some(u)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    #[test]
    fn two_step_has_its_earlier_name_as_well() {
        for name in ["two-step", "two-factor"] {
            assert_eq!(AccessPolicy::from_str(name), Ok(AccessPolicy::TwoStep));
        }
        assert_eq!(AccessPolicy::from_str("two_step"), Err(()));
    }

    use super::*;

    fn user(two_step: bool) -> SignedIn {
        SignedIn {
            user_id: 1,
            email: "a@b.jp".into(),
            is_admin: false,
            two_step,
            token_hash: [0; 32],
        }
    }

    fn at(host: &str, path: &str) -> Target {
        Target::new(host, path).unwrap()
    }

    #[test]
    fn rules_parse_and_the_most_specific_wins() {
        let rules = AccessRules {
            rules: vec![
                "*/health=bypass".parse().unwrap(),
                "cam.example.home=two-step".parse().unwrap(),
                "cam.example.home/public/=bypass".parse().unwrap(),
            ],
            require_two_step: false,
        };
        let policy = |host, path| rules.policy_for(&at(host, path));
        assert_eq!(
            policy("cam.example.home:443", "/live"),
            AccessPolicy::TwoStep
        );
        assert_eq!(
            policy("cam.example.home", "/public/x"),
            AccessPolicy::Bypass
        );
        assert_eq!(
            policy("other.example.home", "/health"),
            AccessPolicy::Bypass
        );
        assert_eq!(policy("other.example.home", "/"), AccessPolicy::SignedIn);
        assert!("cam=everyone".parse::<AccessRule>().is_err());
        assert!("=bypass".parse::<AccessRule>().is_err());
        assert!(
            "cam.example.home/a/../..=bypass"
                .parse::<AccessRule>()
                .is_err()
        );
    }

    #[test]
    fn prefixes_are_whole_segments_and_hosts_are_normalised() {
        let rules = AccessRules {
            rules: vec![
                "*/public=bypass".parse().unwrap(),
                "CAM.example.home./admin=two-step".parse().unwrap(),
            ],
            require_two_step: false,
        };
        let policy = |host, path| rules.policy_for(&at(host, path));
        assert_eq!(policy("x", "/public"), AccessPolicy::Bypass);
        assert_eq!(policy("x", "/public/a"), AccessPolicy::Bypass);
        assert_eq!(policy("x", "/publicity.txt"), AccessPolicy::SignedIn);
        assert_eq!(policy("x", "/public/../admin"), AccessPolicy::SignedIn);
        for path in [
            "/admin",
            "/Admin",
            "//admin",
            "/%61dmin",
            "/./admin",
            "/ADMIN/x",
            "/admin;jsessionid=1/x",
        ] {
            assert_eq!(
                policy("cam.example.home", path),
                AccessPolicy::TwoStep,
                "{path}"
            );
            assert_eq!(
                policy("cam.example.home.", path),
                AccessPolicy::TwoStep,
                "{path}"
            );
        }
        // A bypass rule's case-folded reading never loosens a stricter exact one.
        let mixed = AccessRules {
            rules: vec![
                "*=bypass".parse().unwrap(),
                "*/Private=two-step".parse().unwrap(),
            ],
            require_two_step: false,
        };
        assert_eq!(
            mixed.policy_for(&at("x", "/private")),
            AccessPolicy::TwoStep
        );
        assert_eq!(
            mixed.policy_for(&at("x", "/Private")),
            AccessPolicy::TwoStep
        );
    }

    #[test]
    fn decisions() {
        let plain = user(false);
        let strong = user(true);
        let rules = AccessRules {
            rules: vec!["cam.example.home=two-step".parse().unwrap()],
            require_two_step: false,
        };
        let x = at("x", "/");
        let cam = at("cam.example.home", "/");
        assert_eq!(rules.decide(&x, None), AccessDecision::SignIn);
        assert_eq!(
            rules.decide(&x, Some(&plain)),
            AccessDecision::Allow(Some(&plain))
        );
        assert_eq!(
            rules.decide(&cam, Some(&plain)),
            AccessDecision::SetUpTwoStep
        );
        assert_eq!(
            rules.decide(&cam, Some(&strong)),
            AccessDecision::Allow(Some(&strong))
        );
        let everyone = AccessRules {
            rules: vec![],
            require_two_step: true,
        };
        assert_eq!(
            everyone.decide(&x, Some(&plain)),
            AccessDecision::SetUpTwoStep
        );
    }
}
