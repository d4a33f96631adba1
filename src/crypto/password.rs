//! Password hashing with argon2id at OWASP's parameters, off the async threads and bounded.

use std::sync::Arc;

use argon2::password_hash::{PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, PasswordVerifier as _, Version};
use rand::rngs::OsRng;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Semaphore;

/// m = 19 MiB, t = 2, p = 1 (OWASP Password Storage Cheat Sheet).
const MEMORY_KIB: u32 = 19_456;
const ITERATIONS: u32 = 2;
const PARALLELISM: u32 = 1;

fn argon2() -> Argon2<'static> {
    let params = Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None).expect("valid params");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes and verifies passwords. At most one hash per core runs at a time, so a
/// burst of sign-ins costs bounded memory and leaves the async threads free.
#[derive(Clone)]
pub struct PasswordHasher {
    permits: Arc<Semaphore>,
    /// Verified against when the account is unknown, so both cases cost the same.
    dummy_hash: Arc<str>,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher").finish_non_exhaustive()
    }
}

impl PasswordHasher {
    pub fn new() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let dummy =
            hash_blocking("nidan dummy password, never valid").expect("argon2id hashing works");
        Self {
            permits: Arc::new(Semaphore::new(cores)),
            dummy_hash: dummy.into(),
        }
    }

    pub async fn hash(&self, password: &SecretString) -> String {
        let password = password.clone();
        self.run(move || hash_blocking(password.expose_secret()))
            .await
            .expect("argon2id hashing of a bounded password cannot fail")
    }

    /// `stored` is `None` for an unknown account: the dummy hash is checked instead
    /// and the answer is always `false`.
    #[tracing::instrument(skip_all)]
    pub async fn verify(&self, stored: Option<&str>, password: &SecretString) -> bool {
        let known = stored.is_some();
        let hash = stored.map_or_else(|| self.dummy_hash.to_string(), str::to_owned);
        let password = password.clone();
        let ok = self
            .run(move || verify_blocking(&hash, password.expose_secret()))
            .await;
        known && ok
    }

    async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> T {
        let _permit = self
            .permits
            .acquire()
            .await
            .expect("semaphore is never closed");
        tokio::task::spawn_blocking(work)
            .await
            .expect("hashing task does not panic")
    }
}

impl Default for PasswordHasher {
    fn default() -> Self {
        Self::new()
    }
}

fn hash_blocking(password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(argon2()
        .hash_password(password.as_bytes(), &salt)?
        .to_string())
}

fn verify_blocking(hash: &str, password: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => argon2()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    #[tokio::test]
    async fn hashes_with_owasp_parameters_and_verifies() {
        let hasher = PasswordHasher::new();
        let hash = hasher.hash(&secret("correct horse")).await;
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(hasher.verify(Some(&hash), &secret("correct horse")).await);
        assert!(!hasher.verify(Some(&hash), &secret("correct horsE")).await);
        assert!(!hasher.verify(Some("not a phc string"), &secret("x")).await);
    }

    #[tokio::test]
    async fn unknown_account_never_verifies_even_with_the_dummy_password() {
        let hasher = PasswordHasher::new();
        assert!(
            !hasher
                .verify(None, &secret("nidan dummy password, never valid"))
                .await
        );
    }
}
