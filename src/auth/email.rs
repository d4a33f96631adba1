use super::{AuthError, AuthResult};

/// RFC 5321's limit on a forward path.
const MAX_EMAIL_LEN: usize = 254;
const MAX_LOCAL_LEN: usize = 64;

/// Trims and lowercases, then checks the shape `local@domain` (no quoting, no spaces).
pub fn normalise_email(input: &str) -> AuthResult<String> {
    let email = input.trim().to_lowercase();
    let invalid = || AuthError::InvalidEmail(truncate_for_message(input));
    if email.len() > MAX_EMAIL_LEN {
        return Err(invalid());
    }
    let (local, domain) = email.split_once('@').ok_or_else(invalid)?;
    let bad_char = |c: char| c.is_whitespace() || c.is_control() || "@<>()[]\\,;:\"".contains(c);
    let domain_ok = !domain.is_empty()
        && !domain.starts_with(['.', '-'])
        && !domain.ends_with(['.', '-'])
        && !domain.contains("..");
    if local.is_empty()
        || local.len() > MAX_LOCAL_LEN
        || local.chars().any(bad_char)
        || !domain_ok
        || domain.chars().any(bad_char)
    {
        return Err(invalid());
    }
    Ok(email)
}

fn truncate_for_message(input: &str) -> String {
    input.trim().chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_lowercases() {
        assert_eq!(
            normalise_email("  Taro@Example.JP ").unwrap(),
            "taro@example.jp"
        );
        assert_eq!(normalise_email("a+b@localhost").unwrap(), "a+b@localhost");
    }

    #[test]
    fn rejects_malformed_addresses() {
        for bad in [
            "",
            "taro",
            "@example.jp",
            "taro@",
            "ta ro@example.jp",
            "a@b@c",
            "a@.example.jp",
            "a@example..jp",
            "a@example.jp.",
            "<a>@example.jp",
            "a@exa\nmple.jp",
        ] {
            assert!(
                matches!(normalise_email(bad), Err(AuthError::InvalidEmail(_))),
                "{bad:?} accepted"
            );
        }
        let long = format!("{}@example.jp", "a".repeat(65));
        assert!(normalise_email(&long).is_err());
        let huge = format!("a@{}.jp", "b".repeat(260));
        assert!(normalise_email(&huge).is_err());
    }
}
