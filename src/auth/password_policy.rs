//! NIST SP 800-63B 5.1.1.2 and OWASP ASVS 2.1: a length range, any characters, compared in
//! NFKC form, and no known-common or guessable password; no composition rules.

use super::{AuthError, AuthResult};
use crate::crypto::password::normalised;

/// The minimum unless `--min-password-length` says otherwise.
pub const DEFAULT_MIN_PASSWORD_CHARS: usize = 12;
/// The lowest minimum that can be set.
pub const LOWEST_MIN_PASSWORD_CHARS: usize = 8;
pub const MAX_PASSWORD_CHARS: usize = 128;

/// zxcvbn's estimate of the guesses a cracker needs, at the least: 10^8 is where it stops
/// calling a password guessable (its score 3, "safely unguessable", less a margin of a few
/// guesses that would refuse every 8-character password, whatever the characters).
const MIN_GUESSES: u64 = 100_000_000;

/// A new password for the account `email`: long enough, short enough (both in characters of
/// its NFKC form, which is what is hashed), and not one that a cracker tries early. zxcvbn
/// knows common passwords, words, names, dates, keyboard walks and sequences, and is told
/// the email address and its parts.
pub(crate) fn check_new_password(password: &str, email: &str, min_chars: usize) -> AuthResult<()> {
    let password = normalised(password);
    let chars = password.chars().count();
    if chars < min_chars {
        return Err(AuthError::PasswordTooShort { min: min_chars });
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(AuthError::PasswordTooLong);
    }
    let local = email.split('@').next().unwrap_or(email);
    let context: Vec<&str> = std::iter::once(email)
        .chain(std::iter::once(local))
        .chain(local.split(['.', '-', '_', '+']).filter(|p| p.len() >= 3))
        .collect();
    if zxcvbn::zxcvbn(&password, &context).guesses() < MIN_GUESSES {
        return Err(AuthError::PasswordTooCommon);
    }
    Ok(())
}

/// Longer input can never match a stored password; it is refused before any hashing.
pub(crate) fn could_be_a_password(password: &str) -> bool {
    !password.is_empty() && password.chars().count() <= MAX_PASSWORD_CHARS
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMAIL: &str = "taro.yamada@example.jp";

    fn check(password: &str) -> AuthResult<()> {
        check_new_password(password, EMAIL, DEFAULT_MIN_PASSWORD_CHARS)
    }

    #[test]
    fn counts_characters_of_the_normalised_form_not_bytes() {
        assert!(matches!(
            check("kz8#Qw2!mv4"),
            Err(AuthError::PasswordTooShort { min: 12 })
        ));
        assert!(check("kz8#Qw2!mv4T").is_ok());
        assert!(
            check("しずかな夜に猫が三匹あるく").is_ok(),
            "13 characters, 39 bytes"
        );
        // "㍻" (one character) is "平成" (two) in NFKC.
        assert!(matches!(
            check_new_password("㍻", EMAIL, 2),
            Err(AuthError::PasswordTooCommon)
        ));
        assert!(matches!(
            check_new_password("㍻", EMAIL, 3),
            Err(AuthError::PasswordTooShort { min: 3 })
        ));
        let long: String = "kz8#Qw2!".chars().cycle().take(128).collect();
        assert!(check(&long).is_ok());
        assert!(matches!(
            check(&format!("{long}x")),
            Err(AuthError::PasswordTooLong)
        ));
        assert!(!could_be_a_password(""));
        assert!(!could_be_a_password(&"x".repeat(129)));
    }

    #[test]
    fn common_and_guessable_passwords_are_refused() {
        for weak in [
            "password1234",
            "123456789012",
            "qwertyuiopasdf",
            "aaaaaaaaaaaaaa",
            "iloveyou2026!",
            // The account's own address, or its name, with a little added.
            "taro.yamada@example.jp",
            "taro.yamada1",
        ] {
            assert!(
                matches!(check(weak), Err(AuthError::PasswordTooCommon)),
                "{weak:?} was accepted"
            );
        }
        for strong in [
            "correct horse battery",
            "sekai-no-owari-1999",
            "Tr0ub4dour&3xyz",
        ] {
            assert!(check(strong).is_ok(), "{strong:?} was refused");
        }
    }

    #[test]
    fn the_minimum_can_be_lowered_to_eight_at_most() {
        assert!(check_new_password("kz8#Qw2!", EMAIL, LOWEST_MIN_PASSWORD_CHARS).is_ok());
    }
}
