//! The one-time-password core: pure functions, no I/O, no clock (time is an argument).

pub mod backup_codes;
pub mod hotp;
pub mod totp;
pub mod uri;

use data_encoding::BASE32_NOPAD;

/// RFC 6238 / Google Authenticator: 160-bit secrets.
pub const SECRET_BYTES: usize = 20;

/// The secret as people type it into an app: base32, upper case, no padding.
pub fn secret_to_base32(secret: &[u8]) -> String {
    BASE32_NOPAD.encode(secret)
}

/// The base32 key in groups of 4 for reading aloud or typing.
pub fn group_by_four(base32: &str) -> String {
    base32
        .as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).unwrap_or_default())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Reads a key typed by a person (any case, spaces allowed).
pub fn secret_from_base32(text: &str) -> Option<Vec<u8>> {
    let cleaned: String = text
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    BASE32_NOPAD
        .decode(cleaned.trim_end_matches('=').as_bytes())
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_round_trip_and_grouping() {
        let secret = b"12345678901234567890";
        let text = secret_to_base32(secret);
        assert_eq!(text, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        assert_eq!(
            group_by_four(&text),
            "GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ"
        );
        assert_eq!(
            secret_from_base32("gezd gnbv gy3t qojq gezd gnbv gy3t qojq").unwrap(),
            secret
        );
        assert_eq!(secret_from_base32("not base32!"), None);
    }
}
