//! AES-256-GCM sealing of secrets at rest (TOTP secrets). The associated data binds a
//! sealed value to its owner, so a row copied to another account does not open.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use rand::RngCore;
use rand::rngs::OsRng;

const NONCE_BYTES: usize = 12;

#[derive(Debug, thiserror::Error)]
#[error("a sealed secret could not be opened (wrong key, owner or damaged data)")]
pub struct SealError;

pub struct Sealer(Aes256Gcm);

impl Sealer {
    pub fn new(key: &[u8; 32]) -> Self {
        Self(Aes256Gcm::new(key.into()))
    }

    /// nonce ‖ ciphertext ‖ tag, with a fresh random nonce.
    pub fn seal(&self, plaintext: &[u8], owner: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_BYTES];
        OsRng.fill_bytes(&mut nonce);
        let sealed = self
            .0
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: owner,
                },
            )
            .expect("AES-GCM encryption of a short secret cannot fail");
        [nonce.as_slice(), &sealed].concat()
    }

    pub fn open(&self, sealed: &[u8], owner: &[u8]) -> Result<Vec<u8>, SealError> {
        if sealed.len() < NONCE_BYTES {
            return Err(SealError);
        }
        let (nonce, body) = sealed.split_at(NONCE_BYTES);
        self.0
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: body,
                    aad: owner,
                },
            )
            .map_err(|_| SealError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_only_with_the_same_key_and_owner() {
        let sealer = Sealer::new(&[1u8; 32]);
        let sealed = sealer.seal(b"totp secret", b"user:1");
        assert_ne!(&sealed[NONCE_BYTES..], b"totp secret");
        assert_eq!(sealer.open(&sealed, b"user:1").unwrap(), b"totp secret");
        assert!(sealer.open(&sealed, b"user:2").is_err());
        assert!(Sealer::new(&[2u8; 32]).open(&sealed, b"user:1").is_err());
        let mut damaged = sealed.clone();
        *damaged.last_mut().unwrap() ^= 1;
        assert!(sealer.open(&damaged, b"user:1").is_err());
        assert!(sealer.open(&sealed[..5], b"user:1").is_err());
        assert_ne!(
            sealed,
            sealer.seal(b"totp secret", b"user:1"),
            "fresh nonce"
        );
    }
}
