//! NIST SP 800-63B: length limits, no composition rules.

use super::{AuthError, AuthResult};

pub const MIN_PASSWORD_CHARS: usize = 8;
pub const MAX_PASSWORD_CHARS: usize = 128;

pub(crate) fn check_new_password(password: &str) -> AuthResult<()> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        Err(AuthError::PasswordTooShort)
    } else if chars > MAX_PASSWORD_CHARS {
        Err(AuthError::PasswordTooLong)
    } else {
        Ok(())
    }
}

/// Longer input can never match a stored password; it is refused before any hashing.
pub(crate) fn could_be_a_password(password: &str) -> bool {
    !password.is_empty() && password.chars().count() <= MAX_PASSWORD_CHARS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_characters_not_bytes() {
        assert!(matches!(
            check_new_password("1234567"),
            Err(AuthError::PasswordTooShort)
        ));
        assert!(check_new_password("12345678").is_ok());
        assert!(
            check_new_password("パスワード一二三").is_ok(),
            "8 characters, 24 bytes"
        );
        assert!(check_new_password(&"x".repeat(128)).is_ok());
        assert!(matches!(
            check_new_password(&"x".repeat(129)),
            Err(AuthError::PasswordTooLong)
        ));
        assert!(!could_be_a_password(""));
        assert!(!could_be_a_password(&"x".repeat(129)));
    }
}
