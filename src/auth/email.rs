use unicode_normalization::UnicodeNormalization;
use unicode_security::{RestrictionLevel, RestrictionLevelDetection};

use super::{AuthError, AuthResult};

/// RFC 5321's limit on a forward path.
const MAX_EMAIL_LEN: usize = 254;
const MAX_LOCAL_LEN: usize = 64;

/// Trims, folds compatibility forms (NFKC: full-width `ｔａｒｏ` is `taro`) and case, then
/// checks the shape `local@domain` (no quoting, no spaces). Addresses that only look like
/// another are refused rather than made a second account: invisible characters (zero-width
/// space, bidi controls) and mixed scripts within the local part or the domain (a Cyrillic
/// `а` among Latin letters; Latin with Japanese, as UTS #39 "highly restrictive" allows, is fine).
pub fn normalise_email(input: &str) -> AuthResult<String> {
    // Normalised again after the case fold: `İ` lowers to `i` and a combining dot.
    let email: String = input
        .trim()
        .nfkc()
        .collect::<String>()
        .to_lowercase()
        .nfkc()
        .collect();
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
    if looks_like_another(local) || looks_like_another(domain) {
        return Err(AuthError::EmailLookAlike(truncate_for_message(input)));
    }
    // Letters (of any script), digits, hyphens and dots: what a host name may hold. This
    // also keeps `#`, the separator of an account's throttle keys, out of what follows `@`.
    if !domain
        .chars()
        .all(|c| c.is_alphanumeric() || c == '-' || c == '.')
    {
        return Err(invalid());
    }
    Ok(email)
}

/// Characters no identifier may hold, letters not of one script family, or non-Latin
/// letters that all look like Latin ones (Cyrillic `а` alone for `a`: UTS #39's skeleton).
fn looks_like_another(part: &str) -> bool {
    let letters: String = part.chars().filter(|c| !c.is_ascii_punctuation()).collect();
    if letters.is_ascii() {
        return false;
    }
    // A mark on an ASCII letter that has no composed form (`i` and a combining dot) reads
    // as the bare letter.
    let chars: Vec<char> = part.chars().collect();
    if chars
        .windows(2)
        .any(|w| w[0].is_ascii() && unicode_normalization::char::is_combining_mark(w[1]))
    {
        return true;
    }
    !letters.check_restriction_level(RestrictionLevel::HighlyRestrictive)
        || unicode_security::skeleton(&letters).all(|c| c.is_ascii())
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
    fn look_alikes_are_one_account_or_refused() {
        // Full-width forms are the same address.
        assert_eq!(
            normalise_email("ｔａｒｏ＠ｅｘａｍｐｌｅ．ｊｐ").unwrap(),
            "taro@example.jp"
        );
        for look_alike in [
            "\u{430}dmin@example.jp",   // Cyrillic a among Latin letters
            "admin@ex\u{430}mple.jp",   // in the domain
            "ad\u{200b}min@example.jp", // zero-width space
            "admin\u{202e}@example.jp", // right-to-left override
            "admin@example\u{2060}.jp", // word joiner
            "adm\u{130}n@example.jp",   // dotted capital I: lowers to i and a combining dot
            "admi\u{307}n@example.jp",  // i and a combining dot
            "p\u{430}yp\u{430}l@example.jp",
            "\u{430}@example.jp", // wholly Cyrillic, yet reads as Latin
            "admin@\u{430}\u{440}\u{440}\u{4cf}\u{435}.jp",
        ] {
            assert!(
                matches!(
                    normalise_email(look_alike),
                    Err(AuthError::EmailLookAlike(_))
                ),
                "{look_alike:?} accepted"
            );
        }
        // One script, or Latin with Japanese, is a real address.
        for fine in [
            "山田@example.jp",
            "yamada.太郎@example.jp",
            "алиса@пример.рф",
            "a.b+c_d@x-y.jp",
        ] {
            assert!(normalise_email(fine).is_ok(), "{fine} refused");
        }
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
            // What follows the `@` is a host name: `#` would extend another account's
            // throttle keys (`email:c@example.jp#…`), and a reset clears those.
            "c@example.jp#y",
            "c@example.jp#device:00",
            "a@exa_mple.jp",
            "a@example.jp/x",
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
