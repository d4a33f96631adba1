//! Cryptographic building blocks. Nothing here knows about HTTP or SQL.

pub mod key;
pub mod password;
pub mod seal;
pub mod token;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

pub use key::{KEY_FILE_NAME, KeyError, ServerKey};
pub use password::PasswordHasher;
pub use seal::{SealError, Sealer};
pub use token::{TokenHash, new_token, token_hash};

/// HMAC-SHA256 of `data` under `key`.
pub fn keyed_hash(key: &[u8; 32], data: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// Compares two secrets without leaking where they differ.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_hash_matches_rfc4231_case_2() {
        // RFC 4231 test case 2 uses a short key; pad to our 32-byte API by checking via Mac directly.
        let mut mac = Hmac::<Sha256>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        let expected: [u8; 32] = mac.finalize().into_bytes().into();
        assert_eq!(
            expected[..4],
            [0x5b, 0xdc, 0xc1, 0x46],
            "RFC 4231 vector prefix"
        );
        let key = [7u8; 32];
        assert_ne!(keyed_hash(&key, b"a"), keyed_hash(&key, b"b"));
        assert_eq!(keyed_hash(&key, b"a"), keyed_hash(&key, b"a"));
    }

    #[test]
    fn ct_eq_compares_content_and_length() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"abcd"));
    }
}
