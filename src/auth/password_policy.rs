//! NIST SP 800-63B 5.1.1.2 and OWASP ASVS 2.1: a length range, any characters, compared in
//! NFKC form, and no known-common or guessable password; no composition rules.

use secrecy::{ExposeSecret, SecretString};

use super::{AuthError, AuthResult, AuthService};
use crate::crypto::password::normalised;
use crate::store::{ThrottleRule, UserId};

/// The minimum unless `--min-password-length` says otherwise.
pub const DEFAULT_MIN_PASSWORD_CHARS: usize = 12;
/// The lowest minimum that can be set.
pub const LOWEST_MIN_PASSWORD_CHARS: usize = 8;
pub const MAX_PASSWORD_CHARS: usize = 128;

/// zxcvbn's estimate of the guesses a cracker needs, at the least: 10^8 is where it stops
/// calling a password guessable (its score 3, "safely unguessable", less a margin of a few
/// guesses that would refuse every 8-character password, whatever the characters).
const MIN_GUESSES: u64 = 100_000_000;

/// zxcvbn is given at most this many characters: its time grows steeply with the length
/// (a 128-character run of l33t symbols took a third of a second, 64 of them a tenth), and
/// a password whose first 64 characters are hard to guess is hard to guess.
const JUDGED_CHARS: usize = 64;

/// New passwords one account may have judged in 15 minutes, right or not: judging costs
/// up to a quarter of a second of CPU, and nobody tries twenty in a row.
const JUDGED_PER_ACCOUNT: ThrottleRule = ThrottleRule {
    limit: 20,
    window: 15 * 60,
    lock_for: 15 * 60,
};

impl AuthService {
    /// [`check_new_password`] under this service's policy, on the hashing threads (zxcvbn
    /// can take tens of milliseconds, too long for an async thread) and within their bound.
    /// For an existing account (`account`), counted on it.
    pub(crate) async fn judge_new_password(
        &self,
        password: &SecretString,
        email: &str,
        account: Option<UserId>,
    ) -> AuthResult<()> {
        if let Some(user_id) = account {
            let key = format!("new-password:{user_id}");
            self.count_or_refuse(&key, JUDGED_PER_ACCOUNT).await?;
        }
        let (password, email) = (password.clone(), email.to_owned());
        let min = self.policy.min_password_chars;
        self.hasher
            .run(move || check_new_password(password.expose_secret(), &email, min))
            .await
    }
}

/// A new password for the account `email`: long enough, short enough, and not one that a
/// cracker tries early. Judged on what a person sees: invisible characters (zero-width
/// spaces, variation selectors, controls) and combining marks do not count, so neither
/// `p\u{200B}a\u{200B}s\u{200B}s…` nor accents stacked on a short password pass. The
/// length is the smaller of the typed and the NFKC count (one `ﷺ` is 18 letters in NFKC,
/// and one keystroke); the longest is the NFKC form's, which is what is hashed. zxcvbn knows
/// common passwords, words, names, dates, keyboard walks and sequences, and is told the
/// email address and its parts.
pub(crate) fn check_new_password(password: &str, email: &str, min_chars: usize) -> AuthResult<()> {
    let hashed = normalised(password);
    if hashed.chars().count() > MAX_PASSWORD_CHARS {
        return Err(AuthError::PasswordTooLong);
    }
    // Line breaks, tabs, NUL: no browser's password field can type them again.
    if hashed.chars().any(char::is_control) {
        return Err(AuthError::PasswordControlCharacters);
    }
    let seen = seen_form(&hashed);
    let typed = password.chars().filter(|&c| visible(c)).count();
    if typed.min(seen.chars().count()) < min_chars {
        return Err(AuthError::PasswordTooShort { min: min_chars });
    }
    let local = email.split('@').next().unwrap_or(email);
    let context: Vec<&str> = std::iter::once(email)
        .chain(std::iter::once(local))
        .chain(local.split(['.', '-', '_', '+']).filter(|p| p.len() >= 3))
        .collect();
    let judged: String = seen.chars().take(JUDGED_CHARS).collect();
    if zxcvbn::zxcvbn(&judged, &context).guesses() < MIN_GUESSES {
        return Err(AuthError::PasswordTooCommon);
    }
    Ok(())
}

/// What a person sees of a password: its NFKC form without invisible characters.
fn seen_form(password: &str) -> String {
    normalised(password)
        .chars()
        .filter(|&c| visible(c))
        .collect()
}

/// Whether a new password is the current one as a person sees it (full-width letters,
/// zero-width spaces and other invisible additions make no new password); constant time.
pub(crate) fn same_password(current: &str, new: &str) -> bool {
    use subtle::ConstantTimeEq;
    let (current, new) = (seen_form(current), seen_form(new));
    current.as_bytes().ct_eq(new.as_bytes()).into()
}

/// Not a control, not a combining mark, not a default-ignorable code point (Unicode's
/// DerivedCoreProperties list, which changes seldom).
fn visible(c: char) -> bool {
    const IGNORABLE: &[(u32, u32)] = &[
        (0x00AD, 0x00AD),
        (0x034F, 0x034F),
        (0x061C, 0x061C),
        (0x115F, 0x1160),
        (0x17B4, 0x17B5),
        (0x180B, 0x180F),
        (0x200B, 0x200F),
        (0x202A, 0x202E),
        (0x2060, 0x206F),
        (0x3164, 0x3164),
        (0xFE00, 0xFE0F),
        (0xFEFF, 0xFEFF),
        (0xFFA0, 0xFFA0),
        (0xFFF0, 0xFFF8),
        (0x1BCA0, 0x1BCA3),
        (0x1D173, 0x1D17A),
        (0xE0000, 0xE0FFF),
    ];
    let n = u32::from(c);
    !c.is_control()
        && !unicode_normalization::char::is_combining_mark(c)
        && !IGNORABLE.iter().any(|&(lo, hi)| (lo..=hi).contains(&n))
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
        // "㍻" is one keystroke, "平成" (two characters) in NFKC: it counts as one.
        assert!(matches!(
            check_new_password("㍻", EMAIL, 2),
            Err(AuthError::PasswordTooShort { min: 2 })
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
    fn the_same_password_is_the_same_however_it_is_typed() {
        let current = "correct horse battery";
        assert!(same_password(current, "ｃｏｒｒｅｃｔ horse battery"));
        assert!(same_password(
            current,
            "correct\u{200B} horse battery\u{FE0F}"
        ));
        assert!(!same_password(current, "correct horse battery!"));
        assert!(!same_password(current, "correct horse batter"));
    }

    #[test]
    fn control_characters_are_refused() {
        for password in [
            "violet harbour\nlantern 42",
            "violet harbour\tlantern 42",
            "violet harbour lantern 42\0",
            "\u{7F}violet harbour lantern 42",
        ] {
            assert!(
                matches!(check(password), Err(AuthError::PasswordControlCharacters)),
                "{password:?}"
            );
        }
    }

    #[test]
    fn only_the_first_64_characters_are_judged() {
        let strong = "violet harbour lantern 42";
        assert!(check(strong).is_ok());
        // zxcvbn would call the whole strong (a run of one letter, then the strong part),
        // but it sees only the run.
        let late = format!("{}{strong}", "a".repeat(JUDGED_CHARS));
        assert!(matches!(check(&late), Err(AuthError::PasswordTooCommon)));
        let early = format!("{strong}{}", "a".repeat(JUDGED_CHARS));
        assert!(check(&early).is_ok());
    }

    #[test]
    fn invisible_characters_and_marks_do_not_make_a_password() {
        let zwsp: String = "password1234"
            .chars()
            .flat_map(|c| [c, '\u{200B}'])
            .collect();
        let selectors: String = "password1234"
            .chars()
            .flat_map(|c| [c, '\u{FE0F}'])
            .collect();
        for weak in [zwsp.as_str(), selectors.as_str()] {
            assert!(
                matches!(check(weak), Err(AuthError::PasswordTooCommon)),
                "{weak:?}"
            );
        }
        let accents = format!("kz8#Qw2!mv4{}", "\u{0301}".repeat(6));
        assert!(matches!(
            check(&accents),
            Err(AuthError::PasswordTooShort { min: 12 })
        ));
        // One keystroke that NFKC makes 18 letters.
        assert!(matches!(
            check("\u{FDFA}"),
            Err(AuthError::PasswordTooShort { min: 12 })
        ));
        // Letters made of a base and a combining mark are one letter each, in either form.
        assert!(check("ぶどうがだいすきなぞうさん").is_ok());
        let decomposed: String =
            unicode_normalization::UnicodeNormalization::nfd("ぶどうがだいすきなぞうさん")
                .collect();
        assert!(check(&decomposed).is_ok());
    }

    #[test]
    fn the_minimum_can_be_lowered_to_eight_at_most() {
        assert!(check_new_password("kz8#Qw2!", EMAIL, LOWEST_MIN_PASSWORD_CHARS).is_ok());
    }
}
