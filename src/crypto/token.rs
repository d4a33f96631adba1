//! Bearer tokens (session cookies, setup links): 256 random bits; only a hash is stored.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};

/// SHA-256 of a token: what the database keeps instead of the token.
pub type TokenHash = [u8; 32];

/// A fresh token (URL-safe text) and its hash.
pub fn new_token() -> (String, TokenHash) {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let hash = token_hash(&token);
    (token, hash)
}

pub fn token_hash(token: &str) -> TokenHash {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_43_chars_and_hash_to_their_digest() {
        let (a, ha) = new_token();
        let (b, _) = new_token();
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        assert_eq!(ha, token_hash(&a));
        assert_ne!(token_hash(&a), token_hash(&b));
    }
}
